#!/usr/bin/env bash
# Installs the Debian packages that building dataflow needs, when they are missing.
set -euo pipefail

# librdkafka-dev: the optional Kafka source (dataflow::kafka) and its tests; libcpp-httplib-dev,
# pkg-config and curl: the optional query server (dataflow::http) and its tests; libopenmpi-dev and
# openmpi-bin: the optional MPI layer (dataflow::mpi) and its tests, which start mpirun; libmrmpi-dev:
# MR-MPI, the MPI peer in the benchmarks.
packages=(cmake g++ make ninja-build time libtbb-dev libfmt-dev catch2 libbenchmark-dev gnuplot-nox graphviz
          librdkafka-dev libcpp-httplib-dev pkg-config curl libopenmpi-dev openmpi-bin libmrmpi-dev)

if ! command -v dpkg >/dev/null 2>&1; then
  echo "deps: not a Debian system; make sure these are installed: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
