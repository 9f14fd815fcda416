#!/usr/bin/env bash
# Fuzzes the CSV field parser, read_lines chunking, the codecs' decode and the spill block reader
# with libFuzzer (clang, ASan and UBSan), each for SECONDS (default 120), starting from the kept
# corpus in tests/fuzz/corpus/<target>. New inputs that reach new code are merged back into the
# corpus (minimized), and any crash or wrong answer is kept there too, so that the ordinary test
# run (tests/fuzz/corpus_test.cpp) replays them. Not part of cmake/test.sh: it takes minutes.
#
# Usage: bash cmake/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-120}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(csv_fields read_lines_chunking codec_decode spill_blocks)

bash cmake/deps.sh
if ! command -v clang++ >/dev/null 2>&1; then
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang >/dev/null
fi

build=build/fuzz
mkdir -p "$build"
status=0
for t in "${targets[@]}"; do
  bin="$build/$t"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DFUZZ_TARGET="\"$t\"" -Iinclude -Itests tests/fuzz/fuzz_main.cpp -o "$bin" -ltbb -lfmt
  corpus=tests/fuzz/corpus/$t
  fresh="$build/$t-new"
  mkdir -p "$corpus" "$fresh"
  echo "== $t: ${seconds}s" >&2
  if ! DATAFLOW_PROGRESS=off "$bin" "$fresh" "$corpus" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=4096 -artifact_prefix="$corpus/crash-" -print_final_stats=1 2> "$build/$t.log"; then
    echo "fuzz: $t failed; the input is kept in $corpus (see $build/$t.log)" >&2
    tail -40 "$build/$t.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$t.log" >&2 || true
  # Keep the smallest set of inputs that covers what the run reached.
  "$bin" -merge=1 "$corpus" "$fresh" 2>/dev/null >&2 || true
  rm -rf "$fresh"
  echo "fuzz: $t: $(ls "$corpus" | wc -l) inputs in $corpus" >&2
done
exit $status
