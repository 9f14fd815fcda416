#!/usr/bin/env bash
# The example tools side by side with their peers, as a user runs them: whole processes on the
# same files, inputs warm in the page cache, each writing its whole result to a file. DuckDB
# (@duckdb/node-api from the npm registry, benchmarks/peers/duckdb_tools.mjs) for every
# workload, GNU sort for the sorts; the rounds interleave ours and theirs. Prints each
# workload's median time and peak RSS, and our ratio against each peer (above 1: we are faster).
# The sorts also run as `sort_lines --direct -o FILE` (ours_direct: the output written with
# O_DIRECT, past the page cache), printed beside the default.
# At 2 threads on a 2-core machine, 2x is the ceiling of any parallel speedup.
#
# Usage: bash benchmarks/tools_peer.sh [--quick] [BUILD_DIR]   (default build/main)
#   --quick   small inputs (64 MiB of text, 10M rows, 256 MiB of lines)
# Environment: DATAFLOW_BENCH_DIR (inputs; default BUILD_DIR/bench-data),
#   DATAFLOW_PEER_ROUNDS (default 3), DATAFLOW_PEER_THREADS (default 2),
#   DATAFLOW_PEER_SUMMARY (a file for the table as tab-separated values: workload, runner,
#   seconds, peak RSS MiB, our ratio against the runner; cmake/report.sh charts it).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=""
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
build=${1:-build/main}
data=${DATAFLOW_BENCH_DIR:-$PWD/$build/bench-data}
rounds=${DATAFLOW_PEER_ROUNDS:-3}
threads=${DATAFLOW_PEER_THREADS:-2}
export DATAFLOW_PROGRESS=off
mkdir -p "$data"

text_mib=1024 rows=100000000 few_keys=1000000 many_keys=50000000 lines_mib=1907
if [ -n "$quick" ]; then text_mib=64 rows=10000000 few_keys=100000 many_keys=5000000 lines_mib=256; fi

peers="$build/peers"
duckdb=1
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "tools_peer: npm (Node.js) not found: DuckDB not compared"
  duckdb=""
elif [ ! -d "$peers/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$peers"
  if ! npm install --prefix "$peers" @duckdb/node-api >/dev/null 2>&1; then
    echo "tools_peer: cannot install @duckdb/node-api from the npm registry: DuckDB not compared"
    duckdb=""
  fi
fi
[ -n "$duckdb" ] && cp benchmarks/peers/duckdb_tools.mjs "$peers/"

text="$data/zipf-${text_mib}MiB.txt"
few="$data/rows-$rows-keys-$few_keys.csv"
many="$data/rows-$rows-keys-$many_keys.csv"
lines="$data/lines-${lines_mib}MiB.txt"
[ -f "$text" ] || "$build/benchmarks/datagen" text "$text" "$text_mib"
[ -f "$few" ] || "$build/benchmarks/datagen" csv "$few" "$rows" "$few_keys"
[ -f "$many" ] || "$build/benchmarks/datagen" csv "$many" "$rows" "$many_keys"
[ -f "$lines" ] || "$build/benchmarks/datagen" lines "$lines" "$lines_mib"
out="$data/peer-out" tmp="$data/peer-tmp"
mkdir -p "$out" "$tmp"
tools="$build/examples"

# The workloads: name, input, then our command, DuckDB's (workload, memory limit), GNU sort's and
# whether ours also runs with --direct. A command's output goes to $out/NAME.RUNNER.
names=() inputs=() ours=() duck=() gnu=() direct=()
add() { names+=("$1") inputs+=("$2") ours+=("$3") duck+=("$4") gnu+=("$5") direct+=("${6:-}"); }
add "word_count" "$text" "$tools/word_count --threads $threads --top 10 $text" "word_count $text -" ""
add "group_sum ${few_keys} keys" "$few" "$tools/group_sum --threads $threads $few" "group_sum $few -" ""
add "group_sum ${many_keys} keys" "$many" "$tools/group_sum --threads $threads $many" "group_sum $many -" ""
add "group_sum ${many_keys} keys, 512M" "$many" "$tools/group_sum --threads $threads --budget 512M $many" \
  "group_sum $many 512MB" ""
add "sort_lines" "$lines" "$tools/sort_lines --threads $threads $lines" "sort_lines $lines -" \
  "sort --parallel=$threads -S 75% $lines" direct
add "sort_lines, 256M" "$lines" "$tools/sort_lines --threads $threads --budget 256M --tmp $tmp $lines" \
  "sort_lines $lines 512MB" "sort --parallel=$threads -S 256M -T $tmp $lines" direct

# run NAME RUNNER COMMAND...: times the command, its output to a file; appends "seconds KiB".
run() {
  local name=$1 runner=$2
  shift 2
  local file="$out/${name//[ ,]/_}.$runner" sink
  sink=$file
  # ours_direct names the file with -o: standard output elsewhere, or it would write through it.
  [ "$runner" = ours_direct ] && sink=/dev/null
  if ! /usr/bin/time -f "%e %M" -o "$out/time" "$@" > "$sink" 2> "$out/stderr"; then
    echo "tools_peer: $runner failed on $name: $(tail -3 "$out/stderr")" >&2
    # Ours failing ends the run; a peer's failure (DuckDB at a tight memory limit runs out of
    # memory now and then) is counted and shown beside its median of the rounds that ran.
    case $runner in ours*) exit 1 ;; esac
    echo failed >> "$out/${name//[ ,]/_}.$runner.failed"
    rm -f "$file"  # partial: not compared
    return 0
  fi
  cat "$out/time" >> "$out/${name//[ ,]/_}.$runner.times"
}

