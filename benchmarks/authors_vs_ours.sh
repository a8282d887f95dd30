#!/usr/bin/env bash
# The authors' released TMD agent (JAX) and ours side by side on one multi-GPU machine, on the
# same generated dataset and settings: the authors' on GPUs 0..N-2 (one seed each,
# benchmarks/authors_training_run.py), ours on the last GPU (benchmarks/suite.py, two seeds
# sharing it). Start it through benchmarks/device_job.sh so that it outlives one device command:
#
#   benchmarks/device_job.sh start bash benchmarks/authors_vs_ours.sh [MINUTES] [EXTRA...]
#
# MINUTES (default 23) caps every run; EXTRA are KEY=VALUE settings of ours, and the same
# settings must be given to the authors' side through AUTHORS_ARGS (default: the paper's batch
# 256 and discount 0.995 on the released loss, alpha 0.03, actor goals 50 % random, as the
# tuned example). AVO_DATASET picks the dataset (default pointmaze-teleport-stitch; the
# settings above are teleport-stitch's, so give both sides' settings for another one) and
# AVO_WORKERS the processes that generate it (default 16). Needs .authors/impls (the authors'
# impls folder), the JAX-side wheels installed (.jaxwhl: distrax, tfp-nightly, ml_collections,
# decorator, gast) and rllib_tmd on PYTHONPATH. Writes under /tmp/job/out:
# authors-seed<k>/{log.jsonl,results.json}, a log per authors' run, and suite.json / curves/
# for ours.
set -u
MINUTES=${1:-23}
shift || true
OURS=("$@")
[ ${#OURS[@]} -eq 0 ] && OURS=(train_batch_size_per_learner=256 gamma=0.995)
AUTHORS_ARGS=${AUTHORS_ARGS:---batch 256 --discount 0.995 --alpha 0.03 --actor-p-randomgoal 0.5}
DATASET=${AVO_DATASET:-pointmaze-teleport-stitch}
ENV=$DATASET-v0
DATA=/tmp/job/data
OUT=/tmp/job/out
mkdir -p "$OUT"
GPUS=$(nvidia-smi -L | wc -l)
export XLA_PYTHON_CLIENT_PREALLOCATE=false

python -c "import jax, flax, optax, distrax, ml_collections; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())" || exit 3
python -m rllib_tmd.cli make-dataset "$ENV" --out "$DATA" --workers "${AVO_WORKERS:-16}" || exit 4

for ((g = 0; g < GPUS - 1; g++)); do
    # shellcheck disable=SC2086  # AUTHORS_ARGS is a list of flags
    CUDA_VISIBLE_DEVICES=$g python benchmarks/authors_training_run.py \
        --authors-impls .authors/impls --dataset "$DATA/$ENV.npz" $AUTHORS_ARGS \
        --seed "$g" --steps 1000000 --eval-every 50000 --eval-workers 8 \
        --max-minutes "$MINUTES" --out "$OUT/authors-seed$g" >"$OUT/authors-seed$g.log" 2>&1 &
done
CUDA_VISIBLE_DEVICES=$((GPUS - 1)) python benchmarks/suite.py --datasets "$DATASET" \
    --seeds 2 --gpus-per-trial 0.5 --stop-updates 1000000 --max-trial-minutes "$MINUTES" \
    --data-dir "$DATA" --workers "${AVO_WORKERS:-16}" --eval-workers 8 --override "${OURS[@]}" \
    --storage /tmp/job/runs --out "$OUT" >"$OUT/ours.log" 2>&1 &
wait
