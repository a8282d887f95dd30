"""Success of the pointmaze data-collection oracle on OGBench's 5 evaluation tasks.

The policy is the oracle that generates the pointmaze datasets
(``rllib_tmd/data/generate/pointmaze.py``): a unit vector towards the centre of the next cell on a
BFS path to the goal's cell (the generator's precomputed subgoal table), plus ``N(0, noise)``
per dimension (the recipe's 0.5), clipped to [-1, 1]. It only sees what an evaluated policy
sees: the observation (x, y) and the goal observation. On the teleport maze the observation
after a teleport step is the pre-teleport position (the env's convention), so the oracle acts
on it for one step, whereas the generator used the true position.

Navigate and stitch datasets of one maze use the same env, tasks and oracle, so each maze is
evaluated once. The noiseless oracle (``noise = 0``) is evaluated as well, for reference.

    python benchmarks/oracle_success.py                       # 4 mazes, 5 tasks x 20 episodes
    python benchmarks/oracle_success.py --mazes medium --episodes 50 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rllib_tmd.data.generate.pointmaze import (  # noqa: E402
    DIRECTION_EPS,
    PointMazeContext,
    _cell_index,
)
from rllib_tmd.envs.evaluation import ActFn, EvalResult, evaluate_policy  # noqa: E402

MAZES = ("medium", "large", "giant", "teleport")


def noisy_oracle(dataset: str, noise: float | None = None, seed: int = 0) -> ActFn:
    """``act_fn(obs [N, 2], goal [N, 2]) -> actions [N, 2]``: the generator's noisy BFS oracle.

    ``noise``: std of the Gaussian action noise (default: the dataset recipe's, 0.5).
    The noise comes from one ``numpy`` generator seeded with ``seed``.
    """
    ctx = PointMazeContext(dataset)  # same maze layout and subgoal table as the generator
    layout, subgoals = ctx.layout, ctx.subgoals
    width = layout.shape[1]
    std = ctx.recipe.noise if noise is None else noise
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        directions = np.empty((len(obs), 2))
        for row, ((x, y), (gx, gy)) in enumerate(zip(obs.tolist(), goal.tolist())):
            i, j = layout.xy_to_ij(x, y)
            sx, sy = subgoals[_cell_index(layout.xy_to_ij(gx, gy), width)][i][j]
            dx, dy = sx - x, sy - y
            directions[row] = (dx, dy)
            directions[row] /= math.sqrt(dx * dx + dy * dy) + DIRECTION_EPS
        if std > 0:
            directions += rng.normal(0.0, std, size=directions.shape)
        return np.clip(directions, -1.0, 1.0).astype(np.float32)

    return act


def evaluate_oracle(dataset: str, noise: float | None, episodes: int, seed: int) -> EvalResult:
    return evaluate_policy(
        noisy_oracle(dataset, noise=noise, seed=seed),
        dataset,
        episodes_per_task=episodes,
        seed=seed,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mazes", nargs="+", default=list(MAZES), choices=MAZES)
    p.add_argument("--episodes", type=int, default=20, help="episodes per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-noiseless", action="store_true", help="skip the noise = 0 reference")
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results = {}
    for maze in args.mazes:
        dataset = f"pointmaze-{maze}-navigate-v0"
        entry = {"datasets": [dataset, f"pointmaze-{maze}-stitch-v0"]}
        settings = [("noisy", None)] + ([] if args.no_noiseless else [("noiseless", 0.0)])
        for label, noise in settings:
            start = time.perf_counter()
            result = evaluate_oracle(dataset, noise, args.episodes, args.seed)
            entry[label] = {
                "noise": PointMazeContext(dataset).recipe.noise if noise is None else noise,
                "overall": result.overall_success,
                "per_task": {str(k): v for k, v in result.success_rates.items()},
                "mean_length": {str(t.task_id): t.mean_length for t in result.tasks},
                "wall_s": round(time.perf_counter() - start, 1),
            }
            print(f"{label} oracle, {maze} maze, seed {args.seed}:")
            print(result.format_table(markdown=False), end="\n\n", flush=True)
        results[maze] = entry
    out = {"episodes_per_task": args.episodes, "seed": args.seed, "mazes": results}
    summary = ", ".join(
        f"{m}: {r['noisy']['overall']:.2f}"
        + (f" (noiseless {r['noiseless']['overall']:.2f})" if "noiseless" in r else "")
        for m, r in results.items()
    )
    print(f"overall success of the noisy oracle: {summary}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
