#!/usr/bin/env bash
# One seed of the authors' released TMD agent (JAX) toward 1M updates on our teleport-stitch
# data, one device session at a time (a machine is held 30 minutes at most; their agent runs
# ~165-260 updates/s). Start it through benchmarks/device_job.sh on a one-GPU machine:
#
#   benchmarks/device_job.sh start bash benchmarks/authors_to_1m.sh [MINUTES]
#
# It continues from .authors_ckpt (carried: the checkpoint files the previous session brought
# back) if that holds one, else starts at update 0, and stops after MINUTES (default 24). Its
# checkpoint goes to /tmp/job/carry, which device_job.sh copies into $OUT file by file once the
# job has ended (each file is under the 16 MiB a command brings back); put them into
# .authors_ckpt for the next session. Ray is not needed: carry .whl-env (the env-side wheels of
# .whl, without Ray's), .jaxwhl, .authors and .authors_ckpt, ~59 MiB in all.
#
# SEED (default 0) and AUTHORS_ARGS (default: batch 256, discount 0.995, released loss,
# alpha 0.03, actor goals 50 % random, as authors_vs_ours.sh) must stay the same across sessions.
# Evaluations (ours, OGBench's protocol) every 100k updates go to
# /tmp/job/out/authors-seed<SEED>/{results.json,log.jsonl}.
set -u
MINUTES=${1:-24}
SEED=${SEED:-0}
AUTHORS_ARGS=${AUTHORS_ARGS:---batch 256 --discount 0.995 --alpha 0.03 --actor-p-randomgoal 0.5}
ENV=pointmaze-teleport-stitch-v0
DATA=/tmp/job/data
OUT=/tmp/job/out
mkdir -p "$OUT"
export XLA_PYTHON_CLIENT_PREALLOCATE=false

python -c "import jax, flax, optax, distrax, ml_collections; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())" || exit 3
# the same data every session: the generator's output depends only on (name, episodes, seed)
python -c "from rllib_tmd.data.generate import generate_dataset as g; g('$ENV', '$DATA', workers=16)" || exit 4
RESUME=()
if [ -f .authors_ckpt/authors_run.json ]; then RESUME=(--resume-from .authors_ckpt); fi
# shellcheck disable=SC2086  # AUTHORS_ARGS is a list of flags
python benchmarks/authors_training_run.py --authors-impls .authors/impls \
    --dataset "$DATA/$ENV.npz" $AUTHORS_ARGS --seed "$SEED" --steps 1000000 \
    --eval-every 100000 --eval-workers 14 --max-minutes "$MINUTES" \
    --checkpoint-dir /tmp/job/carry --out "$OUT/authors-seed$SEED" ${RESUME[@]+"${RESUME[@]}"} \
    >"$OUT/authors-seed$SEED.log" 2>&1
