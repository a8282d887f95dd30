"""Side-by-side of training batches: our learner's goal sampler vs the authors' OGBench GCDataset.

Both sides draw goal-relabelled batches from the SAME OGBench-format ``.npz`` file, with the TMD
goal settings (discount 0.99; value goals 100 % geometric future states; actor goals 100 %
uniform future states, or 50 % uniform future / 50 % random dataset states for stitch data):

- ours: the sampler the learner builds (``tmd_learner.build_learner_sampler`` on a
  ``TMDConfig`` whose ``input_`` is the file; ``sampler="torch"`` on the CPU by default), drawn
  the way the learner draws (``fast_update.sample_chunk``: many batches of 512 per call);
- authors': ``ogbench.utils.load_dataset(path, compact_dataset=False)`` (drops each episode's
  final row, builds ``next_observations``) -> ``Dataset.create(**d)`` -> ``GCDataset(dataset,
  config)`` with the authors' TMD ``get_config()`` (``impls/agents/tmd.py``), then
  ``.sample(512)`` repeatedly after ``np.random.seed(seed)`` (as the authors' ``main.py``).

Row identities are reconstructed, not guessed from observation bytes (pointmaze observations are
not unique): on our side from the sampler's own ``sample_indices`` (RNG state saved, indices
drawn, state restored, then the real ``sample`` call: same random numbers); on the authors' side
the ``observations`` leaf is a pytree ``{"obs": obs, "row": file row}``, so GCDataset's own
indexing carries the file row of every state and goal (their code is unchanged; a control run
with the plain array checks that the batches are byte-identical). Every sampled value is then
checked against the file rows.

Statistics (each side, two seeds; expected values from a closed-form model of each side's code):
the sampled step ``t`` (histogram, coverage), exact ``(s, a, s')`` consistency, value/actor goal
offsets ``k = t_goal - t`` (histograms, P(k=0), P(k=1), mean k, same-episode fraction, goals at
the final row ``s_T`` or at the last transition's state ``s_{T-1}``), and the observation
marginals of s, s', value goals and actor goals (mean/std per dim, total variation over 4x4 maze
cells of the first two dims). Each difference ours - authors gets a standard error and z-score;
histograms get chi-square tests (two-sample and against each side's model).

Needs jax/flax (the authors' modules import them) next to our torch package, e.g. the venv
``/tmp/jaxenv`` (``python3 -m venv --system-site-packages`` + jax, flax, optax, distrax,
ml_collections) and ``ogbench`` installed.

Usage::

    P=/tmp/jaxenv/bin/python; S=benchmarks/sampler_side_by_side.py; A=/tmp/authors/impls
    R=benchmarks/results/sampler-side-by-side
    $P $S --authors-impls $A --dataset /tmp/sbs_data/pointmaze-teleport-stitch-v0.npz \\
        --stitch --samples 200000 --seed 0 --out $R/teleport-stitch-200ep.json
    $P $S --authors-impls $A --dataset /tmp/sbs_full/pointmaze-medium-navigate-v0.npz \\
        --navigate --samples 200000 --seed 0 --out $R/medium-navigate.json
    # other mixes: --actor-p-randomgoal 0.3; our numpy sampler: --sampler numpy

Prints Markdown tables (see benchmarks/results/sampler-side-by-side/README.md); ~10 s per
dataset at 200k samples (~25 s at 1M) on 2 CPU cores, including imports.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OURS, AUTHORS = "ours", "authors"
KEYS = ("obs", "actions", "next_obs", "value_goals", "actor_goals")
STATE_KEYS = ("obs", "next_obs", "value_goals", "actor_goals")
ROLES = ("value", "actor")
CELL = 4.0  # pointmaze maze unit: cells of 4 x 4 centred on multiples of 4
T_BINS = 20  # histogram of t / T
Z_LIMIT = 4.0  # |z| above this is "beyond noise" (many statistics are tested)


# --------------------------------------------------------------------------------------------
# The file and its episodes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Episodes of the file: first row and terminal row (``s_T``) of each, in file rows."""

    starts: np.ndarray
    ends: np.ndarray
    num_rows: int

    @classmethod
    def from_terminals(cls, terminals: np.ndarray) -> Layout:
        ends = np.flatnonzero(terminals > 0)
        assert ends[-1] == len(terminals) - 1, "the last episode is unterminated"
        return cls(np.r_[0, ends[:-1] + 1], ends, len(terminals))

    @property
    def lengths(self) -> np.ndarray:
        """Transitions per episode (T; the episode has T + 1 rows)."""
        return self.ends - self.starts

    @property
    def num_transitions(self) -> int:
        return int(self.lengths.sum())

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(episode, step t) of file rows."""
        episode = np.searchsorted(self.ends, rows)
        return episode, rows - self.starts[episode]


@dataclass
class Draw:
    """One side, one seed: file rows of s, value goal, actor goal, and the batch values."""

    side: str
    seed: int
    rows: np.ndarray
    goal_rows: dict[str, np.ndarray]
    batch: dict[str, np.ndarray]
    seconds: float


# --------------------------------------------------------------------------------------------
# Drawing batches
# --------------------------------------------------------------------------------------------


def draw_ours(path: Path, seed: int, n: int, p_random: float, kind: str, chunk: int) -> Draw:
    """Our learner's sampler (``build_learner_sampler``), drawn like the learner draws."""
    import gymnasium as gym
    import torch

    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.tmd.tmd import TMDConfig
    from rllib_tmd.tmd.tmd_learner import build_learner_sampler
    from rllib_tmd.tmd.torch.fast_update import sample_chunk

    obs_dim = read_episodes(path).obs_dim
    config = (
        TMDConfig()
        .training(sampler=kind, actor_p_trajgoal=1.0 - p_random, actor_p_randomgoal=p_random)
        .offline_data(input_=str(path))
        .debugging(seed=seed)
    )
    config.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 * obs_dim,), np.float32)
    assert config.gamma == 0.99
    batch_size = config.train_batch_size_per_learner
    sampler = build_learner_sampler(config, "cpu", 0)
    start = time.perf_counter()
    rows, goals, parts = [], {r: [] for r in ROLES}, {k: [] for k in KEYS}
    drawn = 0
    while drawn < n:
        count = min(chunk, math.ceil((n - drawn) / batch_size))
        state = sampler.get_state()
        ix = sampler.sample_indices(count * batch_size)  # the indices `sample` will draw
        sampler.set_state(state)
        batch = sample_chunk(sampler, batch_size, count)  # what the learner trains on
        rows.append(np.asarray(ix.rows))
        goals["value"].append(np.asarray(ix.value_goals))
        goals["actor"].append(np.asarray(ix.actor_goals))
        for k in KEYS:
            value = batch[k]
            value = value.numpy() if isinstance(value, torch.Tensor) else value
            parts[k].append(value.reshape(count * batch_size, -1))
        drawn += count * batch_size
    return Draw(
        OURS,
        seed,
        np.concatenate(rows)[:n],
        {r: np.concatenate(v)[:n] for r, v in goals.items()},
        {k: np.concatenate(v)[:n] for k, v in parts.items()},
        time.perf_counter() - start,
    )


