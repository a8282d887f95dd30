"""Goal relabelling of spec §4 — the one implementation, written as index arithmetic.

Every function below maps uniform random numbers ``u`` in ``[0, 1)`` and row indices to row
indices, using only operations that numpy arrays and torch tensors share (``log1p``,
``minimum``, ``where``). The numpy sampler, the torch (GPU-resident) sampler and the Ray Data
stream all call these functions, so they relabel identically: the same ``u`` gives the same
indices in numpy and in torch (a test checks it).

Episode structure comes from ``terminals`` (1.0 on the last row of each episode):

- ``episode_end[i]``: row index of the terminal row of row ``i``'s episode;
- transition rows: rows with ``terminals == 0``; their next state is row ``i + 1``.

A goal is always a state of the same episode, capped at the episode's last row, unless a random
dataset goal is explicitly requested. For a transition row ``i`` (``t``-th step):

- geometric future goal: ``k ~ Geometric(1 - discount)`` on ``{1, 2, ...}``,
  goal ``min(i + k, episode_end[i])`` — strictly after ``t``;
- uniform future goal: uniform integer in ``[min(i + 1, end), end]``;
- current goal: ``i``; random goal: uniform over all rows.

Differences from OGBench's ``GCDataset`` (documented on purpose): OGBench drops each episode's
final state from ``observations`` (``compact_dataset=False``), so its goals are capped at the last
*transition*; here goals can be the final state itself. Consequences: OGBench gives the last
transition of an episode its own state as goal (k = 0), and its random goals are never final
rows, whereas ours can be. OGBench's uniform future goal rounds a linear interpolation (endpoints
get half weight); here it is an exact uniform integer. Measured side by side in
``benchmarks/results/sampler-side-by-side/`` (on 200-step stitch episodes ~43 % of value goals sit
at the cap, so the cap's one-row shift is the largest of these differences).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor; every function returns the caller's kind

# Uniform numbers one sampled transition consumes: row + (offset, choice, random) per goal role.
UNIFORMS_PER_GOAL = 3
NUM_UNIFORMS = 1 + 2 * UNIFORMS_PER_GOAL


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalMix:
    """How one role (value or actor) picks goals: a mixture, probabilities summing to 1."""

    p_curgoal: float
    p_trajgoal: float
    p_randomgoal: float
    geom_sample: bool


@dataclass(frozen=True)
class GoalConfig:
    """Goal-sampling hyperparameters (OGBench GCDataset names; TMD defaults).

    Value goals: 100% geometric future states. Actor goals: 100% uniform future states; the
    authors use ``actor_p_trajgoal=0.5, actor_p_randomgoal=0.5`` for stitch/explore datasets.
    """

    discount: float = 0.99
    value_p_curgoal: float = 0.0
    value_p_trajgoal: float = 1.0
    value_p_randomgoal: float = 0.0
    value_geom_sample: bool = True
    actor_p_curgoal: float = 0.0
    actor_p_trajgoal: float = 1.0
    actor_p_randomgoal: float = 0.0
    actor_geom_sample: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.discount < 1.0:
            raise ValueError(f"GoalConfig.discount must be in (0, 1), got {self.discount}")
        for role in ("value", "actor"):
            probs = {
                name: getattr(self, f"{role}_{name}")
                for name in ("p_curgoal", "p_trajgoal", "p_randomgoal")
            }
            negative = {k: v for k, v in probs.items() if v < 0}
            if negative:
                raise ValueError(
                    f"GoalConfig: {role} goal probabilities must be >= 0, got {negative}"
                )
            total = sum(probs.values())
            if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=1e-6):
                raise ValueError(
                    f"GoalConfig: {role}_p_curgoal + {role}_p_trajgoal + {role}_p_randomgoal "
                    f"must sum to 1, got {total} ({probs})"
                )

    @property
    def value_mix(self) -> GoalMix:
        return GoalMix(
            self.value_p_curgoal,
            self.value_p_trajgoal,
            self.value_p_randomgoal,
            self.value_geom_sample,
        )

    @property
    def actor_mix(self) -> GoalMix:
        return GoalMix(
            self.actor_p_curgoal,
            self.actor_p_trajgoal,
            self.actor_p_randomgoal,
            self.actor_geom_sample,
        )


# --------------------------------------------------------------------------------------------
# Episode structure (computed once, with numpy)
# --------------------------------------------------------------------------------------------


def episode_ends(terminals: np.ndarray) -> np.ndarray:
    """For every row, the row index of its episode's terminal row. ``[N]`` -> ``[N]`` int64.

    Requires ``terminals[-1] == 1`` (validated datasets always satisfy it).
    """
    terminal_rows = np.flatnonzero(np.asarray(terminals) > 0)
    if terminal_rows.size == 0 or terminal_rows[-1] != len(terminals) - 1:
        raise ValueError("terminals must mark the last row (the last episode is unterminated)")
    return terminal_rows[np.searchsorted(terminal_rows, np.arange(len(terminals)))]


def transition_rows(terminals: np.ndarray) -> np.ndarray:
    """Rows whose next state is the next row (``terminals == 0``). ``[N]`` -> ``[M]`` int64."""
    return np.flatnonzero(np.asarray(terminals) == 0).astype(np.int64)


@dataclass(frozen=True)
class EpisodeIndex:
    """Sampling view of a dataset: its transition rows and their episodes' terminal rows.

    ``rows [M]`` int64, ``ends [M]`` int64 (``ends[j] = episode_end[rows[j]]``), ``num_rows``
    = N, the number of states (for random dataset goals).
    """

    rows: np.ndarray
    ends: np.ndarray
    num_rows: int

    @classmethod
    def from_terminals(cls, terminals: np.ndarray) -> EpisodeIndex:
        rows = transition_rows(terminals)
        if rows.size == 0:
            raise ValueError("the dataset has no transitions (every row is terminal)")
        return cls(rows=rows, ends=episode_ends(terminals)[rows], num_rows=len(terminals))


# --------------------------------------------------------------------------------------------
# Index arithmetic shared by numpy and torch
# --------------------------------------------------------------------------------------------


def _namespace(x: Array) -> ModuleType:
    if isinstance(x, np.ndarray):
        return np
    import torch

    if isinstance(x, torch.Tensor):
        return torch
    raise TypeError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def _floor_nonnegative(x: Array) -> Array:
    """floor(x) as int64 for ``x >= 0`` (a truncating cast: one kernel in torch)."""
    return x.astype(np.int64) if _namespace(x) is np else x.long()


def _cap(x: Array, upper: Array | int) -> Array:
    """Elementwise ``min(x, upper)``; ``upper`` is an array like ``x`` or a Python int."""
    xp = _namespace(x)
    if xp is np:
        return np.minimum(x, upper)
    return x.clamp(max=upper) if isinstance(upper, int) else xp.minimum(x, upper)


def uniform_index(u: Array, count: int | Array) -> Array:
    """Uniform integer in ``[0, count)`` from ``u`` in ``[0, 1)``; ``count`` scalar or per row."""
    return _cap(_floor_nonnegative(u * count), count - 1)


def geometric_offsets(u: Array, discount: float) -> Array:
    """``k = 1 + floor(log(1 - u) / log(discount))`` ~ Geometric(1 - discount), ``k >= 1``.

    ``u`` in ``[0, 1)``; ``P(k > j) = discount ** j``, mean ``1 / (1 - discount)``.
    """
    xp = _namespace(u)
    return 1 + _floor_nonnegative(xp.log1p(-u) / math.log(discount))


def future_goal_index(idx: Array, offset: Array, episode_end: Array) -> Array:
    """Goal ``offset`` steps after ``idx``, capped at the episode's last row."""
    return _cap(idx + offset, episode_end)


