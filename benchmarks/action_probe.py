"""What a trained TMD critic says about actions, and what the actor makes of it.

    python benchmarks/action_probe.py DATASET.npz SNAPSHOT... [--samples 2048] [--out F.json]

For transitions ``(s, a_data)`` of an OGBench dataset, each with a goal ``g`` drawn uniformly
from the future of its own episode (the actor's goals, spec §4), and a module snapshot
(``benchmarks/module_snapshot.py``) it compares the critic's ``Q(s, a, g)`` (min over the
ensemble of -d(phi(s, a), psi(g)), the actor's objective) for

- the data's action ``a_data`` (it moved the episode towards ``g``),
- the actor's action ``a_pi = clip(mode of pi(s, g))``,
- ``--candidates`` actions drawn uniformly from the action box [-1, 1]^A,

and reports, as means over the transitions:

- ``data_rank`` / ``actor_rank``: the share of random actions with a lower Q than the data's /
  the actor's action, ties counting half (0.5: the critic cannot tell that action from a
  random one);
- ``q_action_change``: the mean |Q(s, a, g) - Q(s, a', g)| between two random actions, next
  to ``q_goal_change``, the mean |Q(s, a_data, g) - Q(s, a_data, g')| for another transition's
  goal g': how much the critic's Q depends on the action compared with the goal;
- ``actor_minus_data``: Q(a_pi) - Q(a_data), in units of distance;
- ``actor_data_mse``: the squared distance of a_pi from a_data, summed over action dimensions,
  next to ``random_data_mse``, the same for a random action (a policy that ignored the data);
- ``actor_saturated`` / ``data_saturated``: the share of action components at the box's edge
  (|a| >= 0.99).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SATURATED = 0.99  # |a| at or above this: at the edge of the action box
#: the numbers that summarise a critic's view of actions (critic_probe --actions logs these)
ACTION_KEYS = ("data_rank", "actor_rank", "q_action_change", "q_goal_change")
#: at each log point of a training run: transitions probed, random actions per transition
LOG_POINT_SAMPLES, LOG_POINT_CANDIDATES = 1024, 32


def actor_goal_batch(
    path: Path, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(obs [n, d], actions [n, A], goals [n, d])``: ``samples`` transitions of the dataset
    at ``path``, each with a uniform future state of its own episode as goal."""
    from rllib_tmd.data.episodes import load_npz
    from rllib_tmd.data.goals import EpisodeIndex, uniform_future_index

    data = load_npz(path, ["observations", "actions", "terminals"])
    index = EpisodeIndex.from_terminals(data["terminals"])
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(index.rows), size=samples)
    rows, ends = index.rows[pick], index.ends[pick]
    goals = uniform_future_index(rows, rng.random(samples), ends)
    obs, actions = data["observations"], data["actions"]
    return (
        obs[rows].astype(np.float32),
        actions[rows].astype(np.float32),
        obs[goals].astype(np.float32),
    )


def critic_q(module: Any, obs: np.ndarray, actions: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Q ``[n]`` of ``(obs, actions, goals)`` ``[n, ·]``: min over the ensemble of -d."""
    import torch

    with torch.no_grad():
        q = module.critic(*(torch.as_tensor(x) for x in (obs, actions, goals)))
    return q.min(0).values.numpy()


def rank_among(q: np.ndarray, q_random: np.ndarray) -> float:
    """Mean share of ``q_random [n, k]``'s entries below ``q [n]`` (ties count half)."""
    below = (q_random < q[:, None]).mean()
    ties = (q_random == q[:, None]).mean()
    return float(below + 0.5 * ties)


def probe_module(
    module: Any,
    obs: np.ndarray,
    actions: np.ndarray,
    goals: np.ndarray,
    candidates: int,
    seed: int,
) -> dict[str, float]:
    """The numbers of the module docstring for one module on one batch."""
    from rllib_tmd.tmd.tmd import module_act_fn

    n, act_dim = actions.shape
    rng = np.random.default_rng(seed)
    random_actions = rng.uniform(-1.0, 1.0, size=(n, candidates, act_dim)).astype(np.float32)
    actor = module_act_fn(module)(obs, goals).astype(np.float32)  # clipped to [-1, 1] by act
    q_data = critic_q(module, obs, actions, goals)
    q_actor = critic_q(module, obs, actor, goals)
    q_random = critic_q(
        module,
        np.repeat(obs, candidates, axis=0),
        random_actions.reshape(n * candidates, act_dim),
        np.repeat(goals, candidates, axis=0),
    ).reshape(n, candidates)
    shuffled_goals = goals[rng.permutation(n)]
    q_other_goals = critic_q(module, obs, actions, shuffled_goals)
    return {
        "data_rank": rank_among(q_data, q_random),
        "actor_rank": rank_among(q_actor, q_random),
        "q_action_change": float(np.abs(q_random[:, 0] - q_random[:, 1]).mean()),
        "q_goal_change": float(np.abs(q_data - q_other_goals).mean()),
        "actor_minus_data": float((q_actor - q_data).mean()),
        "actor_data_mse": float(((actor - actions) ** 2).sum(axis=1).mean()),
        "random_data_mse": float(((random_actions[:, 0] - actions) ** 2).sum(axis=1).mean()),
        "actor_saturated": float((np.abs(actor) >= SATURATED).mean()),
        "data_saturated": float((np.abs(actions) >= SATURATED).mean()),
        "samples": float(n),
    }


def log_point_numbers(
    module: Any, batch: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int
) -> dict[str, float]:
    """``ACTION_KEYS`` of :func:`probe_module` for a training run's log point: ``batch`` from
    ``actor_goal_batch(dataset, LOG_POINT_SAMPLES, ...)``, ``LOG_POINT_CANDIDATES`` random
    actions per transition."""
    numbers = probe_module(module, *batch, candidates=LOG_POINT_CANDIDATES, seed=seed)
    return {k: numbers[k] for k in ACTION_KEYS}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("dataset", type=Path, help="an OGBench .npz (generated or official)")
    p.add_argument("snapshots", type=Path, nargs="+")
    p.add_argument("--samples", type=int, default=2048, help="transitions probed")
    p.add_argument("--candidates", type=int, default=64, help="random actions per transition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    args = p.parse_args(argv)

    from module_snapshot import load_module

    obs, actions, goals = actor_goal_batch(args.dataset, args.samples, args.seed)
    rows = {}
    for snapshot in args.snapshots:
        with tempfile.TemporaryDirectory() as tmp:
            module, _ = load_module(snapshot, Path(tmp))
        rows[snapshot.name] = probe_module(module, obs, actions, goals, args.candidates, args.seed)
        print(snapshot.name, json.dumps({k: round(v, 3) for k, v in rows[snapshot.name].items()}))
    if args.out:
        args.out.write_text(json.dumps({"dataset": str(args.dataset), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
