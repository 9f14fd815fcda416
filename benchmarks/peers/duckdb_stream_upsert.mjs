// The stream benchmark's peer: DuckDB fed the same clicks in micro-batches, each appended to a
// staging table with an appender and upserted into a keyed count table (window start, url) -> n
// with INSERT ... ON CONFLICT DO UPDATE, as an application would keep a live count in it.
// Prints one JSON line: events, seconds, events_per_second, and the counted total as a check.
//
// Usage: node duckdb_stream_upsert.mjs CLICKS_FILE BATCH_EVENTS THREADS
// (@duckdb/node-api from the npm registry, installed by benchmarks/stream_peer.sh)
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';

const [file, batchArg, threadsArg] = process.argv.slice(2);
if (!file || !batchArg || !threadsArg) {
  console.error('usage: node duckdb_stream_upsert.mjs CLICKS_FILE BATCH_EVENTS THREADS');
  process.exit(2);
}
const batch = Number(batchArg);
const instance = await DuckDBInstance.create(':memory:', { threads: threadsArg });
const con = await instance.connect();
await con.run('CREATE TABLE staging (ms BIGINT, url VARCHAR)');
await con.run('CREATE TABLE counts (win BIGINT, url VARCHAR, n BIGINT, PRIMARY KEY (win, url))');
const text = readFileSync(file, 'latin1');

const begin = process.hrtime.bigint();
let appender = await con.createAppender('staging');
let inBatch = 0;
let events = 0;
async function upsert() {
  appender.closeSync();
  await con.run(`INSERT INTO counts
                   SELECT ms // 60000 * 60000 AS win, url, count(*) AS n FROM staging GROUP BY ALL
                 ON CONFLICT (win, url) DO UPDATE SET n = n + excluded.n`);
  await con.run('DELETE FROM staging');
  appender = await con.createAppender('staging');
  inBatch = 0;
}
for (let at = 0; at < text.length;) {
  let nl = text.indexOf('\n', at);
  if (nl < 0) nl = text.length;
  const a = text.indexOf(' ', at);
  const b = text.indexOf(' ', a + 1);
  appender.appendBigInt(BigInt(text.slice(at, a)));
  appender.appendVarchar(text.slice(b + 1, nl));
  appender.endRow();
  at = nl + 1;
  ++events;
  if (++inBatch === batch) await upsert();
}
await upsert();
const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
const total = (await con.runAndReadAll('SELECT sum(n)::BIGINT FROM counts')).getRowsJS()[0][0];
console.log(JSON.stringify({ events, seconds, events_per_second: events / seconds, counted: Number(total) }));
