#!/usr/bin/env bash
# A short demonstration of the Lambda architecture on a log directory (no Kafka): generate clicks,
# serve them (follow the log, recompute the batch view, answer HTTP queries), query, grow the log,
# query again. Prints what each step did.
#
# Usage: bash examples/serve_demo.sh BUILD_DIR   (the clickstream tool in BUILD_DIR/examples)
set -euo pipefail
tool="$1/examples/clickstream"
if ! grep -q "serve needs --views" <<<"$("$tool" serve 2>&1 || true)"; then
  echo "serve demo: skipped ($tool was built without cpp-httplib)"
  exit 0
fi
d=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT
mkdir "$d/logs"
step() { echo; echo "-- $*"; }

step "generate: 200,000 clicks into logs/clicks.log"
"$tool" generate --total 200000 --rate 0 --seed 1 "$d/logs/clicks.log"
wc -l "$d/logs/clicks.log"

step "serve: follow logs/, recompute the view clicks_per_url every 2 s, answer on a free port"
"$tool" serve --views "$d/views" --recompute 2 --port 0 --port-file "$d/port" "$d/logs" 2> "$d/serve.log" &
pid=$!
for _ in $(seq 200); do [ -s "$d/port" ] && break; sleep 0.05; done
base="http://127.0.0.1:$(cat "$d/port")"
cat "$d/serve.log"
events() { curl -sf "$base/v1/status" | grep -o '"events":[0-9]*' | head -1 | cut -d: -f2; }
until [ "$(events)" = 200000 ]; do sleep 0.1; done
echo "the speed layer has ingested $(events) events"

step "query: GET /v1/views/clicks_per_url/%2Fpage%2F0 (before any batch view: the speed layer alone)"
curl -sf "$base/v1/views/clicks_per_url/%2Fpage%2F0" | cut -c1-160; echo " ..."
echo "the log says: $(grep -c ' /page/0$' "$d/logs/clicks.log")"

step "recompute: wait for the batch view (every 2 s), which takes over from the speed layer"
until curl -sf "$base/v1/status" | grep -q '"recomputations":[1-9]'; do sleep 0.1; done
curl -sf "$base/v1/status" | grep -o '"view_version":[0-9]*,"view_covers":"[^"]*"' | head -1
curl -sf "$base/v1/status" | grep -o '"speed_keys":[0-9]*' | head -1

step "the log grows by 50,000 clicks; the speed layer takes them at once"
"$tool" generate --total 50000 --rate 0 --seed 2 "$d/logs/clicks.log"
until [ "$(events)" = 250000 ]; do sleep 0.1; done
curl -sf "$base/v1/views/clicks_per_url/%2Fpage%2F0" | grep -o '"value":[0-9]*'
echo "the log says: $(grep -c ' /page/0$' "$d/logs/clicks.log")"

step "top 5: GET /v1/views/clicks_per_url?top=5"
curl -sf "$base/v1/views/clicks_per_url?top=5" | grep -o '"items":\[[^]]*\]'

step "metrics: GET /metrics (excerpt)"
curl -sf "$base/metrics" | grep -v '^#' | head -6

step "stop: SIGTERM"
kill -TERM "$pid"
wait "$pid"
pid=""
tail -2 "$d/serve.log"
