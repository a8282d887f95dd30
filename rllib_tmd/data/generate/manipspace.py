"""Scene datasets generated locally with OGBench's scripted manipspace oracles.

Follows OGBench's ``data_gen_scripts/generate_manipspace.py`` with the flags of ``commands.sh``:

* Environment ``gymnasium.make('scene-v0', terminate_at_goal=False, mode='data_collection',
  max_episode_steps=1001)``: 1,000 train episodes (+ ``// 10`` val) of exactly 1,001 rows.
* ``play``: the non-Markovian plan oracles of ``ogbench.manipspace.oracles.plan`` (noise 0.1,
  noise smoothing 0.5), actions clipped to [-1, 1].
* ``noisy``: the closed-loop Markov oracles (min norm 0.4; cube oracle built with ``max_step=100``)
  plus Gaussian noise with std ``[xi, xi, xi, 3 xi, 10 xi]``, ``xi ~ U(0, 0.1)`` per episode; with
  probability ``p_random_action = 0.1`` a uniformly random action instead.
* Whenever the current oracle is done, ``env.set_new_target(p_stack=0.5)`` picks the next
  task (cube / button / drawer / window) and the matching oracle is reset.
* Health check: an episode where the cube reaches ``y >= 0.29``, or ``y <= -0.3`` outside the
  drawer's height band ``(0.06, 0.08)``, is discarded and collected again.
* Rows: ``observations`` [N, 40], ``actions`` [N, 5], ``terminals``, ``qpos`` [N, 25], ``qvel``
  [N, 24] (float32; terminals bool) and ``button_states`` int64 [N, 2], all *before* the step.

The official env, controller and oracles are used unchanged (they are the recipe), so this runs
at the env's own speed (~1-4 ms per step). They draw from numpy's global RNG, the env's
``np_random`` and an (unseedable) action-space RNG for random actions, which we replace by an
equivalent uniform draw; all are seeded per episode (the caller's global numpy state is restored
afterwards). The env also carries its last task targets across resets (visible to the first
oracle action after a task switch); that carried state is taken from a fresh env after one
seeded reset and restored before every episode. Together this makes an episode a function of its
seed alone, independent of ``workers``, of the episodes collected before it and of the process.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import ogbench  # noqa: F401  (registers the ogbench gymnasium environments)
from gymnasium.envs.registration import load_env_creator
from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle
from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

from rllib_tmd.data.generate.common import (
    collect_recipe,
    episode_seed,
    write_splits,
)

#: Per-dimension scale of the Markov oracles' Gaussian action noise (x, y, z, yaw, gripper).
MARKOV_NOISE_SCALE = np.array([1.0, 1.0, 1.0, 3.0, 10.0])
#: Probability of stacking the target cube when a new cube task is drawn (scene: fixed 0.5).
SCENE_P_STACK = 0.5
#: Cube-position health limits of the scene script (qpos[14:17] is the cube's xyz).
SCENE_CUBE_QPOS = slice(14, 17)


@dataclass(frozen=True)
class ManipspaceRecipe:
    """Flags of one ``generate_manipspace.py`` command in OGBench's ``commands.sh``."""

    env_name: str
    dataset_type: str  # "play" (plan oracles) | "noisy" (Markov oracles + noise)
    num_episodes: int = 1000
    episode_length: int = 1001
    p_random_action: float = 0.0
    noise: float = 0.1
    noise_smoothing: float = 0.5
    min_norm: float = 0.4


MANIPSPACE_RECIPES: dict[str, ManipspaceRecipe] = {
    "scene-play-v0": ManipspaceRecipe("scene-v0", "play"),
    "scene-noisy-v0": ManipspaceRecipe("scene-v0", "noisy", p_random_action=0.1),
}


def make_scene_oracles(env: gymnasium.Env, recipe: ManipspaceRecipe) -> dict[str, object]:
    """Oracle per scene task name (``info['privileged/target_task']``)."""
    if recipe.dataset_type == "noisy":
        norm = recipe.min_norm
        return {
            "cube": CubeMarkovOracle(env=env, min_norm=norm, max_step=100),
            "button": ButtonMarkovOracle(env=env, min_norm=norm),
            "drawer": DrawerMarkovOracle(env=env, min_norm=norm),
            "window": WindowMarkovOracle(env=env, min_norm=norm),
        }
    kwargs = dict(env=env, noise=recipe.noise, noise_smoothing=recipe.noise_smoothing)
    return {
        "cube": CubePlanOracle(**kwargs),
        "button": ButtonPlanOracle(**kwargs),
        "drawer": DrawerPlanOracle(**kwargs),
        "window": WindowPlanOracle(**kwargs),
    }


def scene_episode_is_healthy(qpos: np.ndarray) -> bool:
    """The scene script's check on qpos [T, 25]: the cube stays visible unless in the drawer."""
    cube = qpos[:, SCENE_CUBE_QPOS]
    too_far_right = (cube[:, 1] >= 0.29).any()
    outside_drawer = (cube[:, 1] <= -0.3) & ((cube[:, 2] < 0.06) | (cube[:, 2] > 0.08))
    return not (too_far_right or outside_drawer.any())


