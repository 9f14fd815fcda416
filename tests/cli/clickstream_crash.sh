#!/usr/bin/env bash
# clickstream follow --state, killed with SIGKILL at random moments (during batches and during
# checkpoint writes) and restarted each time while the log grows, counts every click exactly
# once: the last count printed for each window equals the batch count of the finished log. A
# damaged checkpoint is an error naming it, never a silent start from zero.
#
# With "epochs", the windows go to files, one per checkpoint epoch (--output): together they
# must hold every window exactly once, with no line printed twice by runs that were killed.
#
# Usage: clickstream_crash.sh CLICKSTREAM [SEED] [epochs]
set -euo pipefail
tool=$1
seed=${2:-1}
mode=${3:-stdout}
d=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$d"' EXIT
RANDOM=$seed

mkdir "$d/log"
output=()
if [ "$mode" = epochs ]; then output=(--output "$d/windows"); fi
follow() {
  exec "$tool" follow --threads 2 --until-idle 1.5 --trigger 0.02 --checkpoint-every 0.03 --state "$d/state" \
    "${output[@]}" "$d/log"
}

# The log grows for about two seconds while followers are killed and restarted.
"$tool" generate --total 300000 --rate 150000 --disorder 5000 --seed "$seed" "$d/log/clicks.log" &
generator=$!
run=0
while kill -0 "$generator" 2> /dev/null; do
  run=$((run + 1))
  follow > "$d/out.$run" 2> "$d/err.$run" &
  pid=$!
  sleep "0.$((RANDOM % 25 + 3))"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
done
wait "$generator"
run=$((run + 1))
(follow > "$d/out.$run")
"$tool" batch "$d/log" > "$d/batch.txt"
if [ "$mode" = epochs ]; then
  # Every window once in the epoch files, and nothing half-written left beside them.
  cat "$d"/windows/part-* | sort > "$d/stream.txt"
  test -z "$(ls -A "$d/windows" | grep -v '^part-[0-9]\{12\}\(\.final\)\?$')"
else
  # The last line printed for each (window, url), run after run.
  for ((i = 1; i <= run; i++)); do cat "$d/out.$i"; done \
    | awk -F'\t' '{ last[$1 "\t" $2] = $3 } END { for (k in last) print k "\t" last[k] }' \
    | sort > "$d/stream.txt"
fi
cmp "$d/stream.txt" "$d/batch.txt"
test "$(ls "$d/state" | grep -c '^checkpoint-')" -le 3  # the newest three at most
test -z "$(ls -A "$d/state" | grep -v -e '^checkpoint-' -e '^lock$')"  # no temporary left behind

# Another pipeline over the same checkpoints: refused, naming them.
if "$tool" follow --per-user --until-idle 0.2 --state "$d/state" "$d/log" > /dev/null 2> "$d/err.txt"; then
  echo "clickstream: a checkpoint of another pipeline was accepted" >&2
  exit 1
fi
grep -q "checkpoint.*was written by a different pipeline" "$d/err.txt"

# A corrupted checkpoint: an error naming its file.
latest=$(ls -d "$d"/state/checkpoint-* | sort | tail -1)
printf 'garbage' | dd of="$latest/state" bs=1 seek=40 conv=notrunc status=none
if "$tool" follow --until-idle 0.2 --state "$d/state" "$d/log" > /dev/null 2> "$d/err.txt"; then
  echo "clickstream: a corrupted checkpoint was accepted" >&2
  exit 1
fi
grep -q "checkpoint.*$(basename "$latest")/state.*corrupted" "$d/err.txt"
echo "clickstream: exactly once across $run runs ($mode)"
