#!/usr/bin/env bash
# Builds oneTBB under ThreadSanitizer and prints its install prefix.
#
# Usage: bash cmake/tsan_tbb.sh DIR
#
# ThreadSanitizer sees only the synchronisation of instrumented code. Debian's libtbb is not
# instrumented, so every hand-off between TBB workers (a task's stack frame reused after a join,
# a blocked_range split, task_arena setup) would be reported as a race in our code. This builds
# the same oneTBB version as the installed libtbb-dev, from Debian's own source archive (checked
# against the SHA-256 that the Sources index gives), with TBB_SANITIZE=thread, once per DIR.
set -euo pipefail

dir=${1:?usage: bash cmake/tsan_tbb.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
prefix=$dir/install

version=$(dpkg-query -W -f='${Version}' libtbb-dev)
if [ -f "$prefix/version" ] && [ "$(cat "$prefix/version")" = "$version" ]; then
  echo "$prefix"
  exit 0
fi

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

echo "tsan_tbb: building oneTBB $version with -fsanitize=thread in $dir" >&2
rm -rf "$dir/src" "$dir/build" "$prefix"
mkdir -p "$dir/src"
curl -fsS -o "$dir/Sources.xz" "$mirror/dists/$suite/main/source/Sources.xz"
entry=$(xz -dc "$dir/Sources.xz" |
  awk -v v="$version" '/^Package: onetbb$/ {p = 1} p && /^Version:/ {ok = ($2 == v)}
                       p && /^$/ {p = 0} p && ok')
rm -f "$dir/Sources.xz"
pool=$(awk '/^Directory:/ {print $2}' <<<"$entry")
read -r sha _ orig < <(awk '/^Checksums-Sha256:/ {s = 1; next} s && /orig\.tar/ {print $1, $2, $3; exit}' <<<"$entry") || true
if [ -z "$pool" ] || [ -z "${orig:-}" ]; then
  echo "tsan_tbb: the Sources index of $mirror has no onetbb $version" >&2
  exit 1
fi

curl -fsS -o "$dir/$orig" "$mirror/$pool/$orig"
echo "$sha  $dir/$orig" | sha256sum -c --quiet -
tar -xf "$dir/$orig" -C "$dir/src" --strip-components=1
rm -f "$dir/$orig"

cmake -S "$dir/src" -B "$dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_EXAMPLES=OFF -DTBBMALLOC_BUILD=OFF -DTBB_STRICT=OFF \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$dir/build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
cmake --install "$dir/build" >/dev/null
echo "$version" >"$prefix/version"
echo "$prefix"
