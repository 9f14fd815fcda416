#!/usr/bin/env bash
# Builds dataflow in Release and runs every test (unit, examples, command lines, compile-fail
# checks, package consumers). Installs what is missing first. Usage: bash cmake/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/deps.sh

build=build/test
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDATAFLOW_BUILD_TESTS=ON -DDATAFLOW_BUILD_EXAMPLES=ON -DDATAFLOW_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 600
