#!/usr/bin/env bash
# clickstream follow over a log directory equals clickstream batch over the finished log: for a
# log written before the stream starts, one written while it runs, per URL and per user.
set -euo pipefail
tool=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# Written before: 30000 events, out of order by up to 5 s (the delay is 10 s).
mkdir "$d/before"
"$tool" generate --total 30000 --rate 0 --disorder 5000 --seed 3 "$d/before/clicks.log"
"$tool" follow --threads 2 --until-idle 0.5 "$d/before" | sort > "$d/stream.txt"
"$tool" batch "$d/before" > "$d/batch.txt"
test -s "$d/batch.txt"
cmp "$d/stream.txt" "$d/batch.txt"
"$tool" follow --per-user --until-idle 0.5 "$d/before" | sort > "$d/stream.txt"
"$tool" batch --per-user "$d/before" > "$d/batch.txt"
cmp "$d/stream.txt" "$d/batch.txt"

# Written while the stream runs, at 50000 events a second.
mkdir "$d/during"
"$tool" follow --threads 2 --until-idle 3 "$d/during" > "$d/stream.txt" &
follower=$!
"$tool" generate --total 40000 --rate 50000 --disorder 5000 --seed 4 "$d/during/clicks.log"
wait "$follower"
sort -o "$d/stream.txt" "$d/stream.txt"
"$tool" batch "$d/during" > "$d/batch.txt"
cmp "$d/stream.txt" "$d/batch.txt"

# A malformed line ends the stream with an error naming it.
printf '1700000000000 u1 /a\nnot a click\n' > "$d/bad.log"
if "$tool" follow --until-idle 0.2 "$d/bad.log" > /dev/null 2> "$d/err.txt"; then
  echo "clickstream: a malformed line did not fail" >&2
  exit 1
fi
grep -q "not a click 'EPOCH_MS USER URL': 'not a click'" "$d/err.txt"
echo "clickstream: follow equals batch"
