// The example tools' peer: the same workloads as SQL in DuckDB, reading the same files and
// writing the same results to a file, as a user would run them.
//
//   word_count TEXT OUT     the 10 most frequent words (count, word), ties by word
//   group_sum CSV OUT       key, sum, count of a `key,value` CSV with a header, by key; the
//                           values as DECIMAL(18, 2), exact for the generated cents and
//                           DuckDB's fastest exact type for them (DECIMAL(38, 18), our
//                           tool's 18 fractional digits, runs 25 times slower)
//   sort_lines LINES OUT    the lines in byte order
//
// Usage: node duckdb_tools.mjs WORKLOAD INPUT OUTPUT THREADS [MEMORY_LIMIT [TEMP_DIR]]
// Prints one JSON line to standard error: the workload and the rows written. (@duckdb/node-api from the npm
// registry, installed by benchmarks/tools_peer.sh)
import { DuckDBInstance } from '@duckdb/node-api';

const [workload, input, output, threads, memoryLimit, tempDir] = process.argv.slice(2);
if (!workload || !input || !output || !threads) {
  console.error('usage: node duckdb_tools.mjs WORKLOAD INPUT OUTPUT THREADS [MEMORY_LIMIT [TEMP_DIR]]');
  process.exit(2);
}
const options = { threads };
if (memoryLimit) options.memory_limit = memoryLimit;
if (tempDir) options.temp_directory = tempDir;
const instance = await DuckDBInstance.create(':memory:', options);
const con = await instance.connect();
const quote = (s) => `'${s.replaceAll("'", "''")}'`;
// Whole lines as one VARCHAR column: no delimiter, quote or escape that could split them.
const lines = (path) =>
  `read_csv(${quote(path)}, columns = {'line': 'VARCHAR'}, header = false, delim = '\u0001', quote = '',
            escape = '', auto_detect = false)`;
const plain = `(HEADER false, QUOTE '', ESCAPE '', DELIMITER '\t')`;
const queries = {
  word_count: `COPY (SELECT count(*) AS n, word FROM
                       (SELECT unnest(string_split(line, ' ')) AS word FROM ${lines(input)})
                     WHERE word <> '' GROUP BY word ORDER BY n DESC, word LIMIT 10)
               TO ${quote(output)} ${plain}`,
  group_sum: `COPY (SELECT key, sum(value) AS sum, count(*) AS count
                    FROM read_csv(${quote(input)}, header = true, auto_detect = false,
                                  columns = {'key': 'BIGINT', 'value': 'DECIMAL(18, 2)'})
                    GROUP BY key ORDER BY key)
              TO ${quote(output)} (HEADER false, DELIMITER ',')`,
  sort_lines: `COPY (SELECT line FROM ${lines(input)} ORDER BY line) TO ${quote(output)} ${plain}`,
};
if (!(workload in queries)) {
  console.error(`duckdb_tools: no workload ${workload}; one of ${Object.keys(queries).join(', ')}`);
  process.exit(2);
}
const result = await con.runAndReadAll(queries[workload]);
console.error(JSON.stringify({ workload, rows: Number(result.getRowsJS()[0]?.[0] ?? 0) }));
