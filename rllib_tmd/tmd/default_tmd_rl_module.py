"""Framework-free part of TMD's RLModule: observation layout and model-config keys.

The module's observation is ``concat(state, goal)`` (width ``2 * obs_dim``), the layout
that :class:`rllib_tmd.envs.ogbench_env.OGBenchGoalEnv` produces, so that RLlib's
env runners and our own evaluation can both call ``forward_inference`` directly.
"""

from __future__ import annotations

from typing import Any

# Keys of `model_config` that the TMD module reads, with their code defaults (spec §1, §3).
DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "latent_dim": 512,
    "hidden_dims": (512, 512, 512),
    "layer_norm": True,
    "ensemble_size": 2,
    "quasimetric": "mrn",
    "quasimetric_components": 8,
    "mrn_variant": "max+l2",
    "quasimetric_impl": "auto",
    "actor_hidden_dims": (512, 512, 512),
    "actor_layer_norm": False,
    "actor_const_std": True,
    "stopgrad_psi_backup": False,
    # L_T's target d(psi(s'), psi(g)) under stop-gradient (spec §2.3; the released code). False:
    # L_T differentiates its target too (a full-gradient backup), an ablation testing another
    # reading of the paper's "no stop-gradient in L_T" row (RESULTS.md, session 22).
    "stopgrad_backup_target": True,
    # Data-parallel only: the contrastive loss of each learner sees the state-actions of all
    # learners (N x B candidates per goal) instead of its own B (rllib_tmd.tmd.torch.distributed).
    "global_negatives": False,
    # "bf16": the MLPs' hidden layers under bf16 autocast; their output layers, the latents,
    # the quasimetric heads and the losses stay float32 ("none": everything float32).
    "mixed_precision": "none",
}

# Keys of the dict that `forward_train` returns (consumed by the learner's losses).
DIST_SA_G = "dist_sa_g"  # [E, B, B]  d(phi(s_i, a_i), psi(g_j))
DIST_SA_G_BACKUP = "dist_sa_g_backup"  # [E, B, B]  same, psi(g) optionally stop-grad
DIST_NEXT_G = "dist_next_g"  # [E, B, B]  d(psi(s'_i), psi(g_j)), stop-grad (stopgrad_backup_target)
# [E, M, B] d(phi(s_i, a_i), psi(g_j)) over the M candidate state-actions of the contrastive
# loss (M = B, or N * B with global negatives); goal j's positive is row j + the offset below.
DIST_CONTRASTIVE = "dist_contrastive"
CONTRASTIVE_OFFSET = "contrastive_offset"  # int
DIST_S_SA = "dist_s_sa"  # [E, B]     d(psi(s_i), phi(s_i, a_i))
Q_ACTOR = "q_actor"  # [E, B]     -d(phi(s, a_pi), psi(g_actor)), critic frozen
ACTOR_MEAN = "actor_mean"  # [B, A]
ACTOR_LOG_STD = "actor_log_std"  # [B, A]

# Batch keys produced by the goal samplers (rllib_tmd.data.samplers).
OBS, ACTIONS, NEXT_OBS = "obs", "actions", "next_obs"
VALUE_GOALS, ACTOR_GOALS = "value_goals", "actor_goals"


def resolve_model_config(model_config: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with the TMD keys of ``model_config``.

    RLlib merges its own generic keys into every module's model config; those are
    ignored here. User-facing validation of these keys happens in ``TMDConfig``.
    """
    model_config = dict(model_config or {})
    return {k: model_config.get(k, v) for k, v in DEFAULT_MODEL_CONFIG.items()}