def import_authors(impls: Path) -> tuple[Any, Any, Any]:
    """The authors' ``Dataset``, ``GCDataset`` and TMD ``get_config`` (their agent module is
    imported, and the checkout checked, by ``authors_code.import_authors``)."""
    import importlib

    from authors_code import import_authors as import_authors_agent

    get_config = import_authors_agent(impls).get_config
    datasets = importlib.import_module("utils.datasets")
    return datasets.Dataset, datasets.GCDataset, get_config


def data_rows(path: Path, rows: np.ndarray) -> np.ndarray:
    """File observations at ``rows`` (to check the authors' row mapping)."""
    with np.load(path) as f:
        return f["observations"][rows].astype(np.float32)


def authors_dataset(
    impls: Path, path: Path, p_random: float, with_rows: bool, layout: Layout
) -> tuple[Any, Any]:
    """``GCDataset`` over OGBench's loader output; ``with_rows``: observations carry file rows."""
    from ogbench.utils import load_dataset

    dataset_cls, gc_dataset_cls, get_config = import_authors(impls)
    config = get_config()
    config.actor_p_trajgoal = 1.0 - p_random
    config.actor_p_randomgoal = p_random
    d = load_dataset(str(path), compact_dataset=False)
    if with_rows:
        # authors' row i = t-th transition of episode e  ->  file row starts[e] + t
        episode = np.repeat(np.arange(len(layout.lengths)), layout.lengths)
        first = np.cumsum(layout.lengths) - layout.lengths  # authors' first row per episode
        file_rows = layout.starts[episode] + np.arange(len(episode)) - first[episode]
        assert np.array_equal(d["observations"], data_rows(path, file_rows))
        d["observations"] = {"obs": d["observations"], "row": file_rows}
    return gc_dataset_cls(dataset_cls.create(**d), config), config


