"""TMD's losses (spec §2–§3) as small pure functions, and the torch learner composing them.

Shapes: ``E`` ensemble members, ``B`` batch size, ``A`` action width. Distances come from
the RLModule's ``forward_train`` (see ``default_tmd_rl_module`` for the keys).
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.metrics import ALL_MODULES

from rllib_tmd.tmd import tmd_learner as keys
from rllib_tmd.tmd.default_tmd_rl_module import (
    ACTIONS,
    ACTOR_LOG_STD,
    ACTOR_MEAN,
    CONTRASTIVE_OFFSET,
    DIST_CONTRASTIVE,
    DIST_NEXT_G,
    DIST_S_SA,
    DIST_SA_G,
    DIST_SA_G_BACKUP,
    Q_ACTOR,
)
from rllib_tmd.tmd.tmd_learner import NonFiniteLossError, TMDLearner, build_learner_sampler
from rllib_tmd.tmd.torch.distributed import average_gradients_, broadcast_parameters_
from rllib_tmd.tmd.torch.fast_update import (
    Branch,
    ChunkedBatches,
    FastUpdater,
    TermHistory,
    batch_nbytes,
    chunk_capacity,
    lean_path_blocker,
    options_for_learner,
    set_capturable,
)

logger = logging.getLogger(__name__)
Tensor = torch.Tensor
DIVERGENCES = ("linex", "mse", "bce")


# ---- critic ---------------------------------------------------------------------------
def contrastive_loss(dist: Tensor, latent_dim: int, offset: int = 0) -> tuple[Tensor, Tensor]:
    """Backward InfoNCE (spec §2.1). ``dist[e, i, j] = d(phi(s_i, a_i), psi(g_j))``, ``[E, M, B]``.

    For every goal ``j`` a softmax over the ``M`` candidate state-actions ``i`` of
    ``-D / sqrt(D)``, cross-entropy with target ``i = j + offset`` (``M = B``, offset 0: the
    usual diagonal; ``M = N * B`` with global negatives). Returns (loss, top-1 accuracy).
    """
    logits = -dist / math.sqrt(latent_dim)
    goals = torch.arange(dist.shape[-1], device=dist.device)
    # log softmax_i at the positive, without materialising [E, M, B] log-probabilities
    positives = logits[:, goals + offset, goals]
    loss = (torch.logsumexp(logits, dim=1) - positives).mean()
    accuracy = (logits.argmax(dim=1) == goals + offset).float().mean()
    return loss, accuracy


def action_invariance_loss(dist_s_sa: Tensor) -> Tensor:
    """``L_I = mean_i d(psi(s_i), phi(s_i, a_i))`` (spec §2.2, diagonal form); ``[E, B] -> []``."""
    return dist_s_sa.mean()


def linex_divergence(online: Tensor, target: Tensor, gamma: float, threshold: float) -> Tensor:
    """Bregman/LINEX divergence of spec §2.3, elementwise.

    ``delta = online - target``; ``delta`` where ``delta > threshold`` (linear tail),
    else ``gamma * exp(delta) - online``.
    """
    delta = online - target
    exp_branch = gamma * torch.exp(delta.clamp(max=threshold)) - online
    return torch.where(delta > threshold, delta, exp_branch)


def squared_error_divergence(online: Tensor, target: Tensor, gamma: float) -> Tensor:
    """Ablation: ``(exp(-d) - gamma * exp(-d'))^2`` elementwise."""
    return (torch.exp(-online) - gamma * torch.exp(-target)) ** 2


def bce_divergence(online: Tensor, target: Tensor, gamma: float) -> Tensor:
    """Ablation: cross-entropy between ``p = gamma * exp(-d')`` and ``q = exp(-d)``.

    ``log(1 - q)`` is floored at ``log(1e-6)`` (``d`` near 0), where its gradient is cut.
    """
    p = gamma * torch.exp(-target)
    log_q = -online
    log_one_minus_q = torch.log((-torch.expm1(-online)).clamp(min=1e-6))
    return -(p * log_q + (1.0 - p) * log_one_minus_q)


def mix_with_diagonal(div: Tensor, diag_weight: float) -> Tensor:
    """``div_ij <- (1 - w) div_ij + w div_ii`` (diagonal broadcast along row i); ``[E,B,B]``."""
    diagonal = torch.diagonal(div, dim1=1, dim2=2).unsqueeze(-1)
    return (1.0 - diag_weight) * div + diag_weight * diagonal


def temporal_invariance_loss(
    online: Tensor,
    target: Tensor,
    gamma: float,
    threshold: float,
    diag_weight: float,
    divergence: str = "linex",
    differentiate_target: bool = False,
) -> Tensor:
    """``L_T`` (spec §2.3): mean of the diagonal-mixed divergence between ``D`` and ``D'``.

    ``online = D [E, B, B]``; ``target = D' [E, B, B]`` is treated as a constant unless
    ``differentiate_target`` (the ``stopgrad_backup_target=False`` ablation).
    """
    if not differentiate_target:
        target = target.detach()
    if divergence == "linex":
        div = linex_divergence(online, target, gamma, threshold)
    elif divergence == "mse":
        div = squared_error_divergence(online, target, gamma)
    elif divergence == "bce":
        div = bce_divergence(online, target, gamma)
    else:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    return mix_with_diagonal(div, diag_weight).mean()


# ---- actor ----------------------------------------------------------------------------
def gaussian_log_prob(actions: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """Diagonal-Gaussian log-density of ``actions``: ``[B, A] -> [B]``."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def actor_loss(
    q: Tensor, mean: Tensor, log_std: Tensor, data_actions: Tensor, alpha: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Spec §3: ``-mean(q) / sg(mean|q| + 1e-6) - alpha * mean(log pi(a_data | s, g))``.

    ``q [E, B]`` (min over the ensemble is taken here). Returns
    (loss, q term, behaviour-cloning term, mean |q|).
    """
    q_min = q.min(dim=0).values
    mean_abs_q = q_min.abs().mean().detach()
    q_term = -q_min.mean() / (mean_abs_q + 1e-6)
    bc_term = -alpha * gaussian_log_prob(data_actions, mean, log_std).mean()
    return q_term + bc_term, q_term, bc_term, mean_abs_q


def action_mse(mean: Tensor, data_actions: Tensor) -> Tensor:
    """Diagnostic: mean squared distance between the policy's deterministic action
    ``clip(mean, -1, 1)`` and the dataset's action, ``[B, A], [B, A] -> []`` (summed over the
    action dims). Growing over training means the actor leaves the data's actions."""
    return (mean.detach().clamp(-1.0, 1.0) - data_actions).pow(2).sum(-1).mean()


def pair_distance_means(dist: Tensor) -> tuple[Tensor, Tensor]:
    """Mean distance of positive (diagonal) and negative (off-diagonal) pairs of ``[E,B,B]``."""
    b = dist.shape[-1]
    positive = torch.diagonal(dist, dim1=1, dim2=2).mean()
    negative = (dist.sum(dim=(1, 2)) - torch.diagonal(dist, dim1=1, dim2=2).sum(-1)).mean()
    return positive, negative / max(b * (b - 1), 1)


def critic_loss_terms(fwd_out: dict[str, Tensor], hp: dict[str, Any]) -> dict[str, Tensor]:
    """The critic's terms (spec §2) from ``forward_critic``'s distances; ``hp`` holds
    latent_dim, gamma, zeta, the weights, linex_threshold, diag_backup, divergence,
    stopgrad_backup_target."""
    l_nce, accuracy = contrastive_loss(
        fwd_out[DIST_CONTRASTIVE], hp["latent_dim"], fwd_out[CONTRASTIVE_OFFSET]
    )
    l_i = action_invariance_loss(fwd_out[DIST_S_SA])
    l_t = temporal_invariance_loss(
        fwd_out[DIST_SA_G_BACKUP],
        fwd_out[DIST_NEXT_G],
        gamma=hp["gamma"],
        threshold=hp["linex_threshold"],
        diag_weight=hp["diag_backup"],
        divergence=hp["divergence"],
        differentiate_target=not hp["stopgrad_backup_target"],
    )
    critic = (
        hp["contrastive_weight"] * l_nce + hp["action_invariance_weight"] * l_i + hp["zeta"] * l_t
    )
    positive, negative = pair_distance_means(fwd_out[DIST_SA_G].detach())
    return {
        keys.CONTRASTIVE_LOSS: l_nce,
        keys.ACTION_INVARIANCE_LOSS: l_i,
        keys.TEMPORAL_INVARIANCE_LOSS: l_t,
        keys.CRITIC_LOSS: critic,
        keys.CONTRASTIVE_ACCURACY: accuracy,
        keys.MEAN_DIST_POSITIVE: positive,
        keys.MEAN_DIST_NEGATIVE: negative,
    }


def actor_loss_terms(
    fwd_out: dict[str, Tensor], data_actions: Tensor, hp: dict[str, Any]
) -> dict[str, Tensor]:
    """The actor's terms (spec §3) from ``forward_actor``'s outputs; ``hp["alpha"]``."""
    l_actor, q_term, bc_term, mean_abs_q = actor_loss(
        fwd_out[Q_ACTOR], fwd_out[ACTOR_MEAN], fwd_out[ACTOR_LOG_STD], data_actions, hp["alpha"]
    )
    return {
        keys.ACTOR_Q_LOSS: q_term,
        keys.ACTOR_BC_LOSS: bc_term,
        keys.ACTOR_LOSS: l_actor,
        keys.MEAN_ABS_Q: mean_abs_q,
        keys.ACTOR_ACTION_MSE: action_mse(fwd_out[ACTOR_MEAN], data_actions),
    }


def tmd_loss_terms(
    fwd_out: dict[str, Tensor], data_actions: Tensor, hp: dict[str, Any]
) -> dict[str, Tensor]:
    """Every term of one update: the critic's, the actor's and their sum ``total_loss``."""
    terms = {**critic_loss_terms(fwd_out, hp), **actor_loss_terms(fwd_out, data_actions, hp)}
    terms[keys.TOTAL_LOSS] = terms[keys.CRITIC_LOSS] + terms[keys.ACTOR_LOSS]
    return terms


def forward_loss_terms(
    module: torch.nn.Module, batch: dict[str, Tensor], hp: dict[str, Any]
) -> dict[str, Tensor]:
    """``module.forward_train(batch)`` and every loss term of it (the lean path's update)."""
    return tmd_loss_terms(module.forward_train(batch), batch[ACTIONS], hp)


def critic_branch_terms(
    module: torch.nn.Module, batch: dict[str, Tensor], hp: dict[str, Any]
) -> dict[str, Tensor]:
    """The critic half of an update (``forward_critic`` and its terms): differentiating
    ``critic_loss`` gives the critic's gradients, as the total loss does."""
    return critic_loss_terms(module.forward_critic(batch), hp)


def actor_branch_terms(
    module: torch.nn.Module, batch: dict[str, Tensor], hp: dict[str, Any]
) -> dict[str, Tensor]:
    """The actor half of an update (``forward_actor`` and its terms): differentiating
    ``actor_loss`` gives the actor's gradients, as the total loss does."""
    return actor_loss_terms(module.forward_actor(batch), batch[ACTIONS], hp)


def tmd_update_branches(hp: dict[str, Any]) -> list[Branch]:
    """TMD's update as two independent branches, critic first (it holds the data-parallel
    collectives, so they stay on the update's own stream): their totals' gradients are the
    total loss's."""
    return [
        Branch(functools.partial(critic_branch_terms, hp=hp), keys.CRITIC_LOSS),
        Branch(functools.partial(actor_branch_terms, hp=hp), keys.ACTOR_LOSS),
    ]


def loss_hyperparameters(config: Any) -> dict[str, Any]:
    """The loss hyperparameters of a ``TMDConfig`` as a plain dict."""
    return {
        "latent_dim": config.latent_dim,
        "gamma": config.gamma,
        "zeta": config.zeta,
        "contrastive_weight": config.contrastive_weight,
        "action_invariance_weight": config.action_invariance_weight,
        "linex_threshold": config.linex_threshold,
        "diag_backup": config.diag_backup,
        "divergence": config.divergence,
        "stopgrad_backup_target": config.stopgrad_backup_target,
        "alpha": config.alpha,
    }


def prepare_cuda_device(precision: str, device: torch.device) -> None:
    """Makes a CUDA ``device`` current, with TF32 tensor cores for float32 matmuls
    (``"high"``, the ``"auto"`` choice there) or full fp32 (``"highest"``). Process-wide; a
    CPU learner is left as it is."""
    if device.type != "cuda":
        return
    torch.cuda.set_device(device)  # DDP learners on cuda:k: graphs/streams on the right GPU
    allow = precision in ("auto", "high")
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


class TMDTorchLearner(TMDLearner, TorchLearner):
    """Composes the loss functions above; samples its own batches (GPU-resident if on CUDA).

    ``run_updates`` takes one of two update paths (``update_path`` says which ran last):

    * ``"rllib"``: RLlib's ``_update`` per batch (multi-module forward, gradients dict,
      ``postprocess_gradients``, ``apply_gradients``). Kept for ``fast_update=False`` and the
      settings listed in :func:`fast_update.lean_path_blocker`.
    * ``"lean"`` (the default): :class:`fast_update.FastUpdater`, the same math on the same
      module and registered optimizer, without RLlib's per-update Python work; with several
      learners it averages gradients with one all-reduce per update (instead of DDP's hooks);
      on CUDA as one CUDA graph per update (``cuda_graph``), optionally compiled
      (``torch_compile_update``).

    Both draw batches a chunk at a time and keep every update's loss terms on the device
    (``[n, T]``) until one host copy at the end of ``run_updates``.
    """

    def build(self) -> None:
        super().build()
        prepare_cuda_device(self.config.matmul_precision, self._device)
        self._sampler = build_learner_sampler(self.config, self._device, self._learner_index)
        self._hp = loss_hyperparameters(self.config)
        self._last_terms: dict[str, Tensor] = {}
        self._num_updates = 0
        self._batches = self._make_batch_source()
        self._fast_updater = self._make_fast_updater()
        self.update_path = "rllib" if self._fast_updater is None else "lean"

    def _make_modules_ddp_if_necessary(self) -> None:
        """RLlib's DDP wrapper only where RLlib's update path runs.

        The lean loop averages gradients itself. DDP's autograd hooks would stay on the
        parameters and fire in its backward anyway, where they touch the legacy CUDA stream
        and so break the capture of the update as a CUDA graph. Without the wrapper the
        learners start from rank 0's weights, as DDP's constructor would make them.
        """
        if (self.config.num_learners or 0) > 1 and lean_path_blocker(self.config) is None:
            for module_id in self._module.keys():
                broadcast_parameters_(self._module[module_id])
            return
        super()._make_modules_ddp_if_necessary()

    def _make_batch_source(self) -> ChunkedBatches:
        """Batches of ``train_batch_size_per_learner``, sampled ``capacity`` at a time."""
        module = self.module[DEFAULT_MODULE_ID].unwrapped()
        batch_size = self.config.train_batch_size_per_learner
        options = options_for_learner(self.config, self._device)
        nbytes = batch_nbytes(batch_size, module.obs_dim, module.act_dim)
        capacity = chunk_capacity(nbytes, options.chunk_bytes, options.max_chunk)
        return ChunkedBatches(self._sampler, batch_size, capacity)

    def _make_fast_updater(self) -> FastUpdater | None:
        """The lean single-learner update loop, or None where RLlib's path must run."""
        blocker = lean_path_blocker(self.config)
        if blocker is not None:
            logger.info("TMD learner uses RLlib's update path: %s", blocker)
            return None
        return FastUpdater(
            tmd_update_branches(self._hp),
            keys.TOTAL_LOSS,
            options_for_learner(self.config, self._device),
            grad_clip=self.config.grad_clip,
            grad_clip_by=self.config.grad_clip_by,
            grad_sync=average_gradients_ if self._data_parallel else None,
        )

    @property
    def _data_parallel(self) -> bool:
        return (self.config.num_learners or 0) > 1

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> Tensor:
        terms = tmd_loss_terms(fwd_out, batch[ACTIONS], self._hp)
        self._last_terms = {k: v.detach() for k, v in terms.items()}
        return terms[keys.TOTAL_LOSS]

    def apply_gradients(self, gradients_dict: dict[Any, Tensor]) -> None:
        """Plain optimizer steps: no per-parameter finiteness checks (each would be a host
        sync); non-finite losses are caught once per ``run_updates`` call instead."""
        for pid, grad in gradients_dict.items():
            self._params[pid].grad = grad
        for module_id, optimizer_names in self._module_optimizers.items():
            for name in optimizer_names:
                self.get_optimizer(module_id, name).step()

    def run_updates(self, num_updates: int) -> dict[str, Any]:
        """``num_updates`` sample+update steps; one host sync at the end for the metrics."""
        history = TermHistory(num_updates, self._device)
        optimizers = [opt for _, opt in self.get_optimizers_for_module(DEFAULT_MODULE_ID)]
        if self._fast_updater is not None:
            module = self.module[DEFAULT_MODULE_ID]  # not DDP-wrapped on this path
            self._fast_updater.run(module, optimizers, self._batches, num_updates, history)
            self.update_path = self._fast_updater.path
        else:
            # Restored Adam state: CPU ``step`` unless capturable (no per-step host syncs);
            # a capturable (CUDA-graph) checkpoint restored on a CPU learner must step too.
            set_capturable(optimizers, False if self._device.type != "cuda" else None)
            for i, batch in enumerate(self._batches.batches(num_updates)):
                self._update({DEFAULT_MODULE_ID: batch})
                history.write_terms(i, self._last_terms)
            self.update_path = "rllib"
        values = history.to_host()  # [num_updates, num_terms]
        self._raise_if_not_finite(values, history.names)
        self._num_updates += num_updates
        for name, value in zip(history.names, values.mean(0).tolist()):
            self.metrics.log_value((DEFAULT_MODULE_ID, name), value, window=1)
        self.metrics.log_value(
            (ALL_MODULES, keys.NUM_UPDATES_LIFETIME), num_updates, reduce="lifetime_sum"
        )
        return self.metrics.reduce()

    def _raise_if_not_finite(self, values: Tensor, names: tuple[str, ...]) -> None:
        """Names the first non-finite term of the first bad update (1-based, lifetime)."""
        bad = ~torch.isfinite(values)
        if bad.any():
            step, term = (int(i) for i in bad.nonzero()[0])
            raise NonFiniteLossError(
                names[term], self._num_updates + step + 1, float(values[step, term])
            )
