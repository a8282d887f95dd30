"""benchmarks/action_probe.py: what a critic's Q says about actions, on made-up critics."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import action_probe  # noqa: E402


class PointModule:
    """A module on 2-D points: Q = -|s + step * a - g| (one ensemble member); its actor heads
    straight for the goal. ``step = 0`` gives a critic blind to actions."""

    def __init__(self, step: float) -> None:
        self.step = step

    def critic(self, obs, actions, goals):
        return -torch.linalg.norm(obs + self.step * actions - goals, dim=1)[None]

    def act(self, obs, goals):
        return torch.clamp(goals - obs, -1.0, 1.0)


def batch(n: int = 256):
    rng = np.random.default_rng(0)
    obs = rng.uniform(-5, 5, size=(n, 2)).astype(np.float32)
    goals = rng.uniform(-5, 5, size=(n, 2)).astype(np.float32)
    data_actions = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)  # unrelated to the goal
    return obs, data_actions, goals


def test_a_critic_blind_to_actions_ranks_every_action_at_one_half():
    numbers = action_probe.probe_module(PointModule(step=0.0), *batch(), candidates=16, seed=0)
    assert numbers["data_rank"] == numbers["actor_rank"] == 0.5
    assert numbers["q_action_change"] == 0.0 < numbers["q_goal_change"]
    assert numbers["actor_minus_data"] == 0.0


def test_an_actor_that_follows_an_action_aware_critic_outranks_random_data_actions():
    numbers = action_probe.probe_module(PointModule(step=0.5), *batch(), candidates=16, seed=0)
    assert numbers["actor_rank"] > 0.95  # towards the goal: better than nearly every action
    assert numbers["data_rank"] == pytest.approx(0.5, abs=0.05)  # random data actions
    assert numbers["actor_minus_data"] > 0
    assert 0 < numbers["q_action_change"] < numbers["q_goal_change"]
    assert numbers["random_data_mse"] == pytest.approx(4 / 3, rel=0.15)  # 2 dims of U(-1,1)


def test_goals_are_future_states_of_the_same_episode(tmp_path):
    # two episodes of 5 and 4 rows; an observation is its row number
    terminals = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1], dtype=np.float32)
    rows = np.arange(9, dtype=np.float32)
    path = tmp_path / "tiny.npz"
    np.savez(path, observations=rows[:, None], actions=rows[:, None] / 10, terminals=terminals)

    obs, actions, goals = action_probe.actor_goal_batch(path, samples=200, seed=0)

    s, g = obs[:, 0].astype(int), goals[:, 0].astype(int)
    assert set(s) <= {0, 1, 2, 3, 5, 6, 7}  # transitions only: never an episode's last row
    assert np.all(g > s)
    assert np.all((s < 4) == (g <= 4))  # never across the episode boundary
    np.testing.assert_allclose(actions[:, 0], s / 10)


def test_the_authors_agent_answers_the_probe_as_a_module_does():
    """``authors_training_run.AuthorsModule``: Q = -d(phi(s, a), psi(g)) per ensemble member,
    from a stand-in of the authors' agent (numpy in place of JAX)."""
    import types

    from authors_training_run import AuthorsModule

    networks = {
        "phi": lambda obs, actions: np.stack([obs + actions, obs + 2 * actions]),  # [E=2, N, 2]
        "psi": lambda states: np.stack([states, states]),
    }
    agent = types.SimpleNamespace(
        network=types.SimpleNamespace(select=networks.__getitem__),
        distance=lambda x, y: np.linalg.norm(x - y, axis=-1),
    )
    obs, actions, goals = (torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]),
                           torch.tensor([[3.0, 0.0]]))  # fmt: skip

    q = AuthorsModule(agent).critic(obs, actions, goals)

    assert q.shape == (2, 1)
    torch.testing.assert_close(q, torch.tensor([[-2.0], [-1.0]], dtype=q.dtype))