def draw_authors(
    impls: Path, path: Path, seed: int, n: int, p_random: float, layout: Layout, batch_size: int
) -> Draw:
    """The authors' GCDataset.sample(batch_size), seeded with np.random.seed(seed)."""
    dataset, _ = authors_dataset(impls, path, p_random, True, layout)
    np.random.seed(seed)
    start = time.perf_counter()
    got: dict[str, list] = {k: [] for k in ("rows", "value", "actor", *KEYS)}
    for _ in range(math.ceil(n / batch_size)):
        b = dataset.sample(batch_size)
        got["rows"].append(b["observations"]["row"])
        got["value"].append(b["value_goals"]["row"])
        got["actor"].append(b["actor_goals"]["row"])
        got["obs"].append(b["observations"]["obs"])
        got["actions"].append(b["actions"])
        got["next_obs"].append(b["next_observations"])
        got["value_goals"].append(b["value_goals"]["obs"])
        got["actor_goals"].append(b["actor_goals"]["obs"])
    seconds = time.perf_counter() - start
    cat = {k: np.concatenate(v)[:n] for k, v in got.items()}
    return Draw(
        AUTHORS,
        seed,
        cat["rows"],
        {r: cat[r] for r in ROLES},
        {k: cat[k] for k in KEYS},
        seconds,
    )


def authors_row_leaf_control(
    impls: Path, path: Path, seed: int, p_random: float, layout: Layout, batches: int
) -> bool:
    """The row-carrying observations leaf changes nothing: same seed, byte-identical batches."""
    plain, _ = authors_dataset(impls, path, p_random, False, layout)
    tagged, _ = authors_dataset(impls, path, p_random, True, layout)
    np.random.seed(seed)
    a = [plain.sample(512) for _ in range(batches)]
    np.random.seed(seed)
    b = [tagged.sample(512) for _ in range(batches)]
    for x, y in zip(a, b):
        for k in ("observations", "value_goals", "actor_goals"):
            if not np.array_equal(x[k], y[k]["obs"]):
                return False
        for k in ("actions", "next_observations"):
            if not np.array_equal(x[k], y[k]):
                return False
    return True


# --------------------------------------------------------------------------------------------
# Closed-form model of each side's goal code
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    p_cur: float
    p_traj: float
    p_random: float
    geom: bool


def offset_model(side: str, T: int, mix: Mix, discount: float, pool: int) -> np.ndarray:
    """``P[t, T + j]``: a transition at step ``t`` of an episode with ``T`` transitions gets a
    goal ``j`` steps later in its own episode (``j`` in ``[-T, T]``). Rows sum to P(same).

    ours (rllib_tmd/data/goals.py): cap = T - t (the final row s_T); geometric
    ``min(t + k, T)``; uniform integer in ``[t + 1, T]``; random rows: all N rows (``pool``).
    authors (utils/datasets.py GCDataset.sample_goals, rows = transitions only): cap =
    T - 1 - t (s_{T-1}); geometric ``min(i + k, final)``; uniform ``round(lo d + hi (1-d))``
    (endpoints half weight; cap 0 -> the current state); random rows: the M transitions.
    """
    t = np.arange(T)[:, None]
    j = np.arange(-T, T + 1)[None, :]
    cap = T - t if side == OURS else T - 1 - t
    if mix.geom:
        g = 1.0 - discount
        inside = (j >= 1) & (j < cap)
        traj = np.where(inside, g * discount ** np.maximum(j - 1, 0), 0.0)
        traj = traj + np.where(j == cap, discount ** np.maximum(cap - 1, 0), 0.0)
    elif side == OURS:
        traj = np.where((j >= 1) & (j <= cap), 1.0 / cap, 0.0)
    else:
        width = np.maximum(cap - 1, 1)
        traj = np.where((j >= 1) & (j <= cap), 1.0 / width, 0.0)
        traj = np.where((cap >= 2) & ((j == 1) | (j == cap)), 0.5 / width, traj)
        traj = np.where(cap <= 1, (j == cap).astype(float), traj)
    last = T - t if side == OURS else T - 1 - t  # last row random goals can pick in the episode
    random = np.where((j >= -t) & (j <= last), 1.0 / pool, 0.0)
    current = (j == 0).astype(float)
    return mix.p_cur * current + mix.p_traj * traj + mix.p_random * random


