"""benchmarks/oracle_success.py: the task planners that let the collection oracles solve
OGBench's evaluation tasks (used to score the data-collecting policies)."""

import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import oracle_success as oracles  # noqa: E402


def toggled(state: list[int], presses: list[int], rows: int = 3, cols: int = 3) -> list[int]:
    state = list(state)
    for i in presses:
        x, y = divmod(i, cols)
        for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= x + dx < rows and 0 <= y + dy < cols:
                state[(x + dx) * cols + y + dy] ^= 1
    return state


@pytest.mark.parametrize("seed", range(5))
def test_lights_out_presses_reach_the_goal(seed):
    rng = np.random.default_rng(seed)
    current, goal = rng.integers(0, 2, 9).tolist(), rng.integers(0, 2, 9).tolist()
    presses = oracles.lights_out_presses(current, goal, 3, 3)
    assert toggled(current, presses) == goal
    assert len(set(presses)) == len(presses)  # each button at most once


def test_lights_out_presses_nothing_when_solved():
    assert oracles.lights_out_presses([1, 0] * 4 + [1], [1, 0] * 4 + [1], 3, 3) == []
    assert oracles.lights_out_presses([0] * 9, toggled([0] * 9, [4]), 3, 3) == [4]


def test_puzzle_oracle_with_planner_solves_a_task():
    env = gymnasium.make("puzzle-3x3-v0")
    try:
        success, steps = oracles.run_manip_episode(env, "puzzle-3x3-play-v0", 1, seed=0)
    finally:
        env.close()
    assert success and steps < env.spec.max_episode_steps


def test_scene_goal_in_closed_drawer_is_moved_with_the_open_drawer():
    """Task 4 puts the cube in the closed drawer: with the drawer open, the planner's target
    is the goal shifted by the drawer's travel (and the first step unlocks the drawer)."""
    env = gymnasium.make("scene-v0")
    try:
        env.reset(seed=0, options={"task_id": 4})
        task = env.unwrapped
        goal = task._data.mocap_pos[task._cube_target_mocap_ids[0]].copy()
        assert oracles.in_drawer_at(task, goal, task._target_drawer_pos)
        assert not oracles.in_drawer_at(task, goal, oracles.DRAWER_OPEN)
        shift = oracles.slide_shift(task, "drawer", oracles.DRAWER_OPEN)
        assert shift[1] > 0.1 and shift[0] == shift[2] == 0  # the drawer opens towards +y
        first = oracles.plan_scene(task)
        assert first.task == "button" and first.target(task)["privileged/target_button"] == 0
    finally:
        env.close()
