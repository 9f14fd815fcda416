#!/usr/bin/env bash
# The example tools as ranks of an MPI job: under `mpirun -np N` their output must be byte for
# byte what one process writes, in memory and with budgets small enough to spill; a bad line
# read by one rank fails every rank, naming the line.
#
# Usage: tools_across_ranks.sh MPIRUN TOOLS_DIR WORK_DIR RANKS...
set -euo pipefail
mpirun=$1 tools=$2 work=$3
shift 3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
rm -rf "$work"
mkdir -p "$work/docs"
cd "$work"

# Inputs, the same on every run: Zipf-like words, a key,value CSV with repeated and negative
# keys, a join's two sides, and a directory of documents.
awk 'BEGIN { srand(7); for (i = 0; i < 40000; i++) { n = int(rand() * 9); line = "";
       for (j = 0; j < n; j++) { w = int(1 / (rand() + 0.0005)); line = line (j ? " " : "") "w" w }
       print line } }' > words.txt
awk 'BEGIN { srand(8); print "key,value"; for (i = 0; i < 60000; i++)
       printf "%d,%s%d.%02d\n", int(rand() * rand() * 5000) - 200, (rand() < 0.3 ? "-" : ""), int(rand() * 1000), int(rand() * 100) }' > sums.csv
awk 'BEGIN { srand(9); for (i = 0; i < 20000; i++) printf "k%d,left%d\n", int(rand() * 3000), i }' > left.csv
awk 'BEGIN { srand(10); for (i = 0; i < 5000; i++) printf "k%d,right%d,x\n", int(rand() * 4000), i }' > right.csv
for d in $(seq 1 12); do
  awk -v d="$d" 'BEGIN { srand(d); for (i = 0; i < 500; i++) printf "t%d t%d\n", int(rand() * 800), int(rand() * 50) }' > "docs/doc$d.txt"
done

run_all() {  # run_all LAUNCH... : every tool's output, one file each, under the given launcher
  local out=$1
  shift
  "$@" "$tools/word_count" --threads 2 --top 25 words.txt > "$out.wc_top"
  "$@" "$tools/word_count" --threads 2 --top 0 words.txt > "$out.wc_all"
  "$@" "$tools/group_sum" --threads 2 sums.csv > "$out.gs"
  "$@" "$tools/sort_lines" --threads 2 words.txt > "$out.sort"
  "$@" "$tools/join_csv" --threads 2 --type full left.csv right.csv > "$out.join"
  "$@" "$tools/inverted_index" --threads 2 docs > "$out.index"
  "$@" "$tools/group_sum" --threads 2 --budget 1M sums.csv > "$out.gs_budget"
  "$@" "$tools/sort_lines" --threads 2 --budget 1M words.txt > "$out.sort_budget"
  "$@" "$tools/word_count" --threads 2 --budget 1M --top 0 words.txt > "$out.wc_budget"
}

run_all one
for f in one.*; do [ -s "$f" ] || { echo "FAIL: $f is empty" >&2; exit 1; }; done
cmp one.gs one.gs_budget
for np in "$@"; do
  run_all "np$np" "$mpirun" --oversubscribe --bind-to none -np "$np"
  for f in one.*; do
    if ! cmp -s "$f" "np$np.${f#one.}"; then
      echo "FAIL: ${f#one.} at -np $np differs from one process" >&2
      diff "$f" "np$np.${f#one.}" | head -5 >&2
      exit 1
    fi
  done
  echo "-np $np: every tool's output is byte-identical to one process's"
done

# fails_everywhere WHAT EXPECTED TOOL ARGS...: at every -np, the job exits non-zero within
# seconds (no rank waits for ever) and its stderr holds EXPECTED.
fails_everywhere() {
  local what=$1 expected=$2 np status
  shift 2
  for np in "${ranks[@]}"; do
    set +e
    timeout 120 "$mpirun" --oversubscribe --bind-to none -np "$np" "$@" > fail.out 2> fail.err
    status=$?
    set -e
    if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
      echo "FAIL: $what at -np $np exited $status" >&2
      exit 1
    fi
    grep -qF "$expected" fail.err || { echo "FAIL: $what: the error does not name $expected" >&2; cat fail.err >&2; exit 1; }
  done
  echo "$what fails the job at every -np"
}
ranks=("$@")

# A malformed line that only the last rank reads, and an output that only rank 0 opens, in a
# directory that does not exist.
cp sums.csv bad.csv
echo "12,not-a-number" >> bad.csv
fails_everywhere "a bad line on one rank" "bad.csv:60002" "$tools/group_sum" --threads 2 bad.csv
fails_everywhere "an output rank 0 cannot open" "no-such-dir/out.txt" \
  "$tools/sort_lines" --threads 2 -o "$work/no-such-dir/out.txt" words.txt