def expected(side: str, layout: Layout, mixes: dict[str, Mix], discount: float) -> dict:
    """Model probabilities/means, in the same form as :func:`observe`."""
    M, N, E = layout.num_transitions, layout.num_rows, len(layout.lengths)
    pool = N if side == OURS else M
    tmax = int(layout.lengths.max())
    out: dict[str, Any] = {"t_hist": np.zeros(T_BINS), "t_mean": 0.0, "p_t_last": 0.0}
    for role in ROLES:
        out[role] = {
            "p_same": 0.0,
            "p_k0": 0.0,
            "p_k1": 0.0,
            "sum_k": 0.0,
            "p_final_row": 0.0,
            "p_last_transition": 0.0,
            "k_probs": np.zeros(2 * tmax + 1),
        }
    for T, count in zip(*np.unique(layout.lengths, return_counts=True)):
        T = int(T)
        w = count * T / M  # share of transitions in episodes of this length
        t = np.arange(T)
        out["t_mean"] += w * t.mean()
        out["p_t_last"] += w / T
        out["t_hist"] += w * np.bincount(t * T_BINS // T, minlength=T_BINS) / T
        for role in ROLES:
            P = offset_model(side, T, mixes[role], discount, pool) / T  # rows: P(t) = 1/T
            r = out[role]
            r["p_same"] += w * P.sum()
            r["p_k0"] += w * P[:, T].sum()
            r["p_k1"] += w * P[:, T + 1].sum()
            r["sum_k"] += w * (P * np.arange(-T, T + 1)).sum()
            r["p_final_row"] += w * P[t, 2 * T - t].sum()
            r["p_last_transition"] += w * P[t, 2 * T - 1 - t].sum()
            r["k_probs"][tmax - T : tmax + T + 1] += w * P.sum(0)
    for role in ROLES:
        r = out[role]
        r["mean_k_same"] = r.pop("sum_k") / r["p_same"]
        if side == OURS:  # random goals on other episodes' final rows
            r["p_final_row"] += mixes[role].p_random * (E - 1) / N
        r["k_hist"] = np.r_[bin_offsets(r.pop("k_probs"), tmax), 1.0 - r["p_same"]]
    return out


def coverage_model(M: int, n: int) -> tuple[float, float]:
    """Mean and SD of the fraction of M items drawn at least once in n uniform draws."""
    q1 = math.exp(n * math.log1p(-1.0 / M))
    q2 = math.exp(n * math.log1p(-2.0 / M)) if M > 2 else 0.0
    var_missing = M * q1 + M * (M - 1) * q2 - (M * q1) ** 2
    return 1.0 - q1, math.sqrt(max(var_missing, 0.0)) / M


# --------------------------------------------------------------------------------------------
# Observed statistics
# --------------------------------------------------------------------------------------------


def offset_edges(tmax: int) -> np.ndarray:
    """Bin edges over offsets j: (<0), 0, 1, [2,4), [4,8), ..., up to tmax."""
    edges = [-(10**9), 0, 1, 2]
    while edges[-1] <= tmax:
        edges.append(edges[-1] * 2)
    return np.array([*edges, 10**9])


def bin_offsets(probs_or_counts: np.ndarray, tmax: int) -> np.ndarray:
    """Sum a dense array over j in [-tmax, tmax] into the :func:`offset_edges` bins."""
    j = np.arange(-tmax, tmax + 1)
    which = np.searchsorted(offset_edges(tmax), j, side="right") - 1
    return np.bincount(which, weights=probs_or_counts, minlength=len(offset_edges(tmax)) - 1)


def check_consistency(draw: Draw, layout: Layout, data: dict[str, np.ndarray]) -> dict[str, int]:
    """Rows whose values differ from the file (all must be 0)."""
    obs, act = data["observations"], data["actions"]
    b, r = draw.batch, draw.rows
    final = np.isin(r, layout.ends)
    nxt = np.minimum(r + 1, layout.num_rows - 1)
    return {
        "obs_not_file_row": int(np.any(b["obs"] != obs[r], axis=1).sum()),
        "action_not_file_row": int(np.any(b["actions"] != act[r], axis=1).sum()),
        "s_is_final_row": int(final.sum()),
        "next_obs_not_next_row": int(np.any(b["next_obs"] != obs[nxt], axis=1).sum()),
        "value_goal_not_file_row": int(
            np.any(b["value_goals"] != obs[draw.goal_rows["value"]], axis=1).sum()
        ),
        "actor_goal_not_file_row": int(
            np.any(b["actor_goals"] != obs[draw.goal_rows["actor"]], axis=1).sum()
        ),
    }


def cells(x: np.ndarray) -> np.ndarray:
    """4 x 4 maze cell id of the first two dims."""
    c = np.floor((x[:, :2] + CELL / 2) / CELL).astype(np.int64) + 100
    return c[:, 0] * 1000 + c[:, 1]


def observe(draw: Draw, layout: Layout) -> dict:
    """Statistics of one draw, in the same form as :func:`expected` (plus SEs and counts)."""
    n = len(draw.rows)
    tmax = int(layout.lengths.max())
    episode, t = layout.locate(draw.rows)
    T = layout.lengths[episode]
    out: dict[str, Any] = {
        "n": n,
        "t": t,
        "t_mean": t.mean(),
        "t_mean_se": t.std() / math.sqrt(n),
        "p_t_last": np.mean(t == T - 1),
        "t_hist": np.bincount(t * T_BINS // T, minlength=T_BINS).astype(float),
        "coverage": np.unique(draw.rows).size / layout.num_transitions,
    }
    for role in ROLES:
        g_episode, g_t = layout.locate(draw.goal_rows[role])
        same = g_episode == episode
        k = g_t - t
        ks = k[same]
        dense = np.bincount(ks + tmax, minlength=2 * tmax + 1).astype(float)
        out[role] = {
            "p_same": same.mean(),
            "p_k0": np.mean(same & (k == 0)),
            "p_k1": np.mean(same & (k == 1)),
            "mean_k_same": ks.mean(),
            "mean_k_same_se": ks.std() / math.sqrt(len(ks)),
            "p_final_row": np.isin(draw.goal_rows[role], layout.ends).mean(),
            "p_last_transition": np.mean(same & (g_t == T - 1)),
            "k_hist": np.r_[bin_offsets(dense, tmax), (~same).sum()],
        }
    for key in STATE_KEYS:
        x = draw.batch[key].astype(np.float64)
        sd = x.std(0)
        m4 = ((x - x.mean(0)) ** 4).mean(0)
        out[key] = {
            "mean": x.mean(0),
            "mean_se": sd / math.sqrt(n),
            "std": sd,
            "std_se": np.sqrt(np.maximum(m4 - sd**4, 0) / n) / (2 * sd),
            "cells": cells(x),
        }
    return out


# --------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------


def prop_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1.0 / n**2) / n)


