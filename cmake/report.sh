#!/usr/bin/env bash
# The benchmark report: runs the comparison benchmarks, keeps each one's Google Benchmark JSON
# and a summary table, and draws PNG charts with gnuplot. Installs what is missing.
#
# Usage: bash cmake/report.sh [--quick] [--peers] [--threads 1,2,4] [--out DIR]
#        bash cmake/report.sh --charts-only DIR   (charts from the summaries already in DIR)
# DIR defaults to build/report. --peers also runs the example tools against DuckDB (installed
# from the npm registry) and GNU sort on the same files (benchmarks/tools_peer.sh) and charts
# the ratios: peers.png; and the tools under mpirun against MR-MPI (benchmarks/mpi_peer.sh,
# mpi_peer.txt).
# Charts: <workload>.png (wall time against threads, each variant; the sequential baseline as a
# line), speedup.png (every parallel variant's speedup over its sequential baseline against
# threads), memory.png (peak RSS of every variant against the memory budget).
set -euo pipefail
cd "$(dirname "$0")/.."

quick="" threads="1,2" out="build/report" charts_only="" peers=""
while (($#)); do
  case "$1" in
    --quick) quick="--quick" ;;
    --peers) peers=1 ;;
    --threads) threads="$2"; shift ;;
    --out) out="$2"; shift ;;
    --charts-only) charts_only=1; out="$2"; shift ;;
    *) echo "usage: bash cmake/report.sh [--quick] [--peers] [--threads 1,2,4] [--out DIR] | --charts-only DIR" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out"

if ! command -v gnuplot >/dev/null 2>&1; then
  echo "report: installing gnuplot-nox" >&2
  sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi

if [ -z "$charts_only" ]; then
  # The main job's build and inputs; its benchmarks, each with JSON and a summary.
  DATAFLOW_MAIN_BUILD_ONLY=1 bash cmake/main.sh $quick
  source build/main/bench-env.sh
  export DATAFLOW_BENCH_THREADS="$threads" DATAFLOW_PROGRESS=off
  for b in fusion_bench word_count_bench reduce_by_key_bench join_bench spill_bench; do
    echo "== $b" >&2
    DATAFLOW_BENCH_SUMMARY="$out/$b.tsv" "build/main/benchmarks/$b" \
      --benchmark_repetitions="${DATAFLOW_BENCH_REPETITIONS:-3}" --benchmark_report_aggregates_only=true \
      --benchmark_out="$out/$b.json" --benchmark_out_format=json
  done
  if [ -n "$peers" ]; then
    echo "== tools_peer" >&2
    DATAFLOW_PEER_SUMMARY="$out/peers.tsv" bash benchmarks/tools_peer.sh $quick build/main
    echo "== mpi_peer" >&2
    bash benchmarks/mpi_peer.sh $quick build/main | tee "$out/mpi_peer.txt"
  fi
fi

# One table of every benchmark: workload, variant, threads, seconds, speedup, peak RSS MiB.
find "$out" -maxdepth 1 -name '*.tsv' ! -name all.tsv ! -name peers.tsv -print0 | sort -z | xargs -0 cat > "$out/all.tsv.new"
mv "$out/all.tsv.new" "$out/all.tsv"
[ -s "$out/all.tsv" ] || { echo "report: no benchmark summaries in $out" >&2; exit 1; }

for w in $(cut -f1 "$out/all.tsv" | sort -u); do
  awk -F'\t' -v w="$w" '$1 == w' "$out/all.tsv" > "$out/$w.dat"
  variants=$(awk -F'\t' '$2 != "sequential" {print $2}' "$out/$w.dat" | sort -u)
  seq=$(awk -F'\t' '$2 == "sequential" {print $4; exit}' "$out/$w.dat")
  plot=""
  for v in $variants; do
    plot+="'$out/$w.dat' using (strcol(2) eq '$v' ? \$3 : 1/0):4 with linespoints title '$v', "
  done
  [ -n "$seq" ] && plot+="$seq with lines dashtype 2 title 'sequential', "
  gnuplot <<GP
set terminal pngcairo size 800,500 noenhanced
set output '$out/$w.png'
set datafile separator '\t'
set title '$w: wall time against threads (median)'
set xlabel 'threads'
set ylabel 'seconds'
set yrange [0:*]
set key outside right
set grid
plot ${plot%, }
GP
done

gnuplot <<GP
set terminal pngcairo size 900,550 noenhanced
set output '$out/speedup.png'
set datafile separator '\t'
set title 'speedup over the sequential baseline of the same run (median wall time)'
set xlabel 'threads'
set ylabel 'speedup'
set yrange [0:*]
set key outside right
set grid
plot for [w in "$(awk -F'\t' '$2 != "sequential" && $5 > 0 {print $1"/"$2}' "$out/all.tsv" | sort -u | tr '\n' ' ')"] \
  '$out/all.tsv' using ((strcol(1)."/".strcol(2)) eq w ? \$3 : 1/0):5 with linespoints title w, \
  x with lines dashtype 2 title 'linear'
GP

# Memory: the workloads that have a run under the budget, each of their variants beside it.
awk -F'\t' 'NR == FNR { if ($2 ~ /256M/) budgeted[$1] = 1; next } ($1 in budgeted)' \
  "$out/all.tsv" "$out/all.tsv" > "$out/memory.dat"
[ -s "$out/memory.dat" ] || cp "$out/all.tsv" "$out/memory.dat"
gnuplot <<GP
set terminal pngcairo size 1000,620 noenhanced
set output '$out/memory.png'
set datafile separator '\t'
set title 'peak RSS of the workloads run under a 256 MiB budget, every variant (dashed: the budget)'
set style data histograms
set style fill solid 0.6
set ylabel 'MiB'
set xtics rotate by 50 right font ',9'
set bmargin 13
set lmargin 12
set key off
set grid y
plot '$out/memory.dat' using 6:xtic(sprintf("%s %s %st", stringcolumn(1), stringcolumn(2), stringcolumn(3))), \
  256 with lines dashtype 2 lw 2
GP

# Peers: our ratio against each peer per workload (above 1: we are faster).
if [ -s "$out/peers.tsv" ]; then
  awk -F'\t' '$2 != "ours"' "$out/peers.tsv" > "$out/peers.dat"
  gnuplot <<GP
set terminal pngcairo size 1000,600 noenhanced
set output '$out/peers.png'
set datafile separator '\t'
set title 'the example tools against DuckDB and GNU sort: their time / ours (median; dashed: level)'
set style data histograms
set style fill solid 0.6
set ylabel 'times faster'
set yrange [0:*]
set xtics rotate by 40 right font ',9'
set bmargin 12
set key off
set grid y
plot '$out/peers.dat' using 5:xtic(sprintf("%s vs %s", stringcolumn(1), stringcolumn(2))), 1 with lines dashtype 2 lw 2
GP
fi

echo "report: $(ls "$out"/*.png | wc -l) charts and $(ls "$out"/*.json 2>/dev/null | wc -l) JSON files in $out" >&2
