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
if [ "${1:-}" = "--quick" ]; then
  text_mib=64
  rows=10000000
  keys=1000,1000000
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

text="$data/zipf-${text_mib}MiB.txt"
csv="$data/rows-1M.csv"
[ -f "$text" ] || "$build/benchmarks/datagen" text "$text" "$text_mib"
[ -f "$csv" ] || "$build/benchmarks/datagen" csv "$csv" 1000000 1000
sync  # write new inputs back now, not while a benchmark is timed

echo
echo "== word_count --top 10 $text"
time "$build/examples/word_count" --top 10 "$text"
echo
echo "== group_sum $csv"
time "$build/examples/group_sum" "$csv" >"$data/group_sum.out"
echo "$(wc -l <"$data/group_sum.out") keys; the first five (key,sum,count):"
sed -n 1,5p "$data/group_sum.out"

bench_args=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true)
for b in fusion_bench word_count_bench reduce_by_key_bench; do
  echo
  echo "== $b"
  "$build/benchmarks/$b" "${bench_args[@]}"
done
