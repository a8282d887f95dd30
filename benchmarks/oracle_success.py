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

``--cube`` evaluates the single-cube manipulation oracles the same way (``cube_oracle_success``):
the generator's own oracle and action noise (``make_oracles``, ``draw_noise_std``,
``recipe_action`` of ``rllib_tmd/data/generate/manipspace.py``), in OGBench's task-mode env
(200 steps, the episode ends at success). The oracle is privileged: it reads the cube's state
from ``info`` and the task's goal pose from the env, as it reads the data-collection target.

    python benchmarks/oracle_success.py                       # 4 mazes, 5 tasks x 20 episodes
    python benchmarks/oracle_success.py --mazes medium --episodes 50 --json out.json
    python benchmarks/oracle_success.py --mazes --cube cube-single-noisy-v0 --episodes 10
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import gymnasium
import numpy as np
from ogbench.manipspace import lie

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rllib_tmd.data.generate.manipspace import (  # noqa: E402
    MANIPSPACE_RECIPES,
    draw_noise_std,
    make_oracles,
    recipe_action,
)
from rllib_tmd.data.generate.pointmaze import (  # noqa: E402
    DIRECTION_EPS,
    PointMazeContext,
    _cell_index,
)
from rllib_tmd.envs.evaluation import (  # noqa: E402
    ActFn,
    EvalResult,
    TaskResult,
    episode_seed,
    evaluate_policy,
)

MAZES = ("medium", "large", "giant", "teleport")
#: Manipulation datasets whose oracle can be scored on the evaluation tasks as is: one cube, so
#: the task's goal is a single target pose (several cubes would need a task planner on top).
CUBE_DATASETS = ("cube-single-noisy-v0", "cube-single-play-v0")
TASK_IDS = (1, 2, 3, 4, 5)


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


def cube_target_info(env: gymnasium.Env) -> dict[str, object]:
    """The privileged target keys a cube oracle reads in data-collection mode, for the current
    evaluation task: move cube 0 to its goal pose (the target mocap body of the task env)."""
    unwrapped = env.unwrapped
    mocap = unwrapped._cube_target_mocap_ids[0]
    yaw = lie.SO3(wxyz=unwrapped._data.mocap_quat[mocap]).compute_yaw_radians()
    return {
        "privileged/target_block": 0,
        "privileged/target_block_pos": unwrapped._data.mocap_pos[mocap].copy(),
        "privileged/target_block_yaw": np.array([yaw]),
    }


def run_cube_episode(env: gymnasium.Env, dataset: str, task_id: int, seed: int) -> tuple[bool, int]:
    """One evaluation episode of the dataset's noisy (or play) cube oracle: (success, steps)."""
    recipe = MANIPSPACE_RECIPES[dataset]
    oracle = make_oracles(env, recipe)["cube"]
    np.random.seed(seed)  # the oracles and the recipe's noise draw from numpy's global RNG
    random_actions = np.random.default_rng(seed)
    ob, info = env.reset(seed=seed, options={"task_id": task_id})
    target = cube_target_info(env)
    info = {**info, **target}
    noise_std = draw_noise_std(recipe)
    oracle.reset(ob, info)
    done, steps = False, 0
    while not done:
        action = recipe_action(recipe, oracle, ob, info, noise_std, random_actions)
        ob, _, terminated, truncated, info = env.step(action)
        info = {**info, **target}
        done, steps = terminated or truncated, steps + 1
    return bool(info["success"]), steps


def cube_oracle_success(dataset: str, episodes: int, seed: int) -> EvalResult:
    """Success of ``dataset``'s collection oracle on OGBench's 5 tasks, ``episodes`` each."""
    start = time.perf_counter()
    env = gymnasium.make(MANIPSPACE_RECIPES[dataset].env_name)
    tasks = []
    try:
        for task_id in TASK_IDS:
            runs = [
                run_cube_episode(env, dataset, task_id, episode_seed(seed, task_id, e))
                for e in range(episodes)
            ]
            successes, lengths = (np.array(column) for column in zip(*runs))
            name = env.unwrapped.task_infos[task_id - 1]["task_name"]
            tasks.append(TaskResult(task_id, name, successes.astype(float), lengths))
        max_steps = env.spec.max_episode_steps
    finally:
        env.close()
    return EvalResult(
        env_name=dataset,
        seed=seed,
        episodes_per_task=episodes,
        tasks=tasks,
        wall_time_s=time.perf_counter() - start,
        max_episode_steps=max_steps,
        video_paths={},
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mazes", nargs="*", default=list(MAZES), choices=MAZES)
    p.add_argument("--cube", nargs="*", default=[], choices=CUBE_DATASETS, help="cube datasets")
    p.add_argument("--episodes", type=int, default=20, help="episodes per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-noiseless", action="store_true", help="skip the noise = 0 reference")
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def summarize(result: EvalResult) -> dict:
    """JSON-ready success numbers of one evaluation."""
    return {
        "overall": result.overall_success,
        "per_task": {str(k): v for k, v in result.success_rates.items()},
        "mean_length": {str(t.task_id): t.mean_length for t in result.tasks},
        "wall_s": round(result.wall_time_s, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results = {}
    for maze in args.mazes:
        dataset = f"pointmaze-{maze}-navigate-v0"
        entry = {"datasets": [dataset, f"pointmaze-{maze}-stitch-v0"]}
        settings = [("noisy", None)] + ([] if args.no_noiseless else [("noiseless", 0.0)])
        for label, noise in settings:
            result = evaluate_oracle(dataset, noise, args.episodes, args.seed)
            entry[label] = {
                "noise": PointMazeContext(dataset).recipe.noise if noise is None else noise,
                **summarize(result),
            }
            print(f"{label} oracle, {maze} maze, seed {args.seed}:")
            print(result.format_table(markdown=False), end="\n\n", flush=True)
        results[maze] = entry
    cubes = {}
    for dataset in args.cube:
        result = cube_oracle_success(dataset, args.episodes, args.seed)
        cubes[dataset] = summarize(result)
        print(f"{dataset} collection oracle, seed {args.seed}:")
        print(result.format_table(markdown=False), end="\n\n", flush=True)
    out = {"episodes_per_task": args.episodes, "seed": args.seed, "mazes": results, "cube": cubes}
    summary = ", ".join(
        [
            f"{m}: {r['noisy']['overall']:.2f}"
            + (f" (noiseless {r['noiseless']['overall']:.2f})" if "noiseless" in r else "")
            for m, r in results.items()
        ]
        + [f"{d}: {r['overall']:.2f}" for d, r in cubes.items()]
    )
    print(f"overall success of the collection oracles: {summary}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
