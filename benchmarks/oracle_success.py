"""Success of the data-collection oracles on OGBench's 5 evaluation tasks.

Pointmaze: the policy is the oracle that generates the pointmaze datasets
(``rllib_tmd/data/generate/pointmaze.py``): a unit vector towards the centre of the next cell on a
BFS path to the goal's cell (the generator's precomputed subgoal table), plus ``N(0, noise)``
per dimension (the recipe's 0.5), clipped to [-1, 1]. It only sees what an evaluated policy
sees: the observation (x, y) and the goal observation. On the teleport maze the observation
after a teleport step is the pre-teleport position (the env's convention), so the oracle acts
on it for one step, whereas the generator used the true position. Navigate and stitch datasets
of one maze use the same env, tasks and oracle, so each maze is evaluated once. The noiseless
oracle (``noise = 0``) is evaluated as well, for reference.

Manipulation (``--manip``, alias ``--cube``): the generator's own oracles, action noise and
random actions (``make_oracles``, ``draw_noise_std``, ``recipe_action`` of
``rllib_tmd/data/generate/manipspace.py``) in OGBench's task-mode env (the episode ends at
success). The oracles are privileged, as during collection: they read object states and
targets from ``info``. Collection draws random sub-tasks; here a small planner per env family
(``PLANNERS``) picks each next sub-task from the evaluation goal (see ``run_manip_episode``).

    python benchmarks/oracle_success.py                       # 4 mazes, 5 tasks x 20 episodes
    python benchmarks/oracle_success.py --mazes medium --episodes 50 --json out.json
    python benchmarks/oracle_success.py --mazes --manip scene-noisy-v0 puzzle-3x3-play-v0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
#: Manipulation datasets (collection oracle + a task planner, see ``run_manip_episode``).
MANIP_DATASETS = tuple(MANIPSPACE_RECIPES)
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


# ---- manipulation: the collection oracles with a small task planner on top -------------------
@dataclass(frozen=True)
class Subtask:
    """One data-collection sub-task: the oracle to run (``"cube"``, ``"button"``, ``"drawer"``,
    ``"window"``) and ``target(env.unwrapped)``: the privileged target keys that oracle reads
    in data-collection mode, recomputed every step (positions move)."""

    task: str
    target: Callable[[Any], dict[str, object]]


def cube_subtask(block: int, goal: np.ndarray | None = None) -> Subtask:
    """Move cube ``block`` to ``goal`` (default: its goal pose, the task env's target mocap
    body), with the goal's yaw."""

    def target(env: Any) -> dict[str, object]:
        mocap = env._cube_target_mocap_ids[block]
        yaw = lie.SO3(wxyz=env._data.mocap_quat[mocap]).compute_yaw_radians()
        pos = env._data.mocap_pos[mocap].copy() if goal is None else goal
        return {
            "privileged/target_task": "cube",
            "privileged/target_block": block,
            "privileged/target_block_pos": pos,
            "privileged/target_block_yaw": np.array([yaw]),
        }

    return Subtask("cube", target)


def button_subtask(button: int, state: int) -> Subtask:
    """Press ``button`` once; it should then read ``state``."""

    def target(env: Any) -> dict[str, object]:
        return {
            "privileged/target_task": "button",
            "privileged/target_button": button,
            "privileged/target_button_state": state,
            "privileged/target_button_top_pos": env._data.site_xpos[
                env._button_site_ids[button]
            ].copy(),
        }

    return Subtask("button", target)


#: scene: slide joint, handle site attribute, and the world axis and sign along which the handle
#: moves as the joint position grows (the drawer opens towards -qpos and +y)
SLIDES = {
    "drawer": ("drawer_slide", "_drawer_site_id", 1, -1.0),
    "window": ("window_slide", "_window_site_id", 0, 1.0),
}


