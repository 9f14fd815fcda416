#!/usr/bin/env bash
# Builds dataflow in Release and runs every test (unit, examples, command lines, compile-fail
# checks, package consumers). Installs what is missing first.
#
# Usage: bash cmake/test.sh [--sanitize address|thread]
#   --sanitize address   the whole suite under AddressSanitizer and UndefinedBehaviorSanitizer
#   --sanitize thread    the whole suite under ThreadSanitizer (with oneTBB rebuilt under it too:
#                        cmake/tsan_tbb.sh)
# (each in a build folder of its own, at -O1 with frame pointers, so reports show every frame)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
while (($#)); do
  case "$1" in
    --sanitize) sanitize="${2:-}"; shift ;;
    *) echo "usage: bash cmake/test.sh [--sanitize address|thread]" >&2; exit 2 ;;
  esac
  shift
done

bash cmake/deps.sh

build=build/test
type=Release
flags=""
link=""
extra=()
case "$sanitize" in
  "") ;;
  address)
    build=build/test-asan type=RelWithDebInfo
    flags="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" ;;
  thread)
    build=build/test-tsan type=RelWithDebInfo
    # against a oneTBB built with ThreadSanitizer too, so that its synchronisation is seen
    tbb=$(bash cmake/tsan_tbb.sh build/tbb-tsan)
    flags="-O1 -fno-omit-frame-pointer -fsanitize=thread"
    link="-Wl,-rpath,$tbb/lib"
    extra=(-DTBB_DIR="$tbb/lib/cmake/TBB")
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}" ;;
  *) echo "test: --sanitize takes address or thread, not '$sanitize'" >&2; exit 2 ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags $link" "${extra[@]}" \
  -DDATAFLOW_BUILD_TESTS=ON -DDATAFLOW_BUILD_EXAMPLES=ON -DDATAFLOW_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout "${DATAFLOW_TEST_TIMEOUT:-600}"
