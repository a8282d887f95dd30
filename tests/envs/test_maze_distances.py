"""Ground-truth pointmaze distances and the rank correlation a learned distance is scored by."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_tmd.envs.maze_distances import (
    average_ranks,
    cell_crossings,
    critic_checks,
    descend,
    distance_profile,
    distance_rank_correlation,
    flow_agreement,
    greedy_descent,
    is_pointmaze,
    maze_cell_distances,
    maze_layout,
    neighbour_asymmetry,
    rank_correlation,
)


def test_medium_maze_cells_and_bfs_distances():
    centres, steps = maze_cell_distances("pointmaze-medium-navigate-v0")
    assert centres.shape == (26, 2) and steps.shape == (26, 26)
    assert (steps == steps.T).all() and (np.diag(steps) == 0).all() and (steps >= 0).all()
    # neighbouring cells are one BFS step and one maze unit (4.0) apart
    one_step = steps == 1
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[one_step]
    assert np.allclose(gaps, 4.0)


def test_teleport_maze_has_cells_reachable_only_by_teleporting():
    _, steps = maze_cell_distances("pointmaze-teleport-stitch-v0")
    assert (steps == -1).any() and (steps == steps.T).all()


def test_average_ranks_share_ties():
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]


def test_rank_correlation_is_spearman():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 300).astype(float)  # many ties, as BFS distances have
    b = a + rng.normal(size=300)
    ranks_a, ranks_b = average_ranks(a), average_ranks(b)
    pearson_of_ranks = np.corrcoef(ranks_a, ranks_b)[0, 1]
    assert rank_correlation(a, b) == pytest.approx(pearson_of_ranks)
    assert rank_correlation(a, a) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)


def test_a_distance_that_is_the_bfs_distance_scores_one():
    centres, steps = maze_cell_distances("pointmaze-large-navigate-v0")
    index = {tuple(c): i for i, c in enumerate(centres)}

    def bfs_distance(obs, goals, pairwise):
        assert pairwise
        rows = [index[tuple(o)] for o in obs]
        cols = [index[tuple(g)] for g in goals]
        return steps[np.ix_(rows, cols)].astype(float)

    assert distance_rank_correlation(bfs_distance, "pointmaze-large-navigate-v0") == 1.0


def test_the_profile_of_the_bfs_distance_grows_by_one_per_step_and_is_symmetric():
    _, steps = maze_cell_distances("pointmaze-medium-navigate-v0")
    true = distance_profile(steps * 2.0, steps)
    assert [r["steps"] for r in true["by_steps"]] == list(range(1, steps.max() + 1))
    assert all(r["mean"] == r["p10"] == r["p90"] == 2.0 * r["steps"] for r in true["by_steps"])
    assert sum(r["pairs"] for r in true["by_steps"]) == 26 * 25  # every ordered pair, once
    assert true["adjacent"] == {"mean": 2.0, "mean_min_direction": 2.0, "mean_asymmetry": 0.0}
    # one direction 1, the other 9: the mean and the smaller direction tell them apart
    one_way = np.where(np.triu(np.ones_like(steps, dtype=bool)), 1.0, 9.0)
    skewed = distance_profile(one_way, steps)["adjacent"]
    assert skewed == {"mean": 5.0, "mean_min_direction": 1.0, "mean_asymmetry": 8.0}
    # the evaluations' scale-free summary: 8 / (1 + 9); 0 for the symmetric one
    assert neighbour_asymmetry(one_way, steps) == pytest.approx(0.8)
    assert neighbour_asymmetry(3.0 * one_way, steps) == pytest.approx(0.8)
    assert neighbour_asymmetry(steps * 2.0, steps) == 0.0


def test_critic_checks_score_the_order_the_asymmetry_and_the_descent():
    centres, steps = maze_cell_distances("pointmaze-medium-navigate-v0")
    index = {tuple(c): i for i, c in enumerate(centres)}

    def bfs_distance(obs, goals, pairwise):
        return steps[np.ix_([index[tuple(o)] for o in obs], [index[tuple(g)] for g in goals])]

    checks = critic_checks(bfs_distance, "pointmaze-medium-navigate-v0")
    assert checks["distance_rank_corr_bfs"] == 1.0
    assert checks["distance_asymmetry_neighbours"] == 0.0
    assert checks["greedy_descent/overall"] == 1.0
    assert critic_checks(bfs_distance, "scene-play-v0") == {}


def test_crossings_count_each_move_between_cells_within_an_episode():
    env = "pointmaze-medium-navigate-v0"
    centres, steps = maze_cell_distances(env)
    a, b = np.argwhere(steps == 1)[0]  # two neighbouring cells
    # episode 1: a, a, b, a (two moves); episode 2 starts in b right after it: not a move
    obs = centres[[a, a, b, a, b, b]] + 0.3  # off-centre points stay in their cells
    terminals = np.array([0, 0, 0, 1, 0, 1])
    counts = cell_crossings(env, obs, terminals)
    assert counts[a, b] == 1 and counts[b, a] == 1 and counts.sum() == 2


def test_flow_agreement_says_whether_the_longer_direction_is_the_one_the_data_takes_less():
    _, steps = maze_cell_distances("pointmaze-medium-navigate-v0")
    upper = np.triu(np.ones_like(steps, dtype=bool), 1)
    crossings = np.where(upper, 10, 30) * (steps == 1)  # the data goes j -> i three times as often
    learned_follows = np.where(upper, 5.0, 1.0)  # i -> j, taken less, is longer
    result = flow_agreement(learned_follows, crossings, steps)
    assert result == {
        "agreement": 1.0,
        "data_imbalance": 0.5,
        "pairs": int((steps == 1).sum() // 2),
    }
    assert flow_agreement(learned_follows.T, crossings, steps)["agreement"] == 0.0


def test_only_pointmazes_have_grid_distances():
    assert is_pointmaze("pointmaze-giant-stitch-v0") and not is_pointmaze("scene-play-v0")
    with pytest.raises(ValueError, match="pointmaze"):
        maze_cell_distances("scene-play-v0")


def bfs_distance_fn(env_name):
    """The true walking distance as a ``distance_fn`` over cell centres (pairwise)."""
    centres, steps = maze_cell_distances(env_name)
    index = {tuple(c): i for i, c in enumerate(centres)}

    def distance(obs, goals, pairwise=True):
        rows = [index[tuple(o)] for o in np.asarray(obs, np.float32)]
        cols = [index[tuple(g)] for g in np.asarray(goals, np.float32)]
        return steps[np.ix_(rows, cols)].astype(float)

    return distance


def test_walking_downhill_on_the_true_distance_reaches_every_goal():
    scores = greedy_descent(
        bfs_distance_fn("pointmaze-medium-navigate-v0"), "pointmaze-medium-navigate-v0"
    )
    assert scores == {
        **{f"greedy_descent/task{k}": 1.0 for k in range(1, 6)},
        "greedy_descent/overall": 1.0,
    }


def test_walking_downhill_stops_in_a_local_minimum():
    layout, tasks = maze_layout("pointmaze-medium-navigate-v0")
    start, goal = tasks[1]
    straight = np.full(layout.shape, np.inf)  # straight-line distance: walls make dead ends
    for i, j in layout.free_cells():
        straight[i, j] = np.hypot(i - goal[0], j - goal[1])
    walk = descend(layout, straight, start)
    assert walk[0] == start and len(set(walk)) == len(walk)
    assert all(straight[b] < straight[a] for a, b in zip(walk, walk[1:]))  # strictly downhill
    assert walk[-1] != goal  # task 1 needs a detour that a straight line does not show

    def euclidean(obs, goals, pairwise=True):
        return np.linalg.norm(obs[:, None] - goals[None], axis=-1)

    scores = greedy_descent(euclidean, "pointmaze-medium-navigate-v0")
    assert scores["greedy_descent/task1"] == 0.0 and scores["greedy_descent/overall"] < 1.0
