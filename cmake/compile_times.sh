#!/usr/bin/env bash
# Measures what the example tools cost to compile, one file each at -O2 as a user compiles them:
# header-only, and with DATAFLOW_SEPARATE_COMPILATION (the dataflow::compiled target, whose one
# library file is measured once as well). Prints seconds and the compiler's peak memory, medians
# of several runs, as a table.
#
# Usage: bash cmake/compile_times.sh [--runs N] [--tree DIR] [TOOL...]
#   --runs N    runs per figure (default 3)
#   --tree DIR  a checkout to measure instead of this one (an older commit, to compare)
#   TOOL        example tools to compile (default: word_count join_csv)
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
tree=$PWD
tools=()
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --tree) tree="$(cd "$2" && pwd)"; shift ;;
    -*) echo "usage: bash cmake/compile_times.sh [--runs N] [--tree DIR] [TOOL...]" >&2; exit 2 ;;
    *) tools+=("$1") ;;
  esac
  shift
done
((${#tools[@]})) || tools=(word_count join_csv)

bash cmake/deps.sh
cxx=${CXX:-g++}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Prints "seconds MiB" of the median run (by time) of compiling $1 with flags $2...
measure() {
  local src=$1
  shift
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f '%e %M' -o "$scratch/t" "$cxx" -std=c++20 -O2 -I"$tree/include" \
      -I"$tree/examples" "$@" -c "$src" -o "$scratch/o.o"
    cat "$scratch/t"
  done | sort -n | awk -v m=$(((runs + 1) / 2)) 'NR == m { printf "%.2f s %d MiB", $1, $2 / 1024 }'
}

printf '%-28s %-20s %s\n' file header-only "separate compilation"
for tool in "${tools[@]}"; do
  src="$tree/examples/$tool.cpp"
  printf '%-28s %-20s %s\n' "examples/$tool.cpp" "$(measure "$src")" \
    "$(measure "$src" -DDATAFLOW_SEPARATE_COMPILATION)"
done
if [ -f "$tree/include/dataflow/impl/src.hpp" ]; then
  echo '#include <dataflow/impl/src.hpp>' > "$scratch/library.cpp"
  printf '%-28s %-20s %s\n' "the library file (once)" "" \
    "$(measure "$scratch/library.cpp" -DDATAFLOW_SEPARATE_COMPILATION)"
fi
