"""Ground-truth distances on pointmaze grids, to check a learned temporal distance against.

A pointmaze observation is the ball's ``(x, y)``. Taking one observation per free cell (its
centre), the true shortest-path distance between two cells is the grid BFS distance; TMD's
``d(s, g)`` should order cell pairs the same way (it is not in steps, so only the ranking is
compared). On the teleport maze the BFS walks and ignores the teleporters: some cells are
reachable only through a teleporter (BFS distance -1), and those pairs are left out, so there
the number is a walking-distance reference, not the optimal stochastic distance.

    centres, steps = maze_cell_distances("pointmaze-teleport-stitch-v0")   # [N, 2], [N, N]
    rho = distance_rank_correlation(algo.temporal_distance, "pointmaze-medium-navigate-v0")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

#: evaluation metric name of :func:`distance_rank_correlation` (``result["evaluation"]["ogbench"]``)
METRIC_KEY = "distance_rank_corr_bfs"


def is_pointmaze(env_name: str) -> bool:
    """Whether ``env_name`` (env or dataset name) is a state-based pointmaze."""
    return env_name.startswith("pointmaze-")


@functools.lru_cache(maxsize=16)
def maze_layout(env_name: str) -> Any:
    """``(MazeLayout, {task_id: (start cell, goal cell)})`` of a pointmaze env: its grid
    (:class:`~rllib_tmd.data.generate.pointmaze.MazeLayout`) and its OGBench tasks."""
    if not is_pointmaze(env_name):
        raise ValueError(f"needs a state-based pointmaze env, got {env_name!r}")
    from rllib_tmd.data.generate.pointmaze import MazeLayout
    from rllib_tmd.envs.ogbench_env import make_inner_env

    env = make_inner_env(env_name)
    try:
        layout = MazeLayout.from_env(env)
        tasks = {
            k: (tuple(t["init_ij"]), tuple(t["goal_ij"]))
            for k, t in enumerate(env.unwrapped.task_infos, start=1)
        }
    finally:
        env.close()
    return layout, tasks


def cell_centres(layout: Any, cells: list[tuple[int, int]]) -> np.ndarray:
    """Centres [N, 2] float32 of maze ``cells`` (row, column): the observation of a ball there."""
    return np.asarray([layout.ij_to_xy(c) for c in cells], dtype=np.float32).reshape(-1, 2)


@functools.lru_cache(maxsize=16)
def maze_cell_distances(env_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(centres [N, 2] float32, steps [N, N] int64)`` over the N free cells of a pointmaze
    (row-major order): cell centres as observations and their grid BFS distances (-1 where no
    walking path exists: the teleport maze)."""
    layout, _ = maze_layout(env_name)
    cells = layout.free_cells()
    centres = cell_centres(layout, cells)
    rows, cols = np.asarray(cells).T
    steps = np.stack([layout.bfs(c)[0][rows, cols] for c in cells])
    return centres, steps


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a 1-D array, ties sharing their mean rank (as Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends - 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two equal-length 1-D arrays (Pearson correlation of average ranks)."""
    ra, rb = average_ranks(np.ravel(a)), average_ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def distance_rank_correlation(distance_fn: Callable[..., np.ndarray], env_name: str) -> float:
    """Spearman's rho between a learned distance and the BFS distance over all ordered pairs
    of distinct free cells of a pointmaze that a walking path connects.

    ``distance_fn(obs [N, 2], goals [N, 2], pairwise=True) -> [N, N]``, e.g.
    ``TMD.temporal_distance``.
    """
    return bfs_rank_correlation(*learned_cell_distances(distance_fn, env_name))


def bfs_rank_correlation(learned: np.ndarray, steps: np.ndarray) -> float:
    """Spearman's rho of ``learned`` [N, N] with ``steps`` [N, N] over the ordered pairs of
    distinct cells that a walking path connects (``steps`` >= 0)."""
    pairs = ~np.eye(len(steps), dtype=bool) & (steps >= 0)
    return rank_correlation(learned[pairs], steps[pairs])


def learned_cell_distances(
    distance_fn: Callable[..., np.ndarray], env_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(learned [N, N], steps [N, N])``: ``distance_fn`` between every pair of a pointmaze's
    free cell centres, next to their BFS distances (:func:`maze_cell_distances`)."""
    centres, steps = maze_cell_distances(env_name)
    return np.asarray(distance_fn(centres, centres, pairwise=True)), steps


#: evaluation metric name of :func:`neighbour_asymmetry`
ASYMMETRY_KEY = "distance_asymmetry_neighbours"


def neighbour_asymmetry(learned: np.ndarray, steps: np.ndarray) -> float:
    """Over neighbouring cells: mean |d(i, j) - d(j, i)| / mean (d(i, j) + d(j, i)), in [0, 1]
    for a non-negative distance. 0: both directions alike, as a pointmaze's symmetric
    dynamics have them; 1: one direction 0 and the other all of it. Scale-free, so two
    critics (e.g. ours and the authors') compare directly. ``learned``, ``steps`` [N, N]."""
    adjacent = profile_adjacent(np.asarray(learned, dtype=np.float64), np.asarray(steps))
    return adjacent["mean_asymmetry"] / (2.0 * adjacent["mean"])


def distance_profile(learned: np.ndarray, steps: np.ndarray) -> dict[str, Any]:
    """How a learned distance grows with the BFS distance, and how asymmetric it is.

    ``learned`` [N, N] (``d(cell i, cell j)``) and ``steps`` [N, N] (BFS, -1 where no walking
    path) over the same cells. Returns ``by_steps``: one row per BFS distance k >= 1 with the
    number of ordered pairs, the mean and the 10th / 90th percentiles of ``learned`` over them;
    and ``adjacent``: over neighbouring cells (k = 1), the mean of ``learned``, of the smaller
    of its two directions, and of ``|d(i, j) - d(j, i)|``. A pointmaze's dynamics are
    symmetric, so a distance true to them has a mean rising with k, narrow percentiles and an
    asymmetry near 0.
    """
    learned, steps = np.asarray(learned, dtype=np.float64), np.asarray(steps)
    by_steps = []
    for k in range(1, int(steps.max()) + 1):
        values = learned[steps == k]
        if values.size:
            p10, p90 = np.percentile(values, [10, 90])
            by_steps.append(
                {"steps": k, "pairs": int(values.size), "mean": float(values.mean()),
                 "p10": float(p10), "p90": float(p90)}
            )  # fmt: skip
    return {"by_steps": by_steps, "adjacent": profile_adjacent(learned, steps)}


def profile_adjacent(learned: np.ndarray, steps: np.ndarray) -> dict[str, float]:
    """Over neighbouring cells (``steps`` == 1): the mean of ``learned``, of the smaller of its
    two directions, and of ``|d(i, j) - d(j, i)|``. ``learned``, ``steps`` [N, N]."""
    adjacent = steps == 1
    return {
        "mean": float(learned[adjacent].mean()),
        "mean_min_direction": float(np.minimum(learned, learned.T)[adjacent].mean()),
        "mean_asymmetry": float(np.abs(learned - learned.T)[adjacent].mean()),
    }


def cell_crossings(env_name: str, observations: np.ndarray, terminals: np.ndarray) -> np.ndarray:
    """``[N, N]`` counts of dataset steps from free cell i to another free cell j, within an
    episode, over a pointmaze's N free cells in :func:`maze_cell_distances`' order.

    ``observations`` [T, >= 2] (the ball's ``(x, y)`` first) and ``terminals`` [T] (1 at each
    episode's last step) as in an OGBench ``.npz``. How often the data moves each way between
    neighbouring cells: what an asymmetric learned distance could have learned from.
    """
    layout, _ = maze_layout(env_name)
    cells = layout.free_cells()
    index = np.full(layout.shape, -1)
    index[tuple(np.asarray(cells).T)] = np.arange(len(cells))
    xy = np.asarray(observations, dtype=np.float64)[:, :2]
    half = 0.5 * layout.unit
    rows = np.floor((xy[:, 1] + layout.offset_y + half) / layout.unit).astype(int)
    cols = np.floor((xy[:, 0] + layout.offset_x + half) / layout.unit).astype(int)
    inside = (rows >= 0) & (rows < layout.shape[0]) & (cols >= 0) & (cols < layout.shape[1])
    cell = np.where(
        inside, index[rows.clip(0, layout.shape[0] - 1), cols.clip(0, layout.shape[1] - 1)], -1
    )
    src, dst = cell[:-1], cell[1:]
    moved = (np.asarray(terminals)[:-1] == 0) & (src >= 0) & (dst >= 0) & (src != dst)
    counts = np.zeros((len(cells), len(cells)), dtype=np.int64)
    np.add.at(counts, (src[moved], dst[moved]), 1)
    return counts


def flow_agreement(learned: np.ndarray, crossings: np.ndarray, steps: np.ndarray) -> dict:
    """Whether a learned distance's asymmetry follows the data's direction of travel.

    Over neighbouring cells i < j (``steps`` == 1) whose two crossing counts differ: ``agreement``,
    the share where ``learned`` is longer in the direction the data crosses less often (0.5:
    unrelated); ``data_imbalance``, the mean of |C_ij - C_ji| / (C_ij + C_ji) over all
    neighbouring pairs (0: the data moves both ways alike); and ``pairs``, how many were compared.
    """
    i, j = np.nonzero(np.triu(np.asarray(steps) == 1))
    longer = np.asarray(learned)[i, j] - np.asarray(learned)[j, i]
    more = (crossings[i, j] - crossings[j, i]).astype(np.float64)
    total = (crossings[i, j] + crossings[j, i]).clip(min=1)
    compared = more != 0
    agree = np.sign(longer[compared]) == -np.sign(more[compared])
    return {
        "agreement": float(agree.mean()) if compared.any() else float("nan"),
        "data_imbalance": float((np.abs(more) / total).mean()),
        "pairs": int(compared.sum()),
    }


#: evaluation metric prefix of :func:`greedy_descent` (``greedy_descent/task1`` ... ``/overall``)
DESCENT_KEY = "greedy_descent"


def descend(layout: Any, downhill: np.ndarray, start: tuple[int, int]) -> list[tuple[int, int]]:
    """Cells visited walking from ``start`` to the free neighbour with the lowest value of
    ``downhill`` [H, W] for as long as that is lower than the current cell's; ends at a local
    minimum (the walk never revisits a cell)."""
    from rllib_tmd.data.generate.pointmaze import NEIGHBOURS

    walk = [start]
    while True:
        i, j = walk[-1]
        options = [(i + di, j + dj) for di, dj in NEIGHBOURS if layout.is_free(i + di, j + dj)]
        best = min(options, key=lambda c: downhill[c], default=walk[-1])
        if downhill[best] >= downhill[walk[-1]]:
            return walk
        walk.append(best)


def greedy_descent(distance_fn: Callable[..., np.ndarray], env_name: str) -> dict[str, float]:
    """For each OGBench task of a pointmaze: 1.0 if walking downhill on the learned
    ``d(cell centre, goal cell centre)`` from the start cell, one neighbouring cell at a time
    (:func:`descend`), reaches the goal cell, else 0.0 (the walk stops in a local minimum).
    Keys ``greedy_descent/task<k>`` and ``greedy_descent/overall`` (their mean).

    A policy-free check of whether the learned state distance leads from start to goal; the
    walk moves between cells as a walker would (teleporters are ordinary cells here). The actor
    follows Q = -d(phi(s, a), psi(g)), not this field, so it can succeed where the walk stops.
    ``distance_fn(obs [N, 2], goals [M, 2], pairwise=True) -> [N, M]``.
    """
    layout, tasks = maze_layout(env_name)
    cells = layout.free_cells()
    goals = cell_centres(layout, [goal for _, goal in tasks.values()])
    learned = np.asarray(distance_fn(cell_centres(layout, cells), goals, pairwise=True))
    rows, cols = np.asarray(cells).T
    out = {}
    for column, (task_id, (start, goal)) in enumerate(tasks.items()):
        downhill = np.full(layout.shape, np.inf)
        downhill[rows, cols] = learned[:, column]
        out[f"{DESCENT_KEY}/task{task_id}"] = float(descend(layout, downhill, start)[-1] == goal)
    out[f"{DESCENT_KEY}/overall"] = float(np.mean(list(out.values())))
    return out


def critic_checks(distance_fn: Callable[..., np.ndarray], env_name: str) -> dict[str, float]:
    """Every check here of a learned distance that needs no rollout, on a pointmaze env;
    elsewhere ``{}``: ``distance_rank_corr_bfs`` (:func:`distance_rank_correlation`),
    ``distance_asymmetry_neighbours`` (:func:`neighbour_asymmetry`) and
    ``greedy_descent/task<k>`` / ``/overall`` (:func:`greedy_descent`).
    ``distance_fn(obs [N, 2], goals [M, 2], pairwise=True) -> [N, M]``."""
    if not env_name or not is_pointmaze(env_name):
        return {}
    learned, steps = learned_cell_distances(distance_fn, env_name)
    return {
        METRIC_KEY: bfs_rank_correlation(learned, steps),
        ASYMMETRY_KEY: neighbour_asymmetry(learned, steps),
        **greedy_descent(distance_fn, env_name),
    }