def slide_shift(env: Any, task: str, joint_pos: float) -> np.ndarray:
    """World displacement of the drawer or window (and of what lies in it) from its current
    position to joint position ``joint_pos``."""
    joint, _, axis, sign = SLIDES[task]
    shift = np.zeros(3)
    shift[axis] = sign * (joint_pos - env._data.joint(joint).qpos[0])
    return shift


def slide_subtask(task: str, goal: float) -> Subtask:
    """Slide the drawer or window to joint position ``goal``; the handle's target is the current
    handle moved along the slide by the remaining distance."""
    site = SLIDES[task][1]

    def target(env: Any) -> dict[str, object]:
        handle = env._data.site_xpos[getattr(env, site)] + slide_shift(env, task, goal)
        return {
            "privileged/target_task": task,
            f"privileged/target_{task}_pos": np.array([goal]),
            f"privileged/target_{task}_handle_pos": handle,
        }

    return Subtask(task, target)


def lights_out_presses(
    current: Sequence[int], goal: Sequence[int], rows: int, cols: int
) -> list[int]:
    """The fewest buttons to press (each once) that turn ``current`` into ``goal`` on OGBench's
    puzzle: a press toggles the button and its 4 neighbours, 2 states. Exhaustive (2^9 sets
    for 3x3); raises if no set works."""
    n = rows * cols
    need = [(g - c) % 2 for c, g in zip(current, goal)]
    best: list[int] | None = None
    for mask in range(1 << n):
        pressed = [i for i in range(n) if mask >> i & 1]
        if best is not None and len(pressed) >= len(best):
            continue
        state = [0] * n
        for i in pressed:
            x, y = divmod(i, cols)
            for dx, dy in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                if 0 <= x + dx < rows and 0 <= y + dy < cols:
                    state[(x + dx) * cols + y + dy] ^= 1
        if state == need:
            best = pressed
    if best is None:
        raise ValueError(f"no presses turn {list(current)} into {list(goal)}")
    return best


def plan_cube(env: Any) -> Subtask | None:
    """The unsolved cube whose goal is lowest first (a stacked goal needs its base first)."""
    solved = env._compute_successes()
    todo = [i for i, ok in enumerate(solved) if not ok]
    if not todo:
        return None
    heights = {i: env._data.mocap_pos[env._cube_target_mocap_ids[i]][2] for i in todo}
    return cube_subtask(min(todo, key=heights.__getitem__))


def plan_puzzle(env: Any) -> Subtask | None:
    """Press the first button of the fewest presses that reach the goal (replanned each time)."""
    current = [int(v) for v in env._cur_button_states]
    presses = lights_out_presses(current, env._target_button_states, env._num_rows, env._num_cols)
    if not presses:
        return None
    return button_subtask(presses[0], (current[presses[0]] + 1) % env._num_button_states)


DRAWER_OPEN = -0.16  # scene: the drawer's open position (the collection targets use it too)
CUBE_TOLERANCE = 0.04  # scene/cube: a cube within this distance of its goal counts as placed


def in_drawer_at(env: Any, pos: np.ndarray, joint_pos: float) -> bool:
    """Whether ``pos`` lies inside the drawer when the drawer is at ``joint_pos`` (the env's
    ``_is_in_drawer`` box, moved with the drawer)."""
    return bool(env._is_in_drawer(np.asarray(pos) - slide_shift(env, "drawer", joint_pos)))


