#!/usr/bin/env bash
# GCIVL seeds (benchmarks/gcivl_check.py) on the last GPUs of one machine and a
# benchmarks/suite.py run on the others, as one job. Start it through benchmarks/device_job.sh
# so that it outlives one device command:
#
#   GCIVL_DATASET=scene-noisy GCIVL_SEEDS=2 benchmarks/device_job.sh start \
#       bash benchmarks/gcivl_beside_suite.sh [MINUTES] [SUITE ARGS...]
#
# MINUTES (default 20) caps each GCIVL run (it then evaluates once more and stops); the suite
# gets its own --max-trial-minutes among SUITE ARGS. Without SUITE ARGS only GCIVL runs.
# GCIVL_WORKERS (default 56) processes generate the GCIVL dataset (GCIVL_EPISODES episodes if
# set, else OGBench's size), GCIVL_EVAL_WORKERS (default 12) step each of its evaluations;
# GCIVL_ARGS are extra benchmarks/gcivl_check.py flags (they override the ones here, e.g.
# "--steps 20 --batch 32" in a CPU check). GCIVL_JOB_DIR (default /tmp/job, device_job.sh's
# folder) holds data/ and out/: out/gcivl-seed<k>/{log.jsonl,results.json} and
# out/gcivl-seed<k>.log, beside whatever the suite writes (give it --out <job dir>/out).
set -u
MINUTES=${1:-20}
shift || true
DATASET=${GCIVL_DATASET:-scene-noisy}
SEEDS=${GCIVL_SEEDS:-2}
JOB=${GCIVL_JOB_DIR:-/tmp/job}
DATA=$JOB/data
OUT=$JOB/out
mkdir -p "$OUT"
GPUS=$(nvidia-smi -L | wc -l)
if [ "$SEEDS" -gt "$GPUS" ]; then echo "GCIVL_SEEDS=$SEEDS > $GPUS GPUs" >&2; exit 2; fi

python -m rllib_tmd.cli make-dataset "$DATASET-v0" --out "$DATA" --workers "${GCIVL_WORKERS:-56}" \
    ${GCIVL_EPISODES:+--episodes "$GCIVL_EPISODES"} || exit 4
for ((s = 0; s < SEEDS; s++)); do
    # shellcheck disable=SC2086  # GCIVL_ARGS is a list of flags
    CUDA_VISIBLE_DEVICES=$((GPUS - SEEDS + s)) python benchmarks/gcivl_check.py \
        --dataset "$DATA/$DATASET-v0" --seed "$s" --steps 1000000 --eval-every 100000 \
        --eval-start 700000 --eval-workers "${GCIVL_EVAL_WORKERS:-12}" --max-minutes "$MINUTES" \
        --out "$OUT/gcivl-seed$s" ${GCIVL_ARGS:-} >"$OUT/gcivl-seed$s.log" 2>&1 &
done
if [ $# -gt 0 ] && [ "$GPUS" -gt "$SEEDS" ]; then
    CUDA_VISIBLE_DEVICES=$(seq -s, 0 $((GPUS - SEEDS - 1))) python benchmarks/suite.py "$@" \
        >"$OUT/suite.log" 2>&1 &
fi
wait
