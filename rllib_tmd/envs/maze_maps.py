"""Maze maps: a pointmaze policy's paths drawn over its learned distance to each task's goal.

One panel per OGBench task: the learned ``d(s, g_task)`` over the maze's free space (a grid of
points, ``per_cell`` x ``per_cell`` per cell; walls grey), the recorded paths of the first
episodes of that task (green: success, red: failure; a circle where an episode starts, a square
on the task's start cell, a gap where a teleporter moved the agent) and the goal (a star).
Where the critic's picture of the maze is wrong (a low-distance valley behind a wall, a
teleporter that looks like a shortcut), the paths show the policy following it.

    result = evaluate_policy(act_fn, "pointmaze-teleport-stitch-v0", record_paths=5)
    write_maze_map(result, algo.temporal_distance, "maze_map.png")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rllib_tmd.envs.evaluation import EvalResult
from rllib_tmd.envs.maze_distances import cell_centres, maze_layout

#: ``distance_fn(obs [N, 2], goals [M, 2], pairwise=True) -> [N, M]``, e.g.
#: ``TMD.temporal_distance`` (as the checks of :mod:`rllib_tmd.envs.maze_distances` take it).
DistanceFn = Callable[..., np.ndarray]


def task_goals(env_name: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{task_id: (start xy [2], goal xy [2])}`` of the env's OGBench tasks (cell centres)."""
    layout, tasks = maze_layout(env_name)
    return {k: tuple(cell_centres(layout, [start, goal])) for k, (start, goal) in tasks.items()}


@dataclasses.dataclass(frozen=True)
class MazeGrid:
    """Points over a maze, ``per_cell`` x ``per_cell`` per cell: ``points`` [P, 2] float32 (row
    by row from the lowest y), ``free`` [P] (outside walls), the image ``shape`` (rows,
    columns) and its ``extent`` (x0, x1, y0, y1) for ``imshow(origin="lower")``."""

    points: np.ndarray
    free: np.ndarray
    shape: tuple[int, int]
    extent: tuple[float, float, float, float]


def maze_grid(layout, per_cell: int = 8) -> MazeGrid:
    """The :class:`MazeGrid` of a :class:`~rllib_tmd.data.generate.pointmaze.MazeLayout`."""
    h, w = layout.shape
    half = 0.5 * layout.unit
    x0, y0 = -layout.offset_x - half, -layout.offset_y - half
    x1, y1 = x0 + w * layout.unit, y0 + h * layout.unit
    step = layout.unit / per_cell
    xs = x0 + step * (np.arange(w * per_cell) + 0.5)
    ys = y0 + step * (np.arange(h * per_cell) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    free = np.array([layout.is_free(*layout.xy_to_ij(x, y)) for x, y in points])
    return MazeGrid(points, free, gx.shape, (x0, x1, y0, y1))


def distance_fields(distance_fn: DistanceFn, grid: MazeGrid, goals: np.ndarray) -> np.ndarray:
    """``fields [M, rows, columns]``: the learned distance from the grid's free points to each
    of ``goals`` [M, 2], in one pairwise call; NaN inside walls."""
    goals = np.asarray(goals, np.float32).reshape(-1, 2)
    fields = np.full((len(goals), len(grid.points)), np.nan, dtype=np.float64)
    if grid.free.any():
        learned = distance_fn(grid.points[grid.free], goals, pairwise=True)  # [free, M]
        fields[:, grid.free] = np.asarray(learned, np.float64).T
    return fields.reshape(len(goals), *grid.shape)


def broken_at_jumps(xy: np.ndarray, max_step: float) -> np.ndarray:
    """``xy`` [T, 2] with a NaN row wherever one step moves more than ``max_step`` (a
    teleport), so that a plotted line shows a gap there instead of crossing walls."""
    jumps = np.flatnonzero(np.linalg.norm(np.diff(xy, axis=0), axis=1) > max_step) + 1
    return np.insert(xy.astype(np.float64), jumps, np.nan, axis=0)


def write_maze_map(
    result: EvalResult, distance_fn: DistanceFn, path: str | Path, per_cell: int = 8
) -> Path:
    """One PNG with a panel per task of ``result`` (an evaluation with ``record_paths``): the
    learned distance to the task's goal, the recorded paths, start and goal. Returns the path."""
    import matplotlib

    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()

    layout, _ = maze_layout(result.env_name)
    grid = maze_grid(layout, per_cell)  # the same points for every panel
    goals = task_goals(result.env_name)
    tasks = result.tasks
    cols = min(3, len(tasks))
    rows = -(-len(tasks) // cols)
    h, w = layout.shape
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols * w / max(h, w) + 1, 4.2 * rows * h / max(h, w) + 0.6),
        squeeze=False,
    )  # fmt: skip
    cmap = matplotlib.colormaps["viridis"].copy()
    cmap.set_bad("0.55")  # walls
    fields = distance_fields(distance_fn, grid, [goals[t.task_id][1] for t in tasks])
    for ax, task, field in zip(axes.ravel(), tasks, fields, strict=False):
        start, goal = goals[task.task_id]
        image = ax.imshow(
            field, origin="lower", extent=grid.extent, cmap=cmap, interpolation="nearest"
        )
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="learned d(s, goal)")
        episodes = sorted(e for (k, e) in result.paths if k == task.task_id)
        for e in episodes:
            xy = broken_at_jumps(result.paths[task.task_id, e][:, :2], 0.5 * layout.unit)
            success = bool(task.successes[e])
            ax.plot(xy[:, 0], xy[:, 1], color="limegreen" if success else "red", lw=1.0, alpha=0.8)
            ax.plot(*xy[0], "o", color="white", ms=4, mec="black")
        ax.plot(*goal, "*", color="gold", ms=14, mec="black")
        ax.plot(*start, "s", color="white", ms=6, mec="black")
        wins = int(sum(task.successes[e] for e in episodes))
        ax.set_title(
            f"task {task.task_id}: {task.success_rate:.0%} of {len(task.successes)}"
            f" (drawn: {wins}/{len(episodes)})",
            fontsize=9,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(tasks) :]:
        ax.axis("off")
    fig.suptitle(f"{result.env_name}: learned distance to each task's goal and policy paths")
    fig.tight_layout()
    return save_png(fig, path, dpi=110)
