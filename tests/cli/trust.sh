#!/usr/bin/env bash
# The tools with real files, pipes and signals: nothing left behind after SIGINT, SIGTERM, SIGHUP,
# SIGKILL or SIGPIPE mid-spill (exit status 128 + the signal); a failing standard output is an
# error; devices, FIFOs and /dev/stdout are written through; "-" and pipes are read whole.
# Usage: trust.sh BIN_DIR OUT_OF_MEMORY   (the example tools, the out_of_memory probe)
set -uo pipefail
bin=$1
oom=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/dataflow-trust-XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# About 80 MiB of lines: a run under a 1 MiB budget spills for a second or more.
awk 'BEGIN { srand(7); for (i = 0; i < 2500000; i++) printf "%08d some text to sort %d\n", int(rand() * 1e8), i }' > "$work/in.txt"
head -c 200000 "$work/in.txt" > "$work/small.txt"
LC_ALL=C sort "$work/small.txt" > "$work/small.sorted"

spill="$work/spill"
outdir="$work/out"
mkdir -p "$spill" "$outdir"

set -m  # background jobs keep SIGINT (without job control, a shell ignores it for them)
for sig in INT TERM HUP KILL; do
  echo old > "$outdir/out.txt"
  "$bin/sort_lines" --threads 2 --budget 1M --tmp "$spill" -o "$outdir/out.txt" "$work/in.txt" 2>/dev/null &
  pid=$!
  # Mid-spill: once the process holds a spill file (unnamed: "spill/#inode (deleted)").
  for _ in $(seq 200); do
    ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "$spill/" && break
    sleep 0.05
  done
  ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "$spill/" || fail "SIG$sig: no spill file open before the signal"
  mid=$(ls -A "$spill" "$outdir" | grep -v '^out.txt$' | grep -v ':$' | grep -v '^$' | wc -l)
  kill -s "$sig" "$pid"
  wait "$pid"
  status=$?
  want=$((128 + $(kill -l "$sig")))
  [ "$status" -eq "$want" ] || fail "SIG$sig: exit status $status, expected $want"
  [ "$mid" -eq 0 ] || fail "SIG$sig: names in the spill or output directory mid-run"
  [ -z "$(ls -A "$spill")" ] || fail "SIG$sig: left in the spill directory: $(ls -A "$spill")"
  [ "$(ls -A "$outdir")" = "out.txt" ] || fail "SIG$sig: left in the output directory: $(ls -A "$outdir")"
  [ "$(cat "$outdir/out.txt")" = old ] || fail "SIG$sig: the old output was changed"
  pass "SIG$sig mid-spill leaves nothing (exit $status)"
done
set +m

# SIGPIPE: the reader goes away early.
"$bin/sort_lines" --threads 2 --budget 1M --tmp "$spill" "$work/in.txt" 2>/dev/null | head -1 > /dev/null
status=${PIPESTATUS[0]}
[ "$status" -eq 141 ] || fail "SIGPIPE: exit status $status, expected 141"
[ -z "$(ls -A "$spill")" ] || fail "SIGPIPE: left in the spill directory"
pass "SIGPIPE leaves nothing (exit $status)"

# A failing standard output is an error naming it, for every tool.
printf 'key,value\n1,2\n3,4\n' > "$work/kv.csv"
mkdir -p "$work/docs"
printf 'hello world\n' > "$work/docs/a b.txt"
printf 'hello\there\n' > "$work/docs/c.txt"
check_full() {
  local name=$1 output=$2; shift 2
  if "$@" > /dev/full 2> "$work/err"; then
    fail "$name > /dev/full exited 0"
  elif ! grep -q -- "$output" "$work/err" || ! grep -q "No space left" "$work/err"; then
    fail "$name > /dev/full: unclear message: $(cat "$work/err")"
  else
    pass "$name > /dev/full fails naming standard output"
  fi
}
check_full word_count "standard output" "$bin/word_count" "$work/small.txt"
check_full group_sum "standard output" "$bin/group_sum" "$work/kv.csv"
check_full join_csv "standard output" "$bin/join_csv" "$work/kv.csv" "$work/kv.csv"
check_full inverted_index "standard output" "$bin/inverted_index" "$work/docs"
check_full sort_lines "standard output" "$bin/sort_lines" "$work/small.txt"
check_full "sort_lines -o /dev/full" "'/dev/full'" "$bin/sort_lines" -o /dev/full "$work/small.txt"