def tv_counts(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())


def chi2_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """p-value of a chi-square test that two count vectors share one distribution."""
    keep = (a + b) > 0
    if keep.sum() < 2:
        return 1.0
    return float(sps.chi2_contingency(np.vstack([a[keep], b[keep]]), correction=False)[1])


def chi2_fit(counts: np.ndarray, probs: np.ndarray) -> float:
    """p-value of a chi-square goodness-of-fit test (bins with expected < 5 pooled)."""
    n = counts.sum()
    exp = n * probs
    if np.any((exp < 1e-12) & (counts > 0)):
        return 0.0
    small = exp < 5
    o = np.r_[counts[~small], counts[small].sum()]
    e = np.r_[exp[~small], exp[small].sum()]
    keep = e > 0
    o, e = o[keep], e[keep]
    stat = float(((o - e) ** 2 / e).sum())
    return float(sps.chi2.sf(stat, max(len(o) - 1, 1)))


def cell_counts(observed: list[dict], key: str) -> list[np.ndarray]:
    ids = [o[key]["cells"] for o in observed]
    _, inverse = np.unique(np.concatenate(ids), return_inverse=True)
    size = inverse.max() + 1
    out, start = [], 0
    for x in ids:
        out.append(np.bincount(inverse[start : start + len(x)], minlength=size).astype(float))
        start += len(x)
    return out


