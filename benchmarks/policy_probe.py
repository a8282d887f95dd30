"""Where a trained TMD policy goes wrong on a pointmaze: a snapshot's rollouts and headings.

    python benchmarks/policy_probe.py tmd-pointmaze-medium-navigate-seed0.tar.gz --episodes 10

For a module snapshot (``benchmarks/module_snapshot.py``) of a pointmaze trial it reports:

- **rollouts** (OGBench's evaluation, ``--episodes`` per task): success, and the episodes that
  failed *stalled* (the ball at rest over its last 100 steps), split by the actor's action at
  the resting point: *pushing* (|a| >= 0.5: into a wall) or *idle* (a sink of the policy);
- **headings at cell centres**, for ``--goals`` goal cells and every other cell: how often the
  actor's action, and the critic's own best of 16 unit actions (argmax of Q = min over the
  ensemble of -d(phi(s, a), psi(g))), point less than 45 degrees off the way to a neighbouring
  cell on a shortest path; and how often one of the 16 headings drawn at random does (chance);
- the median size |a| of the actor's action there;
- **at the resting points** of the stalled episodes: how often the actor and the critic's
  greedy choice head towards a neighbouring cell on a shortest path to the task's goal
  (whether the critic would lead out of the actor's sink), and how often the learned distance
  d(psi(s), psi(g)) is smaller from such a neighbour's centre than from the resting point
  (if not, the resting point is a false local minimum of the distance to the goal), next to
  the same share over every (cell centre, goal cell) pair (``downhill_at_centres``).

Writes the numbers as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

#: ``act(obs [N, 2], goals [N, 2]) -> actions [N, 2]``
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: ``distance(obs [N, 2], goals [N, 2]) -> learned d(obs, goals) [N]``
DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

HEADINGS = 16  # unit actions the critic's greedy choice is taken over
CONE = np.cos(np.pi / 4) + 1e-6  # "points to" a cell: less than 45 degrees off (45: no)
PUSHING = 0.5  # |a| at a resting point above this: pushing into a wall


def unit_headings(n: int = HEADINGS) -> np.ndarray:
    """``n`` unit actions [n, 2] evenly around the circle."""
    angles = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


@functools.lru_cache(maxsize=8)
def maze_cells(env_name: str) -> tuple[Any, dict[tuple[int, int], int], np.ndarray, np.ndarray]:
    """``(layout, index, centres [N, 2], steps [N, N])`` of a pointmaze's N free cells:
    ``index`` maps a cell (row, column) to its row in ``centres`` and ``steps`` (BFS)."""
    from rllib_tmd.envs.maze_distances import maze_cell_distances, maze_layout

    layout, _ = maze_layout(env_name)
    centres, steps = maze_cell_distances(env_name)
    index = {cell: k for k, cell in enumerate(layout.free_cells())}
    return layout, index, centres, steps


@functools.lru_cache(maxsize=8)
def shortest_path_headings(env_name: str) -> tuple[np.ndarray, list[list[list[np.ndarray]]]]:
    """``(centres [N, 2], good)`` over a pointmaze's N free cells: ``good[s][g]`` lists the unit
    vectors from cell ``s`` to its neighbours one BFS step closer to cell ``g``."""
    centres = maze_cells(env_name)[2]
    good = [[headings_from(here, goal, env_name) for goal in centres] for here in centres]
    return centres, good


def closer_neighbours(point: np.ndarray, goal: np.ndarray, env_name: str) -> np.ndarray:
    """Centres [K, 2] of the neighbours of ``point``'s cell one BFS step closer to ``goal``'s
    cell (K = 0 where the two share a cell or no walking path joins them). Neighbours are
    cells one BFS step apart, as in :func:`downhill_share`."""
    layout, index, centres, steps = maze_cells(env_name)
    s, g = index.get(layout.xy_to_ij(*point)), index.get(layout.xy_to_ij(*goal))
    if s is None or g is None or steps[s, g] <= 0:
        return np.zeros((0, 2), dtype=np.float32)
    return centres[(steps[s] == 1) & (steps[:, g] == steps[s, g] - 1)]


def unit_vectors(point: np.ndarray, targets: np.ndarray) -> list[np.ndarray]:
    """Unit vectors [2] from ``point`` [2] to each of ``targets`` [K, 2]."""
    steps = targets - point
    return list(steps / np.linalg.norm(steps, axis=1, keepdims=True))


def headings_from(point: np.ndarray, goal: np.ndarray, env_name: str) -> list[np.ndarray]:
    """Unit vectors [2] from ``point`` to :func:`closer_neighbours`: the ways along a shortest
    path from anywhere in a cell, not only its centre."""
    return unit_vectors(point, closer_neighbours(point, goal, env_name))


def points_along(action: np.ndarray, headings: list[np.ndarray]) -> bool:
    """Whether ``action`` [2] is less than 45 degrees off one of ``headings`` (False for a 0
    action)."""
    norm = float(np.linalg.norm(action))
    return norm > 0 and any(float(action @ h) / norm > CONE for h in headings)


def heading_agreement(
    act: ActFn, env_name: str, goal_cells: int, seed: int = 0
) -> dict[str, float]:
    """Share of (cell centre, goal cell) pairs, over ``goal_cells`` goal cells drawn at random
    and every cell with a walking path to them, in which ``act`` heads along a shortest path;
    ``chance``: the same for a heading drawn uniformly; ``pairs``: how many were scored."""
    centres, good = shortest_path_headings(env_name)
    rng = np.random.default_rng(seed)
    goals = rng.choice(len(centres), min(goal_cells, len(centres)), replace=False)
    hits, chance, pairs = 0, 0.0, 0
    ring = unit_headings()
    for g in goals:
        starts = [s for s in range(len(centres)) if good[s][g]]
        if not starts:
            continue
        actions = np.asarray(act(centres[starts], np.repeat(centres[g][None], len(starts), 0)))
        for s, action in zip(starts, actions, strict=True):
            hits += points_along(action, good[s][g])
            chance += np.mean([points_along(h, good[s][g]) for h in ring])
            pairs += 1
    return {"agreement": hits / pairs, "chance": chance / pairs, "pairs": float(pairs)}


def critic_greedy_act(module: Any) -> ActFn:
    """The critic's own policy: the best of :data:`HEADINGS` unit actions by Q (min over the
    ensemble of -d(phi(s, a), psi(g)))."""
    import torch

    ring = torch.as_tensor(unit_headings())

    def act(obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        n, k = len(obs), len(ring)
        o = torch.as_tensor(obs, dtype=torch.float32).repeat_interleave(k, 0)
        g = torch.as_tensor(goals, dtype=torch.float32).repeat_interleave(k, 0)
        with torch.no_grad():
            q = module.critic(o, ring.repeat(n, 1), g).min(0).values.view(n, k)
        return ring[q.argmax(1)].numpy()

    return act


def stalls_by_action(evaluation: Any, act: ActFn) -> dict[str, float]:
    """Shares of an evaluation's episodes that failed stalled, pushing or idle by ``act``'s
    action at the resting point (needs ``record_paths`` covering every episode)."""
    pushing = idle = 0
    for task in evaluation.tasks:
        goal = evaluation_goal(evaluation.env_name, task.task_id)
        for e, stalled in enumerate(task.stalled):
            if not stalled:
                continue
            path = evaluation.paths[task.task_id, e]
            size = float(np.linalg.norm(act(path[-1:], goal[None])[0]))
            pushing, idle = pushing + (size >= PUSHING), idle + (size < PUSHING)
    episodes = sum(len(t.successes) for t in evaluation.tasks)
    return {"stalled_pushing": pushing / episodes, "stalled_idle": idle / episodes}


def downhill_share(learned: np.ndarray, steps: np.ndarray) -> float:
    """Over the ordered pairs (cell centre s, goal cell g) with a walking path between them
    (``steps`` [N, N], BFS; ``learned`` [N, N], the learned d between cell centres): the share
    in which ``learned[n, g] < learned[s, g]`` for a neighbour n of s one BFS step closer to g,
    i.e. the learned distance falls towards the goal from s (1.0 for ``steps`` itself)."""
    adjacent = steps == 1
    hits = pairs = 0
    for g in range(len(steps)):
        to_goal = steps[:, g]
        closer = adjacent & (to_goal[None, :] == to_goal[:, None] - 1)  # [s, n]
        falls = closer & (learned[None, :, g] < learned[:, g, None])
        scored = to_goal > 0
        hits += int(falls.any(1)[scored].sum())
        pairs += int(scored.sum())
    return hits / max(pairs, 1)


def resting_point_headings(
    evaluation: Any, acts: dict[str, ActFn], distance: DistanceFn | None = None
) -> dict[str, float]:
    """At the resting point of every stalled episode (``record_paths`` covering each one):
    the share in which each of ``acts`` heads along a shortest path to the task's goal
    (:func:`headings_from`), keyed ``<name>_heading_at_rest``; with ``distance``, the share
    ``downhill_at_rest`` in which it is smaller from a :func:`closer_neighbours` centre than
    from the resting point (no: the resting point is a false local minimum of the learned
    distance to the goal); ``rest_points``, how many were scored (resting points in the
    goal's own cell are not)."""
    hits = dict.fromkeys(acts, 0)
    scored = downhill = 0
    for task in evaluation.tasks:
        goal = evaluation_goal(evaluation.env_name, task.task_id)
        for e, stalled in enumerate(task.stalled):
            if not stalled:
                continue
            point = evaluation.paths[task.task_id, e][-1].astype(np.float32)
            closer = closer_neighbours(point, goal, evaluation.env_name)
            if not len(closer):
                continue
            scored += 1
            headings = unit_vectors(point, closer)
            for name, act in acts.items():
                hits[name] += points_along(act(point[None], goal[None])[0], headings)
            if distance is not None:
                points = np.vstack([point[None], closer])
                d = distance(points, np.repeat(goal[None], len(points), 0))
                downhill += bool(d[1:].min() < d[0])
    shares = {f"{name}_heading_at_rest": hits[name] / max(scored, 1) for name in acts}
    if distance is not None:
        shares["downhill_at_rest"] = downhill / max(scored, 1)
    return {**shares, "rest_points": float(scored)}


def evaluation_goal(env_name: str, task_id: int) -> np.ndarray:
    """The goal cell centre [2] of a pointmaze task (resting points are judged against it)."""
    from rllib_tmd.envs.maze_maps import task_goals

    return np.asarray(task_goals(env_name)[task_id][1], dtype=np.float32)


def probe(snapshot: Path, episodes: int, goal_cells: int, workers: int | None) -> dict[str, Any]:
    """Every number of the module docstring for one snapshot."""
    from module_snapshot import load_module

    from rllib_tmd.envs.evaluation import evaluate_policy
    from rllib_tmd.envs.maze_distances import (
        is_pointmaze,
        learned_cell_distances,
        maze_cell_distances,
    )
    from rllib_tmd.tmd.tmd import module_act_fn, module_distance

    with tempfile.TemporaryDirectory() as tmp:
        module, info = load_module(snapshot, Path(tmp))
    env_name = info["ogbench_env"]
    if not is_pointmaze(env_name):
        raise SystemExit(f"{snapshot}: {env_name} is not a pointmaze; headings need its grid")
    actor, critic = module_act_fn(module), critic_greedy_act(module)
    distance = functools.partial(module_distance, module, ensemble="mean")
    evaluation = evaluate_policy(
        actor, env_name, episodes_per_task=episodes, num_workers=workers, record_paths=episodes
    )
    centres, _ = maze_cell_distances(env_name)
    rng = np.random.default_rng(0)
    sizes = np.linalg.norm(actor(centres, centres[rng.permutation(len(centres))]), axis=1)
    actor_heading = heading_agreement(actor, env_name, goal_cells)
    return {
        "snapshot": snapshot.name,
        "env": env_name,
        "episodes_per_task": episodes,
        "success": evaluation.overall_success,
        "stalled": evaluation.stalled_rate,
        **stalls_by_action(evaluation, actor),
        "actor_heading_agreement": actor_heading["agreement"],
        "critic_heading_agreement": heading_agreement(critic, env_name, goal_cells)["agreement"],
        **resting_point_headings(evaluation, {"actor": actor, "critic": critic}, distance),
        "downhill_at_centres": downhill_share(*learned_cell_distances(distance, env_name)),
        "heading_chance": actor_heading["chance"],
        "heading_pairs": int(actor_heading["pairs"]),
        "actor_size_median": float(np.median(sizes)),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("snapshots", type=Path, nargs="+")
    p.add_argument("--episodes", type=int, default=10, help="per task")
    p.add_argument("--goals", type=int, default=40, help="goal cells for the headings")
    p.add_argument("--workers", type=int, default=None, help="env processes (0: in this one)")
    p.add_argument("--out", type=Path, default=None, help="JSON file for every snapshot's numbers")
    args = p.parse_args(argv)
    rows = []
    for snapshot in args.snapshots:
        rows.append(probe(snapshot, args.episodes, args.goals, args.workers))
        print(json.dumps(rows[-1]), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
