"""benchmarks/policy_probe.py: headings along shortest paths, and stalled rollouts by cause."""

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import policy_probe  # noqa: E402

from rllib_tmd.envs.evaluation import evaluate_policy  # noqa: E402
from rllib_tmd.envs.ogbench_env import make_inner_env  # noqa: E402

ENV = "pointmaze-medium-navigate-v0"


def oracle_act():
    """OGBench's own oracle heading: towards the next cell of a shortest path."""
    maze = make_inner_env(ENV).unwrapped

    def act(obs, goals):
        return np.stack([maze.get_oracle_subgoal(o, g)[0] - o for o, g in zip(obs, goals)])

    return act


def test_the_oracle_always_heads_along_a_shortest_path_and_a_zero_action_never_does():
    oracle = policy_probe.heading_agreement(oracle_act(), ENV, goal_cells=5)
    zero = policy_probe.heading_agreement(lambda o, g: np.zeros_like(o), ENV, goal_cells=5)
    assert oracle["agreement"] == 1.0 and zero["agreement"] == 0.0
    assert oracle["pairs"] == zero["pairs"] > 5 * 20  # every cell to each of the 5 goals
    assert 0.15 < oracle["chance"] < 0.35  # 16 headings, one or two of 4 neighbours good


def test_stalled_episodes_are_split_by_the_action_at_the_resting_point():
    def push_down(obs, goals):  # runs into the nearest wall below, then keeps pushing
        return np.tile(np.array([[0.0, -1.0]], dtype=np.float32), (len(obs), 1))

    for act, cause in (
        (lambda o, g: np.zeros_like(o), "stalled_idle"),
        (push_down, "stalled_pushing"),
    ):
        result = evaluate_policy(
            act, ENV, episodes_per_task=1, task_ids=(1, 2), num_workers=0, record_paths=1
        )
        shares = policy_probe.stalls_by_action(result, act)
        assert result.stalled_rate == 1.0
        assert shares[cause] == pytest.approx(1.0) and sum(shares.values()) == pytest.approx(1.0)


def test_at_the_resting_points_the_oracle_heads_along_a_shortest_path_and_a_zero_action_not():
    def stay(obs, goals):  # every episode stalls at its start (off centre by the reset noise)
        return np.zeros_like(obs)

    result = evaluate_policy(
        stay, ENV, episodes_per_task=2, task_ids=(1, 2), num_workers=0, record_paths=2
    )
    shares = policy_probe.resting_point_headings(result, {"oracle": oracle_act(), "zero": stay})
    assert shares["rest_points"] == 4
    assert shares["oracle_heading_at_rest"] == 1.0 and shares["zero_heading_at_rest"] == 0.0

    # a distance that falls along shortest paths (the maze's own BFS steps) always goes
    # downhill from a resting point; a flat one never does
    layout, index, _, steps = policy_probe.maze_cells(ENV)

    def bfs(obs, goals):
        cell = [index[layout.xy_to_ij(*xy)] for xy in np.vstack([obs, goals])]
        return steps[cell[: len(obs)], cell[len(obs) :]].astype(float)

    for distance, downhill in ((bfs, 1.0), (lambda o, g: np.ones(len(o)), 0.0)):
        shares = policy_probe.resting_point_headings(result, {}, distance)
        assert shares["downhill_at_rest"] == downhill and shares["rest_points"] == 4


def test_the_bfs_distance_falls_towards_every_goal_from_every_cell_and_a_flat_one_never():
    _, _, _, steps = policy_probe.maze_cells(ENV)
    assert policy_probe.downhill_share(steps.astype(float), steps) == 1.0
    assert policy_probe.downhill_share(np.ones(steps.shape), steps) == 0.0
    assert policy_probe.downhill_share(-steps.astype(float), steps) == 0.0  # uphill everywhere