# Devices and standard output are written through, never replaced.
"$bin/sort_lines" -o /dev/null "$work/small.txt" || fail "sort_lines -o /dev/null failed"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
"$bin/sort_lines" -o /dev/stdout "$work/small.txt" > "$work/via-stdout" || fail "-o /dev/stdout failed"
cmp -s "$work/via-stdout" "$work/small.sorted" || fail "-o /dev/stdout wrote something else"
mkfifo "$work/fifo"
cat "$work/fifo" > "$work/via-fifo" &
"$bin/sort_lines" -o "$work/fifo" "$work/small.txt" || fail "-o FIFO failed"
wait
cmp -s "$work/via-fifo" "$work/small.sorted" || fail "-o FIFO wrote something else"
[ -p "$work/fifo" ] || fail "the FIFO was replaced"
pass "devices, FIFOs and /dev/stdout are written through"

# Standard input, pipes and process substitution are read whole.
cat "$work/small.txt" | "$bin/sort_lines" - > "$work/via-stdin" || fail "sort_lines - failed"
cmp -s "$work/via-stdin" "$work/small.sorted" || fail "sort_lines - differs"
"$bin/sort_lines" <(cat "$work/small.txt") > "$work/via-procsub" || fail "sort_lines <(...) failed"
cmp -s "$work/via-procsub" "$work/small.sorted" || fail "sort_lines <(...) differs"
[ "$(cat "$work/small.txt" | "$bin/word_count" --top 0 - | sort)" = "$("$bin/word_count" --top 0 "$work/small.txt" | sort)" ] ||
  fail "word_count - differs from word_count FILE"
[ "$(cat "$work/kv.csv" | "$bin/group_sum" -)" = "$(printf '1,2,1\n3,4,1')" ] || fail "group_sum - differs"
"$bin/sort_lines" - < "$work/small.txt" > "$work/via-redirect" || fail "sort_lines - < FILE failed"
cmp -s "$work/via-redirect" "$work/small.sorted" || fail "sort_lines - < FILE differs"
{ head -1 > /dev/null; "$bin/group_sum" -; } < "$work/kv.csv" > "$work/from-offset" 2>&1
[ "$(cat "$work/from-offset")" = "3,4,1" ] || fail "group_sum - from a file read in part: $(cat "$work/from-offset")"
mkfifo "$work/in.fifo"
cat "$work/small.txt" > "$work/in.fifo" &
"$bin/sort_lines" "$work/in.fifo" > "$work/via-in-fifo" || fail "sort_lines FIFO failed"
wait
cmp -s "$work/via-in-fifo" "$work/small.sorted" || fail "sort_lines FIFO differs"
if timeout 10 "$bin/word_count" "$work/*fifo*" > /dev/null 2> "$work/err"; then
  fail "a glob matching a FIFO succeeded"
elif ! grep -q "is a FIFO" "$work/err"; then
  fail "a glob matching a FIFO: $(cat "$work/err")"
fi
pass "standard input, pipes, FIFOs and process substitution are read whole"

# Flags: clear errors, exit status 2.
expect_usage() {
  local name=$1 pattern=$2; shift 2
  "$@" > /dev/null 2> "$work/err"
  local status=$?
  if [ "$status" -ne 2 ] || ! grep -q -- "$pattern" "$work/err"; then
    fail "$name: exit $status, $(cat "$work/err")"
  else
    pass "$name"
  fi
}
expect_usage "join_csv --header maybe" "--header must be yes or no" "$bin/join_csv" --header maybe "$work/kv.csv" "$work/kv.csv"
expect_usage "word_count --threads 99999999" "threads asked for" "$bin/word_count" --threads 99999999 "$work/small.txt"
expect_usage "word_count --threads 10^23" "out of range" "$bin/word_count" --threads 99999999999999999999999 "$work/small.txt"

# inverted_index escapes names with spaces and tabs.
"$bin/inverted_index" "$work/docs" > "$work/index" || fail "inverted_index failed"
grep -q $'^hello\ta\\\\ b.txt c.txt$' "$work/index" || fail "inverted_index did not escape 'a b.txt': $(cat "$work/index")"
pass "inverted_index escapes file names"

# Out of memory inside a stage names the stage (not under a sanitizer, which reserves terabytes).
if [ -n "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}" ]; then
  echo "skipped: out of memory under a sanitizer"; echo "$failures failed"; [ "$failures" -eq 0 ]; exit
fi
(ulimit -v 1500000; "$oom" 60000000) > /dev/null 2> "$work/err"
status=$?
if [ "$status" -ne 1 ] || ! grep -q "out of memory in stage .*reduce_by_key#" "$work/err"; then
  fail "out of memory: exit $status, $(cat "$work/err")"
else
  pass "out of memory names the stage"
fi

echo "$failures failed"
[ "$failures" -eq 0 ]
