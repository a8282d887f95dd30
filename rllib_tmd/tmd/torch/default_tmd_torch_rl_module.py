"""Torch networks of TMD: the critic (encoders psi, phi and a quasimetric head) and the actor.

``forward_train`` computes every distance the losses need (so that DDP sees one forward
call per update); the learner turns them into losses.
"""

from __future__ import annotations

import contextlib
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.models.torch.torch_distributions import TorchDiagGaussian
from torch import nn

from rllib_tmd.quasimetric import make_quasimetric
from rllib_tmd.tmd.default_tmd_rl_module import (
    ACTIONS,
    ACTOR_GOALS,
    ACTOR_LOG_STD,
    ACTOR_MEAN,
    CONTRASTIVE_OFFSET,
    DIST_CONTRASTIVE,
    DIST_NEXT_G,
    DIST_S_SA,
    DIST_SA_G,
    DIST_SA_G_BACKUP,
    NEXT_OBS,
    OBS,
    Q_ACTOR,
    VALUE_GOALS,
    resolve_model_config,
)
from rllib_tmd.tmd.torch.distributed import all_gather_with_grad, data_parallel_rank_and_size
from rllib_tmd.tmd.torch.networks import MLP, EnsembleMLP


def uses_bf16(cfg: dict[str, Any]) -> bool:
    """Whether the MLPs' hidden layers run under bf16 autocast (``mixed_precision``)."""
    return cfg["mixed_precision"] == "bf16"


class TMDCritic(nn.Module):
    """Ensemble of (psi, phi) encoder pairs sharing one quasimetric head.

    ``psi(s)``: ``[B, obs_dim] -> [E, B, D]``; ``phi(s, a)``: ``[B, obs+act] -> [E, B, D]``.
    ``forward(obs, actions, goals)`` is ``Q = -d(phi(s, a), psi(g))`` with shape ``[E, B]``.
    """

    def __init__(self, obs_dim: int, act_dim: int, cfg: dict[str, Any]) -> None:
        super().__init__()
        e, hidden, latent = cfg["ensemble_size"], cfg["hidden_dims"], cfg["latent_dim"]
        mlp_kwargs = {"layer_norm": cfg["layer_norm"], "bf16_hidden": uses_bf16(cfg)}
        self.psi = EnsembleMLP(e, obs_dim, hidden, latent, **mlp_kwargs)
        self.phi = EnsembleMLP(e, obs_dim + act_dim, hidden, latent, **mlp_kwargs)
        head_kwargs: dict[str, Any] = {
            "num_components": cfg["quasimetric_components"],
            "impl": cfg["quasimetric_impl"],
        }
        if cfg["quasimetric"] == "mrn":
            head_kwargs.update(variant=cfg["mrn_variant"])
        self.head = make_quasimetric(cfg["quasimetric"], latent, **head_kwargs)

    def encode_state_action(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.phi(torch.cat([obs, actions], dim=-1))

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor
    ) -> torch.Tensor:
        return -self.head.elementwise(self.encode_state_action(obs, actions), self.psi(goals))

    def state_distance(
        self, obs: torch.Tensor, goals: torch.Tensor, pairwise: bool = False
    ) -> torch.Tensor:
        """``d(psi(s), psi(g))`` per member, the negated value ``V(s, g)``.

        ``obs`` [N, obs_dim], ``goals`` [N, obs_dim] -> [E, N]; with ``pairwise``,
        ``goals`` [M, obs_dim] -> [E, N, M] (every state to every goal).
        """
        z_obs, z_goals = self.psi(obs), self.psi(goals)
        if pairwise:
            return self.head.pairwise(z_obs, z_goals)
        return self.head.elementwise(z_obs, z_goals)


