#!/usr/bin/env bash
# clickstream follow over a log with a malformed line: exits non-zero naming the file and the
# line's byte offset; with --dead-letters it counts the rest and writes the line there; --stats
# json prints the stream's figures.
#
# Usage: clickstream_bad_line.sh CLICKSTREAM
set -euo pipefail
tool=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir "$d/log"
"$tool" generate --total 3000 --rate 0 --seed 9 "$d/log/a.log"
offset=$(stat -c %s "$d/log/a.log")
echo "1700000000000 user-without-url" >> "$d/log/a.log"
"$tool" generate --total 2000 --rate 0 --seed 10 --start 1700000030000 "$d/log/a.log"

if "$tool" follow --until-idle 0.3 "$d/log" > "$d/out.txt" 2> "$d/err.txt"; then
  echo "clickstream_bad_line: a malformed line was accepted" >&2
  exit 1
fi
grep -q "$d/log/a.log at byte $offset" "$d/err.txt" || { cat "$d/err.txt" >&2; exit 1; }
grep -q "user-without-url" "$d/err.txt"

"$tool" follow --until-idle 0.3 --dead-letters "$d/dead.txt" --stats json "$d/log" 2> "$d/err.txt" | sort > "$d/out.txt"
test "$(wc -l < "$d/dead.txt")" -eq 1
grep -q "^$d/log/a.log at byte $offset	.*	1700000000000 user-without-url\$" "$d/dead.txt"
grep -q '"events_in":5001,' "$d/err.txt"
grep -q '"dead_letters":1,' "$d/err.txt"
grep -v user-without-url "$d/log/a.log" > "$d/good.log"
"$tool" batch "$d/good.log" > "$d/batch.txt"
cmp "$d/out.txt" "$d/batch.txt"
echo "clickstream: a malformed line is named, or set aside"
