#!/usr/bin/env bash
# The main job: builds dataflow's examples and benchmarks in Release, generates the benchmark
# inputs, runs the example tools on them, and compares each pipeline with its sequential baseline
# (and a hand-written oneTBB version), printing a table per benchmark. Installs what is missing.
#
# Usage: bash cmake/main.sh [--quick]
#   --quick   small inputs (64 MiB of text, 10M rows) for a run of a minute or two
# Environment: DATAFLOW_BENCH_THREADS (default "1,2"), DATAFLOW_BENCH_REPETITIONS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

text_mib=1024
rows=100000000
keys=1000,1000000,50000000
sort_mib=1907            # 2 GB of 100-byte lines
spill_rows=100000000
spill_keys=50000000
join_rows=20000000 join_keys=2000000 distinct_rows=50000000 distinct_keys=5000000
quick=""
if [ "${1:-}" = "--quick" ]; then
  quick="--quick"
  text_mib=64
  rows=10000000
  keys=1000,1000000
  sort_mib=256
  spill_rows=10000000
  spill_keys=5000000
  join_rows=2000000 join_keys=200000 distinct_rows=5000000 distinct_keys=500000
fi
reps=${DATAFLOW_BENCH_REPETITIONS:-3}

bash cmake/deps.sh

build=build/main
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDATAFLOW_BUILD_TESTS=OFF -DDATAFLOW_BUILD_EXAMPLES=ON -DDATAFLOW_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j "$jobs"

data="$build/bench-data"
mkdir -p "$data"
export DATAFLOW_BENCH_DIR="$PWD/$data"
export DATAFLOW_BENCH_TEXT_MB=$text_mib DATAFLOW_BENCH_ROWS=$rows DATAFLOW_BENCH_KEYS=$keys
export DATAFLOW_BENCH_JOIN_ROWS=$join_rows DATAFLOW_BENCH_JOIN_KEYS=$join_keys
export DATAFLOW_BENCH_DISTINCT_ROWS=$distinct_rows DATAFLOW_BENCH_DISTINCT_KEYS=$distinct_keys
export DATAFLOW_BENCH_SORT_MB=$sort_mib DATAFLOW_BENCH_SPILL_ROWS=$spill_rows DATAFLOW_BENCH_SPILL_KEYS=$spill_keys

text="$data/zipf-${text_mib}MiB.txt"
csv="$data/rows-1M.csv"
[ -f "$text" ] || "$build/benchmarks/datagen" text "$text" "$text_mib"
[ -f "$csv" ] || "$build/benchmarks/datagen" csv "$csv" 1000000 1000
lines="$data/lines-${sort_mib}MiB.txt"
[ -f "$lines" ] || "$build/benchmarks/datagen" lines "$lines" "$sort_mib"
sync  # write new inputs back now, not while a benchmark is timed

# cmake/report.sh reuses this build and these inputs, and runs the benchmarks itself.
{
  echo "export DATAFLOW_BENCH_DIR='$DATAFLOW_BENCH_DIR'"
  for v in TEXT_MB ROWS KEYS JOIN_ROWS JOIN_KEYS DISTINCT_ROWS DISTINCT_KEYS SORT_MB SPILL_ROWS SPILL_KEYS; do
    echo "export DATAFLOW_BENCH_$v='$(printenv "DATAFLOW_BENCH_$v")'"
  done
} > "$build/bench-env.sh"
if [ "${DATAFLOW_MAIN_BUILD_ONLY:-}" = 1 ]; then exit 0; fi

echo
echo "== word_count --top 10 $text"
time "$build/examples/word_count" --top 10 "$text"
echo
echo "== group_sum $csv"
time "$build/examples/group_sum" "$csv" >"$data/group_sum.out"
echo "$(wc -l <"$data/group_sum.out") keys; the first five (key,sum,count):"
sed -n 1,5p "$data/group_sum.out"

echo
echo "== sort_lines --budget 256M $lines (compared with LC_ALL=C sort -S 256M)"
time "$build/examples/sort_lines" --budget 256M --tmp "$data" -o "$data/sorted.txt" "$lines"
time LC_ALL=C sort -S 256M --parallel="$jobs" -T "$data" -o "$data/sorted-gnu.txt" "$lines"
cmp "$data/sorted.txt" "$data/sorted-gnu.txt" && echo "identical output"
rm -f "$data/sorted.txt" "$data/sorted-gnu.txt"

echo
echo "== the Lambda architecture on a log directory: clickstream serve (examples/serve_demo.sh)"
bash examples/serve_demo.sh "$build"

bench_args=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true)
export DATAFLOW_PROGRESS=off  # the tools above show progress; timed benchmarks stay quiet
for b in fusion_bench word_count_bench reduce_by_key_bench spill_bench join_bench stream_bench; do
  echo
  echo "== $b"
  "$build/benchmarks/$b" "${bench_args[@]}"
done

# The serving layer's reads, with Redis beside them when it can be installed.
if [ -x "$build/benchmarks/serving_bench" ]; then
  if ! command -v redis-server >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null 2>&1 ||
      echo "(redis-server could not be installed: the Redis rows are skipped)"
  fi
  echo
  echo "== serving_bench"
  "$build/benchmarks/serving_bench" "${bench_args[@]}"
fi

echo
echo "== the stream against DuckDB fed the same micro-batches (npm's @duckdb/node-api)"
bash benchmarks/stream_peer.sh "$build"

echo
echo "== the tools against DuckDB (npm's @duckdb/node-api) and GNU sort, whole processes"
bash benchmarks/tools_peer.sh $quick "$build"

echo
echo "== the tools under mpirun against MR-MPI, and the cost of the MPI layer"
bash benchmarks/mpi_peer.sh $quick "$build"
