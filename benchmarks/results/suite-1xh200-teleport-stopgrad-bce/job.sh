#!/usr/bin/env bash
# Session 22's device job (one nvidia-h200, 16 CPUs): two teleport-stitch ablation rows at the
# quickstart's sizes, 1M updates, OGBench's protocol. Started on the device machine as
#   benchmarks/device_job.sh start bash benchmarks/results/suite-1xh200-teleport-stopgrad-bce/job.sh
# 1. the released loss plus the stop-gradient through psi(g) on L_T's online side (the paper's
#    full TMD has it; its "no stop-gradient" row removes it): 2 seeds side by side on the GPU;
# 2. the BCE divergence instead of LINEX: seed 0, alone on the GPU.
set -u
common=(--datasets pointmaze-teleport-stitch --stop-updates 1000000 --eval-every 100000
    --eval-start 0.8 --eval-episodes 50 --workers 14 --data-dir /tmp/job/data
    --snapshot-to /tmp/job/carry
    --override latent_dim=64 'hidden_dims=[256,256]' 'actor_hidden_dims=[256,256]'
    train_batch_size_per_learner=128 action_invariance_weight=1.0 zeta=0.05)
python benchmarks/suite.py "${common[@]}" --seeds 2 --gpus-per-trial 0.5 \
    --max-trial-minutes 16 --storage /tmp/job/runs --out /tmp/job/out/stopgrad \
    --variant stopgrad stopgrad_psi_backup=true
python benchmarks/suite.py "${common[@]}" --seeds 1 --gpus-per-trial 1 \
    --max-trial-minutes 9 --storage /tmp/job/runs2 --out /tmp/job/out/bce \
    --variant bce divergence=bce
