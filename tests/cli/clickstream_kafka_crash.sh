#!/usr/bin/env bash
# clickstream follow --kafka --state, killed with SIGKILL at random moments and restarted while a
# topic of three partitions fills (librdkafka's mock brokers, in a process of their own), counts
# every click exactly once: the last count printed for each window equals the batch count of the
# same clicks. The offsets live in the checkpoints, so nothing is lost or counted twice.
#
# Usage: clickstream_kafka_crash.sh CLICKSTREAM KAFKA_MOCK_BROKER [SEED]
set -euo pipefail
tool=$1
broker_tool=$2
seed=${3:-1}
d=$(mktemp -d)
trap 'kill $(jobs -p) 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$d"' EXIT
RANDOM=$seed

mkdir "$d/log"
"$tool" generate --total 200000 --rate 0 --disorder 5000 --seed "$seed" "$d/log/clicks.log"
# The topic fills at about 100,000 messages a second: two seconds of killing and restarting.
"$broker_tool" --topic clicks --partitions 3 --brokers-file "$d/brokers" --rate 100000 < "$d/log/clicks.log" &
broker=$!
for _ in $(seq 100); do [ -e "$d/brokers" ] && break; sleep 0.1; done
brokers=$(cat "$d/brokers")
follow() {
  exec "$tool" follow --threads 2 --until-idle 3 --trigger 0.02 --checkpoint-every 0.03 --state "$d/state" \
    --kafka "$brokers" --topic clicks
}

run=0
while [ ! -e "$d/brokers.done" ]; do
  kill -0 "$broker" || { echo "clickstream_kafka_crash: the mock broker died" >&2; exit 1; }
  run=$((run + 1))
  follow > "$d/out.$run" 2> "$d/err.$run" &
  pid=$!
  sleep "0.$((RANDOM % 25 + 3))"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
done
run=$((run + 1))
(follow > "$d/out.$run" 2> "$d/err.$run") || { cat "$d/err.$run" >&2; exit 1; }
kill "$broker"
"$tool" batch "$d/log" > "$d/batch.txt"
for ((i = 1; i <= run; i++)); do cat "$d/out.$i"; done \
  | awk -F'\t' '{ last[$1 "\t" $2] = $3 } END { for (k in last) print k "\t" last[k] }' \
  | sort > "$d/stream.txt"
cmp "$d/stream.txt" "$d/batch.txt"
nonempty=$(for ((i = 1; i < run; i++)); do [ -s "$d/out.$i" ] && echo; done | wc -l)
echo "killed runs that printed windows: $nonempty of $((run - 1))"
test "$(ls "$d/state" | grep -c '^checkpoint-')" -le 3
echo "clickstream --kafka: exactly once across $run runs"
