#!/usr/bin/env bash
# The example tools under mpirun beside MR-MPI (Sandia's MapReduce-MPI library, Debian's
# libmrmpi-dev: benchmarks/peers/mrmpi_*.cpp), and the cost of the MPI layer itself: whole
# processes on the same warm files, each writing its whole result to a file, rounds interleaved.
# Runners, for word count (1 GiB Zipf text, top 10) and group_sum (100M rows, 1M keys):
#   ours         the tool as one process, 2 threads, no mpirun
#   ours-np1x2   mpirun -np 1, 2 threads          (against ours: what MPI costs on one process)
#   ours-np2x1   mpirun -np 2, 1 thread per rank  (against ours: what two processes cost)
#   mrmpi-np2    MR-MPI under mpirun -np 2        (against ours-np2x1: the peer at equal ranks
#                and cores)
# Prints each runner's median time and peak RSS (the largest process), and ratios; checks that
# every runner wrote the same bytes. A 2-core machine: 2x is the ceiling of any parallel speedup.
#
# Usage: bash benchmarks/mpi_peer.sh [--quick] [BUILD_DIR]   (default build/main)
#   --quick   small inputs (64 MiB of text, 10M rows)
# Environment: DATAFLOW_BENCH_DIR (inputs; default BUILD_DIR/bench-data), DATAFLOW_PEER_ROUNDS
#   (default 3), DATAFLOW_MRMPI_PAGE_MIB (MR-MPI's page size, default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
build=${1:-build/main}
data=${DATAFLOW_BENCH_DIR:-$PWD/$build/bench-data}
rounds=${DATAFLOW_PEER_ROUNDS:-3}
page=${DATAFLOW_MRMPI_PAGE_MIB:-64}
export DATAFLOW_PROGRESS=off OMPI_MCA_rmaps_base_oversubscribe=1
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

if ! command -v mpirun >/dev/null 2>&1; then echo "mpi_peer: mpirun not found: nothing to compare"; exit 0; fi
tools="$build/examples" bench="$build/benchmarks"
mrmpi=1
if [ ! -x "$bench/mrmpi_word_count" ]; then
  echo "mpi_peer: MR-MPI peers not built (apt-get install libmrmpi-dev, then build again): MR-MPI not compared"
  mrmpi=""
fi

text_mib=1024 rows=100000000 keys=1000000
if [ -n "$quick" ]; then text_mib=64 rows=10000000 keys=100000; fi
mkdir -p "$data"
text="$data/zipf-${text_mib}MiB.txt"
csv="$data/rows-$rows-keys-$keys.csv"
[ -f "$text" ] || "$bench/datagen" text "$text" "$text_mib"
[ -f "$csv" ] || "$bench/datagen" csv "$csv" "$rows" "$keys"
out="$data/mpi-peer-out"
mkdir -p "$out"
rm -f "$out"/*

mpi="mpirun --bind-to none"
# workload NAME INPUT TOOL-ARGS MRMPI-PROGRAM MRMPI-ARGS
names=() inputs=() args=() peers=() peer_args=()
workload() { names+=("$1") inputs+=("$2") args+=("$3") peers+=("$4") peer_args+=("$5"); }
workload word_count "$text" "word_count --top 10 $text" mrmpi_word_count "--page-mib $page --top 10 $text"
workload group_sum "$csv" "group_sum $csv" mrmpi_group_sum "--page-mib $page $csv"

run() {  # run NAME RUNNER COMMAND...
  local name=$1 runner=$2
  shift 2
  if ! /usr/bin/time -f "%e %M" -o "$out/time" "$@" > "$out/$name.$runner" 2> "$out/stderr"; then
    echo "mpi_peer: $runner failed on $name: $(tail -3 "$out/stderr")" >&2
    exit 1
  fi
  cat "$out/time" >> "$out/$name.$runner.times"
}

for ((round = 1; round <= rounds; round++)); do
  for i in "${!names[@]}"; do
    name=${names[$i]}
    cat "${inputs[$i]}" > /dev/null  # warm
    read -r tool rest <<< "${args[$i]}"
    # shellcheck disable=SC2086
    run "$name" ours "$tools/$tool" --threads 2 $rest
    # shellcheck disable=SC2086
    run "$name" ours-np1x2 $mpi -np 1 "$tools/$tool" --threads 2 $rest
    # shellcheck disable=SC2086
    run "$name" ours-np2x1 $mpi -np 2 "$tools/$tool" --threads 1 $rest
    if [ -n "$mrmpi" ]; then
      # shellcheck disable=SC2086
      run "$name" mrmpi-np2 $mpi -np 2 "$bench/${peers[$i]}" ${peer_args[$i]}
    fi
  done
done

median() { sort -n | sed -n "$(( (rounds + 1) / 2 ))p"; }
stat() { cut -d' ' -f"$2" "$out/$1.times" | median; }
printf '\n%-11s %-11s %9s %9s   %s\n' workload runner "time (s)" "RSS MiB" "(2 cores: 2x is the ceiling of any speedup)"
for name in "${names[@]}"; do
  for runner in ours ours-np1x2 ours-np2x1 mrmpi-np2; do
    [ -f "$out/$name.$runner.times" ] || continue
    printf '%-11s %-11s %9.2f %9d\n' "$name" "$runner" "$(stat "$name.$runner" 1)" $(( $(stat "$name.$runner" 2) / 1024 ))
    cmp -s "$out/$name.ours" "$out/$name.$runner" || echo "mpi_peer: $name: $runner wrote other bytes than ours" >&2
  done
  ratio() { awk -v a="$(stat "$name.$1" 1)" -v b="$(stat "$name.$2" 1)" 'BEGIN { printf "%.2fx", a / b }'; }
  echo "$name: against ours, mpirun -np 1 x 2 threads takes $(ratio ours-np1x2 ours) the time, -np 2 x 1 thread $(ratio ours-np2x1 ours)"
  [ -f "$out/$name.mrmpi-np2.times" ] && echo "$name: ours at -np 2 is $(ratio mrmpi-np2 ours-np2x1) as fast as MR-MPI at -np 2"
done
rm -f "$out"/*.ours* "$out"/*.mrmpi*