rm -f "$out"/*.times "$out"/*.failed
for ((round = 1; round <= rounds; round++)); do
  for i in "${!names[@]}"; do
    name=${names[$i]}
    cat "${inputs[$i]}" > /dev/null  # warm
    # shellcheck disable=SC2086
    run "$name" ours ${ours[$i]}
    if [ -n "${direct[$i]}" ]; then
      # shellcheck disable=SC2086
      run "$name" ours_direct ${ours[$i]} --direct -o "$out/${name//[ ,]/_}.ours_direct"
    fi
    if [ -n "$duckdb" ]; then
      read -r w input limit <<< "${duck[$i]}"
      [ "$limit" = "-" ] && limit=""
      run "$name" duckdb node "$peers/duckdb_tools.mjs" "$w" "$input" /dev/stdout "$threads" $limit ${limit:+"$tmp"}
    fi
    if [ -n "${gnu[$i]}" ]; then
      # shellcheck disable=SC2086
      run "$name" gnu_sort env LC_ALL=C ${gnu[$i]}
    fi
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
summary=${DATAFLOW_PEER_SUMMARY:-/dev/null}
: > "$summary"
printf '\n%-32s %-10s %9s %9s %9s\n' "workload ($threads threads, 2 cores)" runner "time (s)" "RSS MiB" "ours/it"
for name in "${names[@]}"; do
  base="$out/${name//[ ,]/_}"
  ours_s=$(cut -d' ' -f1 "$base.ours.times" | median)
  for runner in ours ours_direct duckdb gnu_sort; do
    if [ ! -f "$base.$runner.times" ]; then
      [ -f "$base.$runner.failed" ] && printf '%-32s %-10s %9s\n' "$name" "$runner" "failed"
      continue
    fi
    s=$(cut -d' ' -f1 "$base.$runner.times" | median)
    kib=$(cut -d' ' -f2 "$base.$runner.times" | median)
    ratio="-"
    [ "$runner" != ours ] && [ "$runner" != ours_direct ] && ratio=$(awk -v a="$s" -v b="$ours_s" 'BEGIN { printf "%.2fx", a / b }')
    failed=""
    [ -f "$base.$runner.failed" ] && failed="  ($(wc -l < "$base.$runner.failed") of $rounds rounds failed)"
    printf '%-32s %-10s %9.2f %9d %9s%s\n' "$name" "$runner" "$s" $((kib / 1024)) "$ratio" "$failed"
    printf '%s\t%s\t%s\t%d\t%s\n' "$name" "$runner" "$s" $((kib / 1024)) "${ratio%x}" >> "$summary"
  done
  # The same rows from every runner (DuckDB prints its decimals with every digit: counted only).
  counts=$(for f in "$base".ours "$base".ours_direct "$base".duckdb "$base".gnu_sort; do if [ -f "$f" ]; then wc -l < "$f"; fi; done | sort -u | wc -l)
  [ "$counts" -le 1 ] || echo "tools_peer: $name: the runners wrote different numbers of lines" >&2
done
rm -rf "$tmp" "$out"/*.ours "$out"/*.ours_direct "$out"/*.duckdb "$out"/*.gnu_sort
