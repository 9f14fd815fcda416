#!/usr/bin/env bash
# The speed layer side by side with DuckDB (@duckdb/node-api from the npm registry) on the same
# clicks in micro-batches of 100,000 events: ours counts them per URL per minute of event time
# in a stream (stream_bench's clicks_per_minute/stream_batch_100k); DuckDB appends each batch to
# a staging table and upserts it into a keyed count table (benchmarks/peers/). Three rounds,
# interleaved; prints the median events/s and peak RSS of each, at 2 threads (2 cores: 2x is the
# ceiling of any parallel speedup here). Without npm it says so and skips the peer.
#
# Usage: bash benchmarks/stream_peer.sh [BUILD_DIR]   (default build/main, as cmake/main.sh makes it)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/main}
events=${DATAFLOW_BENCH_STREAM_EVENTS:-5000000}
export DATAFLOW_BENCH_DIR=${DATAFLOW_BENCH_DIR:-$PWD/$build/bench-data}
mkdir -p "$DATAFLOW_BENCH_DIR"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "stream_peer: npm (Node.js) not found: DuckDB not compared"
  exit 0
fi
peers="$build/peers"
if [ ! -d "$peers/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$peers"
  if ! npm install --prefix "$peers" @duckdb/node-api >/dev/null 2>&1; then
    echo "stream_peer: cannot install @duckdb/node-api from the npm registry: DuckDB not compared"
    exit 0
  fi
fi
cp benchmarks/peers/duckdb_stream_upsert.mjs "$peers/"
clicks="$DATAFLOW_BENCH_DIR/clicks-$events.log"
if [ ! -f "$clicks" ]; then  # the same file stream_bench makes
  "$build/examples/clickstream" generate --total "$events" --rate 0 --seed 7 "$clicks.part"
  mv "$clicks.part" "$clicks"
fi
cat "$clicks" > /dev/null  # warm

ours=() theirs=() ours_rss=() theirs_rss=()
for round in 1 2 3; do
  DATAFLOW_BENCH_STREAM_EVENTS=$events "$build/benchmarks/stream_bench" \
    --benchmark_filter='clicks_per_minute/stream_batch_100k/threads:2/' --benchmark_out="$peers/ours.json" \
    --benchmark_out_format=json > /dev/null 2>&1
  read -r s rss < <(node -e '
    const b = require(process.argv[1]).benchmarks[0];
    console.log(b.real_time / 1000, Math.round(b.peak_rss_MiB));' "$PWD/$peers/ours.json")
  ours+=("$(node -e "console.log(($events / $s).toFixed(0))")") ours_rss+=("$rss")
  /usr/bin/time -f "%M" -o "$peers/rss.txt" node "$peers/duckdb_stream_upsert.mjs" "$clicks" 100000 2 > "$peers/duckdb.json"
  theirs+=("$(node -e 'console.log(require(process.argv[1]).events_per_second.toFixed(0))' "$PWD/$peers/duckdb.json")")
  theirs_rss+=("$(( $(cat "$peers/rss.txt") / 1024 ))")
  counted=$(node -e 'console.log(require(process.argv[1]).counted)' "$PWD/$peers/duckdb.json")
  [ "$counted" = "$events" ] || { echo "stream_peer: DuckDB counted $counted of $events events" >&2; exit 1; }
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "clicks per URL per minute, $events events in batches of 100,000, 2 threads (2 cores), medians of 3:"
printf '  %-36s %12s events/s  peak RSS %5s MiB\n' "dataflow stream" "$(median "${ours[@]}")" "$(median "${ours_rss[@]}")"
printf '  %-36s %12s events/s  peak RSS %5s MiB\n' "DuckDB appender + upsert" "$(median "${theirs[@]}")" "$(median "${theirs_rss[@]}")"
echo "  (each round: ${ours[*]} against ${theirs[*]})"
