#!/usr/bin/env bash
# The tools under --budget stream their output: on inputs whose output alone is several times
# the budget, the whole process's peak RSS stays within 1.25 x budget + 64 MiB, and the output
# equals a sequential reference (awk, sort, uniq) and the run without a budget, at 1 and 2
# threads: group_sum, and word_count --top 0.
#
# Usage: tools_budget.sh BIN_DIR PEAK_RSS   (the example tools, the peak_rss probe)
set -euo pipefail
export DATAFLOW_PROGRESS=off
bin=$1 peak_rss=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "tools_budget: $*" >&2; exit 1; }

# 3M rows: a few hot keys and about 1.5M keys seen once or twice, so the output (about 20 MB)
# is five times the budget.
awk 'BEGIN { srand(7); print "key,value"
  for (i = 0; i < 3000000; i++) {
    k = (i % 7 == 0) ? int(rand() * 50) : int(rand() * 2000000)
    printf "%d,%d\n", k - 1000, int(rand() * 2001) - 1000 } }' > "$work/in.csv"
awk -F, 'NR > 1 { s[$1] += $2; c[$1]++ } END { for (k in s) printf "%d,%d,%d\n", k, s[k], c[k] }' "$work/in.csv" |
  LC_ALL=C sort -t, -k1,1n > "$work/want"

budget_mib=4
limit_kib=$(( (budget_mib * 5 / 4 + 64) * 1024 ))
# The words: the keys, 1.45M distinct; every word, most frequent first, ties bytewise.
tail -n +2 "$work/in.csv" | cut -d, -f1 > "$work/words.txt"
LC_ALL=C sort "$work/words.txt" | uniq -c | awk '{ print $1 "\t" $2 }' |
  LC_ALL=C sort -t "$(printf '\t')" -k1,1nr -k2,2 > "$work/want-words"

# check NAME WANT COMMAND...: under the budget at 1 and 2 threads, then without it.
check() {
  local name=$1 want=$2
  shift 2
  [ "$(stat -c %s "$want")" -gt $(( 3 * budget_mib * 1024 * 1024 )) ] || fail "$name: the output is not several times the budget"
  for threads in 1 2; do
    "$peak_rss" "$work/rss" "$@" --threads "$threads" --budget "${budget_mib}M" > "$work/got" ||
      fail "$name --budget ${budget_mib}M failed at $threads threads"
    cmp -s "$work/got" "$want" || fail "$name: the output at $threads threads under the budget differs from the reference"
    rss=$(cat "$work/rss")
    echo "$name --threads $threads --budget ${budget_mib}M: peak RSS $((rss / 1024)) MiB (limit $((limit_kib / 1024)) MiB)"
    [ "$rss" -le "$limit_kib" ] || fail "$name: peak RSS $((rss / 1024)) MiB at $threads threads is over $((limit_kib / 1024)) MiB"
  done
  "$@" > "$work/unbudgeted" || fail "$name without a budget failed"
  cmp -s "$work/unbudgeted" "$want" || fail "$name: the output without a budget differs from the reference"
}

check group_sum "$work/want" "$bin/group_sum" "$work/in.csv"
check "word_count --top 0" "$work/want-words" "$bin/word_count" --top 0 "$work/words.txt"
echo "tools_budget: ok"