def plan_scene(env: Any) -> Subtask | None:
    """Cube first, then drawer, window, and the lock buttons last; a locked drawer/window gets
    its button pressed first. A cube that lies in the drawer, or whose goal is in the drawer at
    the drawer's goal position, is moved with the drawer open, to its goal shifted by the
    drawer's displacement (closing the drawer afterwards carries it to the goal)."""
    cubes_ok, buttons_ok, drawer_ok, window_ok = env._compute_successes()
    buttons = [int(v) for v in env._cur_button_states]

    def slide(task: str, goal: float) -> Subtask:
        lock = 0 if task == "drawer" else 1  # button state 0 locks it
        return button_subtask(lock, 1) if buttons[lock] == 0 else slide_subtask(task, goal)

    cube = env._data.joint("object_joint_0").qpos[:3]
    goal = env._data.mocap_pos[env._cube_target_mocap_ids[0]].copy()
    drawer_goal = env._target_drawer_pos
    goal_in_drawer = in_drawer_at(env, goal, drawer_goal)
    if goal_in_drawer:  # where the goal is with the drawer as it is now
        goal = goal - slide_shift(env, "drawer", drawer_goal)
    placed = cubes_ok[0] or np.linalg.norm(cube - goal) <= CUBE_TOLERANCE
    if not placed:
        drawer_closed = env._data.joint("drawer_slide").qpos[0] > DRAWER_OPEN + 0.04
        if drawer_closed and (env._is_in_drawer(cube) or goal_in_drawer):
            return slide("drawer", DRAWER_OPEN)
        return cube_subtask(0, goal)
    if not drawer_ok:
        return slide("drawer", drawer_goal)
    if not window_ok:
        return slide("window", env._target_window_pos)
    wrong = [i for i, ok in enumerate(buttons_ok) if not ok]
    return button_subtask(wrong[0], int(env._target_button_states[wrong[0]])) if wrong else None


PLANNERS: dict[str, Callable[[Any], Subtask | None]] = {
    "cube": plan_cube,
    "puzzle": plan_puzzle,
    "scene": plan_scene,
}


def run_manip_episode(
    env: gymnasium.Env, dataset: str, task_id: int, seed: int
) -> tuple[bool, int]:
    """One evaluation episode of the dataset's collection policy (oracles + the recipe's noise
    and random actions), driven by the family's planner: (success, steps)."""
    recipe = MANIPSPACE_RECIPES[dataset]
    oracles = make_oracles(env, recipe)
    plan = PLANNERS[recipe.family]
    np.random.seed(seed)  # the oracles and the recipe's noise draw from numpy's global RNG
    random_actions = np.random.default_rng(seed)
    ob, info = env.reset(seed=seed, options={"task_id": task_id})
    noise_std = draw_noise_std(recipe)
    task_env = env.unwrapped
    subtask, oracle = None, None
    done, steps = False, 0
    while not done:
        if oracle is None or oracle.done:
            subtask = plan(task_env)
            oracle = None if subtask is None else oracles[subtask.task]
            if oracle is not None:
                oracle.reset(ob, {**info, **subtask.target(task_env)})
        if oracle is None:  # nothing left to do (the env ends the episode at success)
            action = np.zeros(env.action_space.shape, dtype=np.float32)
        else:
            full = {**info, **subtask.target(task_env)}
            action = recipe_action(recipe, oracle, ob, full, noise_std, random_actions)
        ob, _, terminated, truncated, info = env.step(action)
        done, steps = terminated or truncated, steps + 1
    return bool(info["success"]), steps


def manip_oracle_success(dataset: str, episodes: int, seed: int) -> EvalResult:
    """Success of ``dataset``'s collection oracle on OGBench's 5 tasks, ``episodes`` each."""
    start = time.perf_counter()
    env = gymnasium.make(MANIPSPACE_RECIPES[dataset].env_name)
    tasks = []
    try:
        for task_id in TASK_IDS:
            runs = [
                run_manip_episode(env, dataset, task_id, episode_seed(seed, task_id, e))
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
    p.add_argument(
        "--manip",
        "--cube",
        nargs="*",
        default=[],
        choices=MANIP_DATASETS,
        help="manipulation datasets (cube, scene, puzzle)",
    )
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
    for dataset in args.manip:
        result = manip_oracle_success(dataset, args.episodes, args.seed)
        cubes[dataset] = summarize(result)
        print(f"{dataset} collection oracle, seed {args.seed}:")
        print(result.format_table(markdown=False), end="\n\n", flush=True)
    out = {"episodes_per_task": args.episodes, "seed": args.seed, "mazes": results, "manip": cubes}
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