def uniform_future_index(idx: Array, u: Array, episode_end: Array) -> Array:
    """Uniform row in ``[min(idx + 1, end), end]`` (the final state if ``idx`` is terminal)."""
    first = _cap(idx + 1, episode_end)
    return first + uniform_index(u, episode_end - first + 1)


def random_index(u: Array, num_rows: int) -> Array:
    """Uniform row of the whole dataset (a goal that may come from another episode)."""
    return uniform_index(u, num_rows)


def trajectory_goal_index(
    idx: Array, u: Array, episode_end: Array, geom_sample: bool, discount: float
) -> Array:
    """A future state of ``idx``'s own episode: geometric offset or uniform."""
    if geom_sample:
        return future_goal_index(idx, geometric_offsets(u, discount), episode_end)
    return uniform_future_index(idx, u, episode_end)


def goal_indices(
    idx: Array,
    episode_end: Array,
    u: Array,
    mix: GoalMix,
    discount: float,
    num_rows: int,
) -> Array:
    """Goal rows for transition rows ``idx [B]`` with terminal rows ``episode_end [B]``.

    ``u [UNIFORMS_PER_GOAL, B]`` float64 in ``[0, 1)``: ``u[0]`` draws the future offset,
    ``u[1]`` picks the mixture component (current | trajectory | random, in that order of the
    unit interval), ``u[2]`` draws the random dataset row. Components with probability 0 are
    skipped (no work, same result).
    """
    xp = _namespace(idx)
    u_future, u_choice, u_random = u[0], u[1], u[2]
    goals = trajectory_goal_index(idx, u_future, episode_end, mix.geom_sample, discount)
    if mix.p_randomgoal > 0:
        keep_trajectory = u_choice < mix.p_curgoal + mix.p_trajgoal
        goals = xp.where(keep_trajectory, goals, random_index(u_random, num_rows))
    if mix.p_curgoal > 0:
        goals = xp.where(u_choice < mix.p_curgoal, idx, goals)
    return goals


@dataclass(frozen=True)
class BatchIndices:
    """Row indices of one batch: ``rows`` (s_t, a_t; s_{t+1} is ``rows + 1``), ``value_goals``,
    ``actor_goals``; each ``[B]`` int64, numpy or torch like the inputs."""

    rows: Array
    value_goals: Array
    actor_goals: Array


def relabel_rows(
    rows: Array,
    ends: Array,
    u: Array,
    config: GoalConfig,
    num_rows: int,
) -> BatchIndices:
    """Value and actor goals for given transition rows. ``u [2 * UNIFORMS_PER_GOAL, B]``."""
    k = UNIFORMS_PER_GOAL
    value = goal_indices(rows, ends, u[:k], config.value_mix, config.discount, num_rows)
    actor = goal_indices(rows, ends, u[k : 2 * k], config.actor_mix, config.discount, num_rows)
    return BatchIndices(rows=rows, value_goals=value, actor_goals=actor)


def sample_batch_indices(
    u: Array,
    transition_rows: Array,
    transition_ends: Array,
    config: GoalConfig,
    num_rows: int,
) -> BatchIndices:
    """Draw a batch: uniform transition rows, then their goals. ``u [NUM_UNIFORMS, B]``.

    ``transition_rows [M]`` and ``transition_ends [M]`` are :class:`EpisodeIndex` fields (as
    numpy arrays or tensors on the sampler's device).
    """
    pick = uniform_index(u[0], len(transition_rows))
    rows = transition_rows[pick]
    return relabel_rows(rows, transition_ends[pick], u[1:], config, num_rows)