class ManipspaceContext:
    """Env and oracles for one dataset in one process."""

    def __init__(self, name: str):
        self.name = name
        self.recipe = MANIPSPACE_RECIPES[name]
        self.env = gymnasium.make(
            self.recipe.env_name,
            terminate_at_goal=False,
            mode="data_collection",
            max_episode_steps=self.recipe.episode_length,
        )
        self.oracles = make_scene_oracles(self.env, self.recipe)
        self.unhealthy_episodes = 0  # discarded by the health check (diagnostics)
        self._carried_state = self._seeded_carried_state()

    def _seeded_carried_state(self) -> dict[str, object]:
        """Env state that survives ``reset``, after one seeded reset of a never-reset env.

        The scene env keeps its last task targets (``_target_*`` attributes, target sites in the
        model) across resets, and the first oracle action after a task switch still sees them
        through the previous step's ``info``. A reset only overwrites the targets of the task it
        draws (e.g. one button's target state), so this state accumulates every reset the env has
        seen, including the unseeded one ``gymnasium.make`` performs (its env checker builds the
        observation space). We therefore take it from a separate, freshly constructed env whose
        first and only reset is seeded, and restore it before every episode.
        """
        spec = self.env.spec
        fresh = load_env_creator(spec.entry_point)(**spec.kwargs)
        assert fresh._model is None, "the scene env was reset on construction"
        saved = np.random.get_state()
        try:
            fresh.reset(seed=0)
        finally:
            np.random.set_state(saved)
        state = {k: copy.deepcopy(v) for k, v in vars(fresh).items() if k.startswith("_target")}
        state["site_pos"] = fresh._model.site_pos.copy()
        fresh.close()
        return state

    def restore_carried_state(self) -> None:
        env = self.env.unwrapped
        for key, value in self._carried_state.items():
            if key == "site_pos":
                env._model.site_pos[:] = value
            else:
                setattr(env, key, copy.deepcopy(value))


def rollout_manip_episode(
    ctx: ManipspaceContext, seed: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    """One healthy episode: ``observations``/``actions``/``qpos``/``qvel`` float32 and
    ``button_states`` int64, each [T, ...]. Seeds every RNG the env and oracles use."""
    global_seed, env_seed, action_seed = (int(s) for s in seed.generate_state(3))
    random_actions = np.random.default_rng(action_seed)
    saved = np.random.get_state()
    np.random.seed(global_seed)
    ctx.restore_carried_state()
    try:
        episode = _collect_once(ctx, random_actions, env_seed)
        while not scene_episode_is_healthy(episode["qpos"]):
            ctx.unhealthy_episodes += 1
            episode = _collect_once(ctx, random_actions)  # the script simply tries again
    finally:
        np.random.set_state(saved)
    return episode


def _collect_once(
    ctx: ManipspaceContext, random_actions: np.random.Generator, reset_seed: int | None = None
) -> dict[str, np.ndarray]:
    """The script's inner loop for one attempt at an episode.

    Random actions are uniform in [-1, 1]^5 like ``env.action_space.sample()``, drawn from
    ``random_actions``: the manipspace env builds a fresh, unseeded ``Box`` on every
    ``action_space`` access, so sampling from it can never be made deterministic.
    """
    env, recipe, oracles = ctx.env, ctx.recipe, ctx.oracles
    markov = recipe.dataset_type == "noisy"
    ob, info = env.reset(seed=reset_seed)
    noise_std = np.random.uniform(0, recipe.noise) * MARKOV_NOISE_SCALE if markov else None
    oracle = oracles[info["privileged/target_task"]]
    oracle.reset(ob, info)

    rows: dict[str, list] = {k: [] for k in ("observations", "actions", "qpos", "qvel")}
    rows["button_states"] = []
    done = False
    while not done:
        if np.random.rand() < recipe.p_random_action:
            action = random_actions.uniform(-1.0, 1.0, size=5).astype(np.float32)
        else:
            action = np.array(oracle.select_action(ob, info))
            if markov:
                action = action + np.random.normal(0, noise_std, action.shape)
        action = np.clip(action, -1, 1)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        if oracle.done:
            task_ob, task_info = env.unwrapped.set_new_target(p_stack=SCENE_P_STACK)
            oracle = oracles[task_info["privileged/target_task"]]
            oracle.reset(task_ob, task_info)
        rows["observations"].append(ob)
        rows["actions"].append(action)
        rows["qpos"].append(info["prev_qpos"])
        rows["qvel"].append(info["prev_qvel"])
        rows["button_states"].append(info["prev_button_states"])
        ob = next_ob
    return {
        k: np.asarray(v, dtype=np.int64 if k == "button_states" else np.float32)
        for k, v in rows.items()
    }


_CONTEXTS: dict[str, ManipspaceContext] = {}


def _context(name: str) -> ManipspaceContext:
    if name not in _CONTEXTS:
        _CONTEXTS[name] = ManipspaceContext(name)
    return _CONTEXTS[name]


def _run_chunk(name: str, seed: int, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
    """Episodes ``start..stop-1`` of one split, rows concatenated per key."""
    ctx = _context(name)
    episodes = [
        rollout_manip_episode(ctx, episode_seed(seed, split, e)) for e in range(start, stop)
    ]
    return {k: np.concatenate([ep[k] for ep in episodes]) for k in episodes[0]}


def collect_manipspace(
    name: str,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """Generate ``{"train": arrays, "val": arrays}`` in memory (see ``generate_manipspace``)."""
    return collect_recipe(
        MANIPSPACE_RECIPES[name], _run_chunk, name, episodes, seed, workers, progress
    )


def generate_manipspace(
    name: str,
    out_dir: str | os.PathLike,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``<out_dir>/<name>.npz`` and ``<out_dir>/<name>-val.npz`` in OGBench's format.

    Keys: ``observations`` float32 [N, 40], ``actions`` float32 [N, 5] in [-1, 1], ``terminals``
    bool [N], ``qpos`` float32 [N, 25], ``qvel`` float32 [N, 24], ``button_states`` int64 [N, 2];
    ``N = episodes * 1001``. Deterministic for a seed, independent of ``workers``.
    """
    data = collect_manipspace(name, episodes, seed=seed, workers=workers, progress=progress)
    return write_splits(name, out_dir, data)