def scalar_rows(obs: dict[str, list[dict]], exp: dict[str, dict], cov_sd: float) -> list[dict]:
    """One row per scalar statistic: ours/authors (seed s, s+1), expected, diff, SE, z."""
    rows = []

    def add(name: str, get, get_se, get_exp=None) -> None:
        o0, o1 = obs[OURS]
        a0, a1 = obs[AUTHORS]
        v = {lab: float(get(x)) for lab, x in zip(("o0", "o1", "a0", "a1"), (o0, o1, a0, a1))}
        se = {lab: float(get_se(x)) for lab, x in zip(("o0", "o1", "a0", "a1"), (o0, o1, a0, a1))}
        diff = v["o0"] - v["a0"]
        se_diff = math.hypot(se["o0"], se["a0"])
        row = {
            "stat": name,
            "ours": v["o0"],
            "authors": v["a0"],
            "diff": diff,
            "se_diff": se_diff,
            "z": diff / se_diff if se_diff > 0 else (0.0 if diff == 0 else math.inf),
            "ours_seed_diff": v["o0"] - v["o1"],
            "authors_seed_diff": v["a0"] - v["a1"],
            "se_seed_diff": math.hypot(se["o0"], se["o1"]),
        }
        if get_exp is not None:
            row["expected_ours"] = float(get_exp(exp[OURS]))
            row["expected_authors"] = float(get_exp(exp[AUTHORS]))
            row["expected_diff"] = row["expected_ours"] - row["expected_authors"]
        row["beyond_noise"] = bool(abs(row["z"]) > Z_LIMIT)
        rows.append(row)

    add("t mean", lambda o: o["t_mean"], lambda o: o["t_mean_se"], lambda e: e["t_mean"])
    add(
        "P(t = T-1)",
        lambda o: o["p_t_last"],
        lambda o: prop_se(o["p_t_last"], o["n"]),
        lambda e: e["p_t_last"],
    )
    add("coverage", lambda o: o["coverage"], lambda o: cov_sd, lambda e: e["coverage"])
    names = {
        "p_same": "P(same episode)",
        "p_k0": "P(k = 0: goal = s)",
        "p_k1": "P(k = 1)",
        "p_final_row": "P(goal = a final row s_T)",
        "p_last_transition": "P(goal = own s_{T-1})",
    }
    for role in ROLES:
        for key, label in names.items():
            add(
                f"{role}: {label}",
                lambda o, r=role, k=key: o[r][k],
                lambda o, r=role, k=key: prop_se(o[r][k], o["n"]),
                lambda e, r=role, k=key: e[r][k],
            )
        add(
            f"{role}: mean k | same episode",
            lambda o, r=role: o[r]["mean_k_same"],
            lambda o, r=role: o[r]["mean_k_same_se"],
            lambda e, r=role: e[r]["mean_k_same"],
        )
    dims = len(obs[OURS][0]["obs"]["mean"])
    for key in STATE_KEYS:
        for d in range(min(dims, 4)):
            for what in ("mean", "std"):
                add(
                    f"{key}[{d}] {what}",
                    lambda o, k=key, d=d, w=what: o[k][w][d],
                    lambda o, k=key, d=d, w=what: o[k][f"{w}_se"][d],
                )
    return rows


def histogram_rows(
    obs: dict[str, list[dict]],
    exp: dict[str, dict],
    roles: tuple[str, ...] = ROLES,
    keys: tuple[str, ...] = STATE_KEYS,
    with_t: bool = True,
    suffix: str = "",
) -> list[dict]:
    """TV distances and chi-square p-values of the histograms (sides, seeds, models)."""
    rows = []

    def add(name: str, counts: dict[str, list[np.ndarray]], probs: dict | None) -> None:
        (o0, o1), (a0, a1) = counts[OURS], counts[AUTHORS]
        row = {
            "histogram": name,
            "bins": len(o0),
            "tv_ours_authors": tv_counts(o0, a0),
            "tv_ours_seeds": tv_counts(o0, o1),
            "tv_authors_seeds": tv_counts(a0, a1),
            "p_ours_vs_authors": chi2_two_sample(o0, a0),
            "p_ours_seeds": chi2_two_sample(o0, o1),
            "p_authors_seeds": chi2_two_sample(a0, a1),
        }
        if probs is not None:
            row["p_ours_fits_our_model"] = chi2_fit(o0, probs[OURS])
            row["p_authors_fit_authors_model"] = chi2_fit(a0, probs[AUTHORS])
            row["p_ours_fits_authors_model"] = chi2_fit(o0, probs[AUTHORS])
            row["p_authors_fit_our_model"] = chi2_fit(a0, probs[OURS])
        rows.append(row)

    def per_side(get) -> dict[str, list[np.ndarray]]:
        return {side: [get(o) for o in obs[side]] for side in (OURS, AUTHORS)}

    if with_t:
        t_probs = {s: exp[s]["t_hist"] for s in exp}
        add("t (20 bins of t/T)", per_side(lambda o: o["t_hist"]), t_probs)
    for role in roles:
        add(
            f"{role} goal offset k (log2 bins + other episode){suffix}",
            per_side(lambda o, r=role: o[r]["k_hist"]),
            {s: exp[s][role]["k_hist"] for s in exp},
        )
    all_obs = [*obs[OURS], *obs[AUTHORS]]
    for key in keys:
        c = cell_counts(all_obs, key)
        add(f"{key}: 4x4 maze cells{suffix}", {OURS: c[:2], AUTHORS: c[2:]}, None)
    return rows