class DefaultTMDTorchRLModule(TorchRLModule):
    """TMD's RLModule. Observation = ``concat(state, goal)``; actions in ``[-1, 1]``."""

    framework: str = "torch"

    def setup(self) -> None:
        cfg = resolve_model_config(self.model_config)
        if not isinstance(self.action_space, gym.spaces.Box):
            raise ValueError(f"TMD needs a continuous (Box) action space, got {self.action_space}")
        width = int(self.observation_space.shape[0])
        if width % 2:
            raise ValueError(
                f"TMD's observation is concat(state, goal); its width must be even, got {width}"
            )
        self.obs_dim = width // 2
        self.act_dim = int(self.action_space.shape[0])
        self.stopgrad_psi_backup = bool(cfg["stopgrad_psi_backup"])
        self.stopgrad_backup_target = bool(cfg["stopgrad_backup_target"])
        self.global_negatives = bool(cfg["global_negatives"])
        self.actor = MLP(
            2 * self.obs_dim,
            cfg["actor_hidden_dims"],
            self.act_dim,
            layer_norm=cfg["actor_layer_norm"],
            final_init_scale=1e-2,
            bf16_hidden=uses_bf16(cfg),
        )
        if cfg["actor_const_std"]:
            self.register_buffer("log_std", torch.zeros(self.act_dim))
        else:
            self.log_std = nn.Parameter(torch.zeros(self.act_dim))
        if not self.inference_only:
            self.critic = TMDCritic(self.obs_dim, self.act_dim, cfg)

    def get_non_inference_attributes(self) -> list[str]:
        return ["critic"]

    # ---- policy -------------------------------------------------------------------
    def actor_mean(self, obs: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Unsquashed Gaussian mean ``[B, A]`` of pi(. | s, g)."""
        return self.actor(torch.cat([obs, goals], dim=-1))

    @torch.no_grad()
    def act(self, obs: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
        """Deterministic action ``clip(mode, -1, 1)``: ``[B, obs], [B, obs] -> [B, A]``."""
        return self.actor_mean(obs, goals).clamp(-1.0, 1.0)

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        obs, goals = torch.split(batch[Columns.OBS], self.obs_dim, dim=-1)
        mean = self.actor_mean(obs, goals)
        log_std = self.log_std.expand_as(mean)
        return {
            Columns.ACTIONS: mean.clamp(-1.0, 1.0),
            Columns.ACTION_DIST_INPUTS: torch.cat([mean, log_std], dim=-1),
        }

    def _forward_exploration(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._forward_inference(batch, **kwargs)

    def get_inference_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    def get_exploration_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    def get_train_action_dist_cls(self) -> type[TorchDiagGaussian]:
        return TorchDiagGaussian

    # ---- training -----------------------------------------------------------------
    def _frozen_critic_q(
        self, obs: torch.Tensor, actions: torch.Tensor, goals: torch.Tensor
    ) -> torch.Tensor:
        """Q ``[E, B]`` with the critic's parameters detached: gradients reach only ``actions``."""
        frozen = {name: p.detach() for name, p in self.critic.named_parameters()}
        frozen.update(dict(self.critic.named_buffers()))
        return torch.func.functional_call(self.critic, frozen, (obs, actions, goals))

    def _contrastive_distances(
        self, phi_sa: torch.Tensor, psi_g: torch.Tensor
    ) -> tuple[torch.Tensor, int]:
        """``(D [E, M, B], offset)``: distances from the contrastive candidates to this
        learner's goals; this learner's own ``B`` rows start at ``offset``.

        One learner (or ``global_negatives`` off): ``M = B``, offset 0. With ``N`` DDP learners
        and ``global_negatives``: the state-action embeddings of all learners, gathered with
        gradients, ``M = N * B``, offset ``rank * B``.
        """
        rank, size = data_parallel_rank_and_size()
        if not self.global_negatives or size == 1:
            return self.critic.head.pairwise(phi_sa, psi_g), 0
        candidates = all_gather_with_grad(phi_sa, dim=1)
        return self.critic.head.pairwise(candidates, psi_g), rank * phi_sa.shape[1]

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """All distances of spec §2–§3 for one batch of ``B`` transitions with goals: the
        critic's (:meth:`forward_critic`) and the actor's (:meth:`forward_actor`)."""
        return {**self.forward_critic(batch), **self.forward_actor(batch)}

    def forward_critic(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The distances of the critic's losses (spec §2). Gradients reach only the critic."""
        obs, actions = batch[OBS], batch[ACTIONS]
        critic, head = self.critic, self.critic.head
        psi_s, psi_g = critic.psi(torch.cat([obs, batch[VALUE_GOALS]])).chunk(2, dim=1)
        phi_sa = critic.encode_state_action(obs, actions)
        dist_contrastive, offset = self._contrastive_distances(phi_sa, psi_g)
        dist_sa_g = dist_contrastive.narrow(1, offset, phi_sa.shape[1])
        if self.stopgrad_psi_backup:
            dist_sa_g_backup = head.pairwise(phi_sa, psi_g.detach())
        else:
            dist_sa_g_backup = dist_sa_g
        with torch.no_grad() if self.stopgrad_backup_target else contextlib.nullcontext():
            dist_next_g = head.pairwise(critic.psi(batch[NEXT_OBS]), psi_g)
        return {
            DIST_CONTRASTIVE: dist_contrastive,
            CONTRASTIVE_OFFSET: offset,
            DIST_SA_G: dist_sa_g,
            DIST_SA_G_BACKUP: dist_sa_g_backup,
            DIST_NEXT_G: dist_next_g,
            DIST_S_SA: head.elementwise(psi_s, phi_sa),
        }

    def forward_actor(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The policy's outputs and its Q under the frozen critic (spec §3). Gradients reach
        only the actor (and ``log_std``), so this and :meth:`forward_critic` share no
        autograd graph and may run (and be differentiated) independently."""
        obs, actor_goals = batch[OBS], batch[ACTOR_GOALS]
        mean = self.actor_mean(obs, actor_goals)
        return {
            Q_ACTOR: self._frozen_critic_q(obs, mean.clamp(-1.0, 1.0), actor_goals),
            ACTOR_MEAN: mean,
            ACTOR_LOG_STD: self.log_std.expand_as(mean),
        }
