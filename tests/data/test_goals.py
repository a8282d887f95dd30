"""Goal relabelling (spec §4): rllib_tmd/data/goals.py."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_tmd.data.goals import (
    NUM_UNIFORMS,
    EpisodeIndex,
    GoalConfig,
    GoalMix,
    episode_ends,
    future_goal_index,
    geometric_offsets,
    goal_indices,
    random_index,
    sample_batch_indices,
    transition_rows,
    uniform_future_index,
)

# Two episodes: rows 0-3 (terminal at 3) and rows 4-5 (terminal at 5).
TERMINALS = np.array([0, 0, 0, 1, 0, 1], dtype=np.float32)


def test_episode_structure_from_terminals():
    np.testing.assert_array_equal(episode_ends(TERMINALS), [3, 3, 3, 3, 5, 5])
    np.testing.assert_array_equal(transition_rows(TERMINALS), [0, 1, 2, 4])
    index = EpisodeIndex.from_terminals(TERMINALS)
    np.testing.assert_array_equal(index.ends, [3, 3, 3, 5])
    assert index.num_rows == 6


def test_unterminated_last_episode_is_rejected():
    with pytest.raises(ValueError, match="unterminated"):
        episode_ends(np.array([0, 1, 0], dtype=np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"value_p_trajgoal": 0.5}, "value_p_curgoal \\+ value_p_trajgoal"),
        ({"actor_p_trajgoal": 0.5, "actor_p_randomgoal": 0.6}, "actor_p_curgoal"),
        ({"actor_p_curgoal": -0.5, "actor_p_trajgoal": 1.5}, ">= 0"),
        ({"discount": 1.0}, "discount"),
    ],
)
def test_goal_config_rejects_bad_probabilities(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GoalConfig(**kwargs)


def test_goal_config_defaults_match_spec():
    config = GoalConfig()
    assert config.discount == 0.99
    assert config.value_mix == GoalMix(0.0, 1.0, 0.0, True)
    assert config.actor_mix == GoalMix(0.0, 1.0, 0.0, False)
    GoalConfig(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)  # stitch/explore mix is valid


def test_geometric_offsets_mean_and_tail():
    gamma = 0.99
    u = np.random.default_rng(0).random(400_000)
    k = geometric_offsets(u, gamma)
    assert k.min() >= 1
    # Mean 1/(1-gamma) = 100, std ~ 99.5 -> standard error ~ 0.16 at this sample size.
    assert abs(k.mean() - 1 / (1 - gamma)) < 1.0
    for j in (1, 10, 100, 300):
        assert abs((k > j).mean() - gamma**j) < 0.005


def test_geometric_offsets_extreme_uniforms():
    u = np.array([0.0, 0.5, 1 - 2**-53])
    k = geometric_offsets(u, 0.99)
    assert k[0] == 1 and np.all(np.isfinite(k)) and k[2] > 3000


def test_future_goal_is_capped_at_episode_end():
    idx = np.array([0, 2, 4])
    ends = np.array([3, 3, 5])
    np.testing.assert_array_equal(future_goal_index(idx, np.array([1, 5, 1]), ends), [1, 3, 5])


def test_uniform_future_covers_exactly_the_future_rows():
    n = 200_000
    idx = np.full(n, 10)
    end = np.full(n, 19)
    goals = uniform_future_index(idx, np.random.default_rng(1).random(n), end)
    counts = np.bincount(goals, minlength=20)
    assert counts[:11].sum() == 0
    np.testing.assert_allclose(counts[11:] / n, 1 / 9, atol=0.004)  # uniform over 11..19


def test_uniform_future_at_the_last_transition_and_terminal_row():
    ends = np.array([5, 5])
    u = np.array([0.0, 0.999999])
    np.testing.assert_array_equal(uniform_future_index(np.array([4, 4]), u, ends), [5, 5])
    np.testing.assert_array_equal(uniform_future_index(np.array([5, 5]), u, ends), [5, 5])


def test_random_index_stays_in_range():
    u = np.array([0.0, 0.5, 1 - 2**-53])
    np.testing.assert_array_equal(random_index(u, 10), [0, 5, 9])


def test_mixture_proportions():
    n = 100_000
    rng = np.random.default_rng(2)
    idx = np.full(n, 0)
    end = np.full(n, 500)
    mix = GoalMix(p_curgoal=0.2, p_trajgoal=0.5, p_randomgoal=0.3, geom_sample=False)
    # Random goals land in rows 1000..1999: another "episode" of a bigger dataset.
    u = rng.random((3, n))
    u[2] = 0.5 + 0.5 * u[2]
    goals = goal_indices(idx, end, u, mix, 0.99, num_rows=2000)
    assert abs((goals == 0).mean() - 0.2) < 0.01
    assert abs(((goals >= 1) & (goals <= 500)).mean() - 0.5) < 0.01
    assert abs((goals >= 1000).mean() - 0.3) < 0.01


def _batch(lengths, config, n=50_000, seed=0):
    terminals = np.zeros(sum(lengths), dtype=np.float32)
    terminals[np.cumsum(lengths) - 1] = 1
    index = EpisodeIndex.from_terminals(terminals)
    u = np.random.default_rng(seed).random((NUM_UNIFORMS, n))
    batch = sample_batch_indices(u, index.rows, index.ends, config, index.num_rows)
    ends = episode_ends(terminals)
    return batch, ends


@pytest.mark.parametrize("geom", [True, False])
def test_goals_are_future_states_of_the_same_episode(geom):
    config = GoalConfig(value_geom_sample=geom, actor_geom_sample=not geom)
    batch, ends = _batch([2, 3, 10, 57, 400], config)
    for goals in (batch.value_goals, batch.actor_goals):
        assert np.all(goals > batch.rows)  # strictly after t (p_curgoal = 0)
        assert np.all(goals <= ends[batch.rows])  # never past the episode's last row
        assert np.all(ends[goals] == ends[batch.rows])  # same episode


def test_two_row_and_three_row_episodes():
    """One transition: the goal is its next (final) state. Two transitions: both rules."""
    batch, ends = _batch([2], GoalConfig())
    np.testing.assert_array_equal(batch.rows, 0)
    np.testing.assert_array_equal(batch.value_goals, 1)
    np.testing.assert_array_equal(batch.actor_goals, 1)
    batch, _ = _batch([3], GoalConfig())
    assert set(np.unique(batch.rows)) == {0, 1}
    last = batch.rows == 1
    np.testing.assert_array_equal(batch.value_goals[last], 2)  # last transition -> final state
    np.testing.assert_array_equal(batch.actor_goals[last], 2)
    first = ~last
    assert set(np.unique(batch.actor_goals[first])) == {1, 2}
    # geometric from t=0 in a 3-row episode: P(goal = 1) = P(k = 1) = 1 - gamma
    assert abs((batch.value_goals[first] == 1).mean() - 0.01) < 0.005


def test_terminal_rows_are_never_sampled_as_transitions():
    batch, ends = _batch([2, 5, 3], GoalConfig())
    assert not np.any(np.isin(batch.rows, [1, 6, 9]))
    assert set(np.unique(batch.rows)) == {0, 2, 3, 4, 5, 7, 8}


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(2, 40), min_size=1, max_size=12),
    p=st.sampled_from([(0.0, 1.0, 0.0), (0.3, 0.7, 0.0), (0.0, 0.5, 0.5), (0.2, 0.3, 0.5)]),
    geom=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_numpy_and_torch_give_identical_indices(lengths, p, geom, seed):
    """The same uniforms give the same indices through numpy and torch (one implementation)."""
    config = GoalConfig(
        discount=0.9,
        value_p_curgoal=p[0],
        value_p_trajgoal=p[1],
        value_p_randomgoal=p[2],
        value_geom_sample=geom,
        actor_p_curgoal=p[0],
        actor_p_trajgoal=p[1],
        actor_p_randomgoal=p[2],
        actor_geom_sample=not geom,
    )
    terminals = np.zeros(sum(lengths), dtype=np.float32)
    terminals[np.cumsum(lengths) - 1] = 1
    index = EpisodeIndex.from_terminals(terminals)
    u = np.random.default_rng(seed).random((NUM_UNIFORMS, 256))
    a = sample_batch_indices(u, index.rows, index.ends, config, index.num_rows)
    b = sample_batch_indices(
        torch.from_numpy(u),
        torch.from_numpy(index.rows),
        torch.from_numpy(index.ends),
        config,
        index.num_rows,
    )
    for name in ("rows", "value_goals", "actor_goals"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name).numpy())
    ends = episode_ends(terminals)
    for goals in (a.value_goals, a.actor_goals):
        assert np.all((goals < index.num_rows) & (goals >= 0))
        if p[2] == 0:  # without random goals: the same episode, at or after t
            assert np.all(ends[goals] == ends[a.rows])
            assert np.all(goals >= a.rows)