def final_value_goals_one_back(draw: Draw, layout: Layout, data: dict[str, np.ndarray]) -> Draw:
    """Counterfactual of our draw: value goals at a final row s_T moved to s_{T-1}.

    ``min(min(t + k, T), T - 1) = min(t + k, T - 1)``: OGBench's geometric goal, exactly, so
    this draw's value goals must match the authors' in distribution if the cap is the only
    difference.
    """
    goals = draw.goal_rows["value"]
    goals = np.where(np.isin(goals, layout.ends), goals - 1, goals)
    batch = {**draw.batch, "value_goals": data["observations"][goals]}
    return Draw(draw.side, draw.seed, draw.rows, {**draw.goal_rows, "value": goals}, batch, 0.0)


def k_histogram_table(obs: dict[str, list[dict]], exp: dict[str, dict], tmax: int) -> list[dict]:
    """Binned offset histograms (fractions), observed seed s and model, both sides."""
    edges = offset_edges(tmax)
    labels = ["<0", "0", "1"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(edges[3:-2], edges[4:-1])]
    labels += [f">={edges[-2]}", "other episode"]
    rows = []
    for role in ROLES:
        for i, label in enumerate(labels):
            o, a = obs[OURS][0][role]["k_hist"], obs[AUTHORS][0][role]["k_hist"]
            rows.append(
                {
                    "role": role,
                    "k": label,
                    "ours": o[i] / o.sum(),
                    "authors": a[i] / a.sum(),
                    "expected_ours": float(exp[OURS][role]["k_hist"][i]),
                    "expected_authors": float(exp[AUTHORS][role]["k_hist"][i]),
                }
            )
    return rows


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(x: float) -> str:
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return str(x)
    if x == 0:
        return "0"
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def markdown(result: dict) -> str:
    lines = [
        f"### {result['dataset']} — actor_p_randomgoal {result['actor_p_randomgoal']}, "
        f"{result['samples']} samples per side and seed",
        "",
        "| statistic | ours | authors | diff | SE(diff) | z | ours s0−s1 | authors s0−s1 "
        "| model ours | model authors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["scalars"]:
        flag = " **" if r["beyond_noise"] else ""
        lines.append(
            f"| {r['stat']} | {fmt(r['ours'])} | {fmt(r['authors'])} | {fmt(r['diff'])}{flag} "
            f"| {fmt(r['se_diff'])} | {r['z']:+.1f} | {fmt(r['ours_seed_diff'])} "
            f"| {fmt(r['authors_seed_diff'])} | {fmt(r.get('expected_ours', math.nan))} "
            f"| {fmt(r.get('expected_authors', math.nan))} |"
        )
    lines += [
        "",
        "| histogram | bins | TV ours–authors | TV ours s0–s1 | TV authors s0–s1 "
        "| p ours vs authors | p ours seeds | p authors seeds | p ours~our model "
        "| p authors~authors' model | p ours~authors' model | p authors~our model |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in result["histograms"] + result["counterfactual_histograms"]:
        models = [
            h.get(k, math.nan)
            for k in (
                "p_ours_fits_our_model",
                "p_authors_fit_authors_model",
                "p_ours_fits_authors_model",
                "p_authors_fit_our_model",
            )
        ]
        lines.append(
            f"| {h['histogram']} | {h['bins']} | {fmt(h['tv_ours_authors'])} "
            f"| {fmt(h['tv_ours_seeds'])} | {fmt(h['tv_authors_seeds'])} "
            f"| {fmt(h['p_ours_vs_authors'])} | {fmt(h['p_ours_seeds'])} "
            f"| {fmt(h['p_authors_seeds'])} | " + " | ".join(fmt(m) for m in models) + " |"
        )
    lines += [
        "",
        "| role | k | ours | authors | model ours | model authors |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["k_histogram"]:
        lines.append(
            f"| {r['role']} | {r['k']} | {fmt(r['ours'])} | {fmt(r['authors'])} "
            f"| {fmt(r['expected_ours'])} | {fmt(r['expected_authors'])} |"
        )
    lines += ["", f"consistency (mismatching rows, every sampled row): {result['consistency']}"]
    lines += [f"authors' row-leaf control (byte-identical batches): {result['row_leaf_control']}"]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors-impls", type=Path, required=True, help="tmd-release impls/")
    p.add_argument("--dataset", type=Path, required=True, help="OGBench-format .npz")
    p.add_argument("--samples", type=int, default=200_000, help="transitions per side and seed")
    p.add_argument("--seed", type=int, default=0, help="seeds used: SEED and SEED + 1")
    mix = p.add_mutually_exclusive_group()
    mix.add_argument("--stitch", dest="actor_p_randomgoal", action="store_const", const=0.5)
    mix.add_argument("--navigate", dest="actor_p_randomgoal", action="store_const", const=0.0)
    mix.add_argument("--actor-p-randomgoal", dest="actor_p_randomgoal", type=float)
    p.add_argument("--sampler", choices=("torch", "numpy"), default="torch", help="ours (CPU)")
    p.add_argument("--chunk-batches", type=int, default=64, help="ours: batches per sample()")
    p.add_argument("--out", type=Path, default=None, help="JSON file for every statistic")
    args = p.parse_args()
    if args.actor_p_randomgoal is None:
        stitch = any(w in args.dataset.name for w in ("stitch", "explore"))
        args.actor_p_randomgoal = 0.5 if stitch else 0.0

    begin = time.perf_counter()
    with np.load(args.dataset) as f:
        data = {k: f[k] for k in ("observations", "actions", "terminals")}
    layout = Layout.from_terminals(data["terminals"])
    pr = args.actor_p_randomgoal
    discount = 0.99
    mixes = {"value": Mix(0.0, 1.0, 0.0, True), "actor": Mix(0.0, 1.0 - pr, pr, False)}
    seeds = (args.seed, args.seed + 1)
    draws = {
        OURS: [
            draw_ours(args.dataset, s, args.samples, pr, args.sampler, args.chunk_batches)
            for s in seeds
        ],
        AUTHORS: [
            draw_authors(args.authors_impls, args.dataset, s, args.samples, pr, layout, 512)
            for s in seeds
        ],
    }
    consistency = {
        f"{side} seed {d.seed}": check_consistency(d, layout, data)
        for side, ds in draws.items()
        for d in ds
    }
    observed = {side: [observe(d, layout) for d in ds] for side, ds in draws.items()}
    moved = [observe(final_value_goals_one_back(d, layout, data), layout) for d in draws[OURS]]
    exp = {side: expected(side, layout, mixes, discount) for side in (OURS, AUTHORS)}
    cov_mean, cov_sd = coverage_model(layout.num_transitions, args.samples)
    for side in exp:
        exp[side]["coverage"] = cov_mean
    result = {
        "dataset": str(args.dataset),
        "episodes": len(layout.lengths),
        "rows": layout.num_rows,
        "transitions": layout.num_transitions,
        "episode_lengths": sorted({int(x) for x in layout.lengths}),
        "samples": args.samples,
        "seeds": list(seeds),
        "actor_p_randomgoal": pr,
        "discount": discount,
        "our_sampler": args.sampler,
        "z_limit": Z_LIMIT,
        "scalars": scalar_rows(observed, exp, cov_sd),
        "histograms": histogram_rows(observed, exp),
        "counterfactual_histograms": histogram_rows(
            {OURS: moved, AUTHORS: observed[AUTHORS]},
            exp,
            roles=("value",),
            keys=("value_goals",),
            with_t=False,
            suffix=" [ours: s_T -> s_{T-1}]",
        ),
        "k_histogram": k_histogram_table(observed, exp, int(layout.lengths.max())),
        "consistency": consistency,
        "row_leaf_control": authors_row_leaf_control(
            args.authors_impls, args.dataset, args.seed, pr, layout, 8
        ),
        "draw_seconds": {f"{s} seed {d.seed}": d.seconds for s, ds in draws.items() for d in ds},
    }
    result["total_seconds"] = time.perf_counter() - begin
    print(markdown(result))
    print(f"\n{result['total_seconds']:.1f} s in total")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
