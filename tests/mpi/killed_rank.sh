#!/usr/bin/env bash
# A rank of a job dies (SIGKILL) in the middle of a shuffle: the job must end non-zero within
# seconds, no rank may hang, and the output file must not appear.
#
# Usage: killed_rank.sh MPIRUN TEST_PROGRAM WORK_DIR RANKS
set -euo pipefail
mpirun=$1 program=$2 work=$3 ranks=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
rm -rf "$work"
mkdir -p "$work"
export DATAFLOW_KILL_TEST_OUTPUT="$work/out.txt"
start=$(date +%s)
set +e
timeout 120 "$mpirun" --oversubscribe --bind-to none -np "$ranks" "$program" "[.kill]" > "$work/log" 2>&1
status=$?
set -e
elapsed=$(($(date +%s) - start))
if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
  echo "FAIL: a killed rank at -np $ranks: mpirun exited $status after ${elapsed}s" >&2
  tail -20 "$work/log" >&2
  exit 1
fi
if [ -e "$work/out.txt" ] || [ -n "$(ls -A "$work" | grep -v '^log$')" ]; then
  echo "FAIL: a killed job left files behind: $(ls -A "$work")" >&2
  exit 1
fi
echo "a killed rank at -np $ranks ended the job with status $status in ${elapsed}s, nothing written"
