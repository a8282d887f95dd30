"""Maze maps: a policy's paths over a distance field, one panel per task."""

import numpy as np
import pytest

from rllib_tmd.envs.evaluation import evaluate_policy
from rllib_tmd.envs.maze_maps import (
    broken_at_jumps,
    distance_fields,
    maze_grid,
    maze_layout,
    task_goals,
    write_maze_map,
)

ENV_NAME = "pointmaze-medium-navigate-v0"


def euclidean(obs: np.ndarray, goals: np.ndarray, pairwise: bool = True) -> np.ndarray:
    return np.linalg.norm(obs[:, None] - goals[None], axis=-1)  # [N, M]


def test_distance_field_covers_free_space_and_leaves_walls_empty():
    layout, _ = maze_layout(ENV_NAME)
    start, goal = task_goals(ENV_NAME)[1]
    grid = maze_grid(layout, per_cell=4)
    (field,) = distance_fields(euclidean, grid, goal[None])
    x0, x1, y0, y1 = grid.extent
    h, w = layout.shape
    assert field.shape == (4 * h, 4 * w)
    assert np.isclose(x1 - x0, w * layout.unit) and np.isclose(y1 - y0, h * layout.unit)
    free = ~np.isnan(field)
    assert free.sum() == 16 * len(layout.free_cells())  # 4 x 4 points in every free cell
    # the point nearest the goal has the smallest distance
    row, col = np.unravel_index(np.nanargmin(field), field.shape)
    step = layout.unit / 4
    nearest = np.array([x0 + step * (col + 0.5), y0 + step * (row + 0.5)])
    assert np.linalg.norm(nearest - goal) < step


def test_write_maze_map_draws_every_task(tmp_path):
    rng = np.random.default_rng(0)

    def jitter(obs, goal):
        return rng.uniform(-1, 1, size=(obs.shape[0], 2))

    result = evaluate_policy(
        jitter, ENV_NAME, episodes_per_task=1, task_ids=(1, 2), record_paths=1, num_workers=0
    )
    png = write_maze_map(result, euclidean, tmp_path / "maps" / "map.png", per_cell=2)
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_maze_maps_refuse_other_envs():
    with pytest.raises(ValueError, match="pointmaze"):
        maze_layout("cube-single-play-v0")


def test_a_teleport_jump_becomes_a_gap_in_the_line():
    xy = np.array([[0.0, 0.0], [0.1, 0.0], [9.0, 9.0], [9.1, 9.0]])
    drawn = broken_at_jumps(xy, max_step=2.0)
    assert drawn.shape == (5, 2) and np.isnan(drawn[2]).all()
    np.testing.assert_array_equal(drawn[[0, 1, 3, 4]], xy)
