#!/usr/bin/env bash
# clickstream serve on a loopback port, queried with curl: every URL's all-time clicks equal a
# count of the log (awk) while the log grows and the batch view is recomputed and swapped;
# unknown keys and views are 404s, malformed requests 400s, all with JSON errors; /v1/status and
# /metrics report what was ingested; SIGTERM stops it cleanly, and a restart over the same views
# goes on from the newest one, counting every line once.
set -euo pipefail
tool=$1
d=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$d"' EXIT
mkdir "$d/log"

fail() { echo "clickstream_serve: $*" >&2; [ -f "$d/err" ] && cat "$d/err" >&2; exit 1; }

start() {
  rm -f "$d/port"
  "$tool" serve --views "$d/views" --recompute 0.3 --port 0 --port-file "$d/port" --trigger 0.02 --threads 2 \
    "$d/log" 2>> "$d/err" &
  pid=$!
  for _ in $(seq 200); do [ -s "$d/port" ] && break; sleep 0.05; done
  [ -s "$d/port" ] || fail "no port after 10 s"
  base="http://127.0.0.1:$(cat "$d/port")"
}

# A JSON number member of the status: `status_number events`.
status_number() { curl -sf "$base/v1/status" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }

wait_for_events() {
  for _ in $(seq 400); do [ "$(status_number events)" = "$1" ] && return 0; sleep 0.05; done
  fail "the server ingested $(status_number events) lines, not $1"
}

wait_for_recomputations() {
  for _ in $(seq 400); do [ "$(status_number recomputations)" -ge "$1" ] && return 0; sleep 0.05; done
  fail "only $(status_number recomputations) recomputations, not $1"
}

# Every URL of the log answers its count in the log.
counts_match() {
  awk '{c[$3]++} END {for (u in c) print u, c[u]}' "$d"/log/* | sort > "$d/expected"
  while read -r url count; do
    got=$(curl -sf "$base/v1/views/clicks_per_url/${url//\//%2F}" | grep -o '"value":[0-9]*' | cut -d: -f2)
    if [ "$got" != "$count" ]; then
      mismatch="$url: $got clicks, the log has $count"
      return 1
    fi
  done < "$d/expected"
}
check_counts() { counts_match || fail "$mismatch"; }

"$tool" generate --total 20000 --rate 0 --seed 3 "$d/log/a.log"
start
wait_for_events 20000
check_counts
# The log grows while views are recomputed and swapped.
"$tool" generate --total 5000 --rate 20000 --seed 4 "$d/log/a.log"
wait_for_events 25000
wait_for_recomputations 2
check_counts

# The top 3 are the log's.
want=$(sort -k2,2nr -k1,1 "$d/expected" | head -3 | awk '{printf "%s{\"key\":\"%s\",\"value\":%s}", (NR>1?",":""), $1, $2}')
curl -sf "$base/v1/views/clicks_per_url?top=3" | grep -qF "{\"items\":[$want]," || fail "top 3 is not [$want]"

# Errors.
code() { curl -s -o "$d/body" -w '%{http_code}' "$base$1"; }
[ "$(code /v1/views/clicks_per_url/%2Fnowhere)" = 404 ] && grep -q '"error":"no key /nowhere"' "$d/body" || fail "unknown key"
[ "$(code /v1/views/nothing/x)" = 404 ] && grep -q '"error":"no view nothing"' "$d/body" || fail "unknown view"
[ "$(code '/v1/views/clicks_per_url?top=x')" = 400 ] && grep -q '"error":"top needs a count' "$d/body" || fail "bad top"
[ "$(code /nothing)" = 404 ] && grep -q '"error"' "$d/body" || fail "unknown path"

# Status and metrics.
curl -sf "$base/v1/status" | grep -q '"views":{"clicks_per_url":{"view_version":' || fail "status"
curl -sf "$base/metrics" | grep -qx 'dataflow_view_events_total{view="clicks_per_url"} 25000' || fail "metrics"

# SIGTERM stops it cleanly.
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? on SIGTERM"
pid=""
grep -q "SIGTERM: stopping" "$d/err" || fail "no stopping message"

# A restart goes on from the newest view: lines appended meanwhile are counted once.
"$tool" generate --total 3000 --rate 0 --seed 5 "$d/log/a.log"
start
grep -q "resuming from view version" "$d/err" || fail "the restart did not resume from a view"
wait_for_recomputations 1
matched=""
for _ in $(seq 100); do
  if counts_match; then matched=1; break; fi
  sleep 0.1
done
[ -n "$matched" ] || fail "after the restart: $mismatch"
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? on SIGTERM"
pid=""
