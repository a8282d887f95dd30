#!/usr/bin/env bash
# Several commands side by side on one machine, each on its own GPUs, e.g. two suite.py runs of
# different datasets (each starts its own local Ray, which then sees only its GPUs).
#
#   benchmarks/side_by_side.sh JOBS_FILE
#
# JOBS_FILE: one job per line, "GPUS COMMAND..." (GPUS as CUDA_VISIBLE_DEVICES takes it, e.g.
# 0,1); blank lines and lines starting with # are skipped. Job k's output goes to
# $SIDE_BY_SIDE_LOGS/job<k>.log (default /tmp/job/out, where device_job.sh shows the last line of
# every log). Waits for all; exits 0 only if every job did, else with the last failing job's code.
# In a device job: benchmarks/device_job.sh start bash benchmarks/side_by_side.sh FILE
set -u
jobs_file=${1:?usage: $0 JOBS_FILE}
logs=${SIDE_BY_SIDE_LOGS:-/tmp/job/out}
mkdir -p "$logs"
pids=()
k=0
while read -r gpus command; do
    case "$gpus" in "" | "#"*) continue ;; esac
    if [ -z "$command" ]; then
        echo "side_by_side: line '$gpus' has no command" >&2
        exit 2
    fi
    k=$((k + 1))
    echo "side_by_side: job$k on GPUs $gpus: $command"
    CUDA_VISIBLE_DEVICES=$gpus bash -c "$command" > "$logs/job$k.log" 2>&1 < /dev/null &
    pids+=($!)
done < "$jobs_file"
if [ "$k" -eq 0 ]; then
    echo "side_by_side: no jobs in $jobs_file" >&2
    exit 2
fi
rc=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    code=$?
    echo "side_by_side: job$((i + 1)) ended (rc $code)"
    [ "$code" -ne 0 ] && rc=$code
done
exit "$rc"
