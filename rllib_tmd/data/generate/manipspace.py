"""Manipulation datasets (cube, scene, puzzle) generated locally with OGBench's scripted oracles.

Follows OGBench's ``data_gen_scripts/generate_manipspace.py`` with the flags of ``commands.sh``:

* Environment ``gymnasium.make(<env>, terminate_at_goal=False, mode='data_collection',
  max_episode_steps=1001)``: 1,000 train episodes (+ ``// 10`` val) of exactly 1,001 rows, for
  every dataset registered here (``cube-single``, ``cube-double``, ``scene``, ``puzzle-3x3``).
* ``play``: the non-Markovian plan oracles of ``ogbench.manipspace.oracles.plan`` (noise 0.1,
  noise smoothing 0.5), actions clipped to [-1, 1].
* ``noisy``: the closed-loop Markov oracles (min norm 0.4) plus Gaussian noise with std
  ``[xi, xi, xi, 3 xi, 10 xi]``, ``xi ~ U(0, 0.1)`` per episode; with probability
  ``p_random_action`` (0.1 for cube and scene, 0.2 for puzzle) a uniformly random action instead.
* Oracles per family: cube -> cube oracle; scene -> cube (Markov: ``max_step=100``), button,
  drawer and window oracles; puzzle -> button oracle with ``gripper_always_closed=True``.
* Whenever the current oracle is done, ``env.set_new_target(p_stack=...)`` picks the next
  task and the matching oracle is reset. ``p_stack`` is 0 for one cube, ``U(0, 0.25)`` per
  episode for two cubes, and 0.5 for scene (puzzle ignores it).
* Scene only, health check: an episode where the cube reaches ``y >= 0.29``, or ``y <= -0.3``
  outside the drawer's height band ``(0.06, 0.08)``, is discarded and collected again.
* Rows, all *before* the step: ``observations``, ``actions`` [N, 5], ``terminals`` (bool),
  ``qpos``, ``qvel`` (float32) and, for envs with buttons (scene, puzzle), ``button_states``
  int64. Observation / qpos / qvel / button dims: cube-single 28 / 21 / 20 / -, cube-double
  37 / 28 / 26 / -, scene 40 / 25 / 24 / 2, puzzle-3x3 55 / 23 / 23 / 9.

The official env, controller and oracles are used unchanged (they are the recipe), so this runs
at the env's own speed (~3-5 ms per step). They draw from numpy's global RNG, the env's
``np_random`` and an (unseedable) action-space RNG for random actions, which we replace by an
equivalent uniform draw; all are seeded per episode (the caller's global numpy state is restored
afterwards). The envs also carry some task-target attributes across resets (the scene's targets
are visible to the first oracle action after a task switch); that carried state is taken from a
fresh env after one seeded reset and restored before every episode. Together this makes an
episode a function of its seed alone, independent of ``workers``, of the episodes collected
before it and of the process.
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
#: Probability of stacking the target cube when a new task is drawn, for envs other than cube
#: (scene; puzzle accepts and ignores it).
SCENE_P_STACK = 0.5
#: Per-episode stacking probability range of the cube envs, by number of cubes (the script's
#: ``U(low, high)``; a single cube never stacks).
CUBE_P_STACK = {
    "single": (0.0, 0.0),
    "double": (0.0, 0.25),
    "triple": (0.05, 0.35),
    "quadruple": (0.1, 0.5),
    "octuple": (0.0, 0.35),
}
#: Cube-position health limits of the scene script (qpos[14:17] is the cube's xyz).
SCENE_CUBE_QPOS = slice(14, 17)

#: Per env family: task name (``info['privileged/target_task']``) -> (Markov oracle class for
#: ``noisy``, plan oracle class for ``play``).
FAMILY_ORACLES: dict[str, dict[str, tuple[type, type]]] = {
    "cube": {"cube": (CubeMarkovOracle, CubePlanOracle)},
    "scene": {
        "cube": (CubeMarkovOracle, CubePlanOracle),
        "button": (ButtonMarkovOracle, ButtonPlanOracle),
        "drawer": (DrawerMarkovOracle, DrawerPlanOracle),
        "window": (WindowMarkovOracle, WindowPlanOracle),
    },
    "puzzle": {"button": (ButtonMarkovOracle, ButtonPlanOracle)},
}


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

    @property
    def family(self) -> str:
        """``"cube"``, ``"scene"`` or ``"puzzle"`` (the env name's first word)."""
        return self.env_name.split("-")[0]

    @property
    def markov(self) -> bool:
        """Whether the data comes from the closed-loop Markov oracles (``noisy``)."""
        return self.dataset_type == "noisy"


def _play(env_name: str) -> ManipspaceRecipe:
    return ManipspaceRecipe(env_name, "play")


def _noisy(env_name: str, p_random_action: float) -> ManipspaceRecipe:
    return ManipspaceRecipe(env_name, "noisy", p_random_action=p_random_action)


MANIPSPACE_RECIPES: dict[str, ManipspaceRecipe] = {
    "cube-single-play-v0": _play("cube-single-v0"),
    "cube-single-noisy-v0": _noisy("cube-single-v0", 0.1),
    "cube-double-play-v0": _play("cube-double-v0"),
    "scene-play-v0": _play("scene-v0"),
    "scene-noisy-v0": _noisy("scene-v0", 0.1),
    "puzzle-3x3-play-v0": _play("puzzle-3x3-v0"),
    "puzzle-3x3-noisy-v0": _noisy("puzzle-3x3-v0", 0.2),
}


def oracle_kwargs(recipe: ManipspaceRecipe, task: str) -> dict[str, object]:
    """Constructor arguments of the oracle for ``task`` (besides ``env``), as in the script."""
    if recipe.markov:
        kwargs: dict[str, object] = {"min_norm": recipe.min_norm}
        if recipe.family == "scene" and task == "cube":
            kwargs["max_step"] = 100
    else:
        kwargs = {"noise": recipe.noise, "noise_smoothing": recipe.noise_smoothing}
    if recipe.family == "puzzle":
        kwargs["gripper_always_closed"] = True
    return kwargs


def make_oracles(env: gymnasium.Env, recipe: ManipspaceRecipe) -> dict[str, object]:
    """Oracle per task name of the recipe's env family (``info['privileged/target_task']``)."""
    return {
        task: classes[0 if recipe.markov else 1](env=env, **oracle_kwargs(recipe, task))
        for task, classes in FAMILY_ORACLES[recipe.family].items()
    }


def draw_p_stack(recipe: ManipspaceRecipe) -> float:
    """This episode's stacking probability for ``set_new_target``.

    Cube envs draw ``U(low, high)`` from numpy's global RNG once per episode (no draw for one
    cube, whose range is ``(0, 0)``); other envs use the fixed ``SCENE_P_STACK``.
    """
    if recipe.family != "cube":
        return SCENE_P_STACK
    low, high = CUBE_P_STACK[recipe.env_name.split("-")[1]]
    return low if low == high else float(np.random.uniform(low, high))


def scene_episode_is_healthy(qpos: np.ndarray) -> bool:
    """The scene script's check on qpos [T, 25]: the cube stays visible unless in the drawer."""
    cube = qpos[:, SCENE_CUBE_QPOS]
    too_far_right = (cube[:, 1] >= 0.29).any()
    outside_drawer = (cube[:, 1] <= -0.3) & ((cube[:, 2] < 0.06) | (cube[:, 2] > 0.08))
    return not (too_far_right or outside_drawer.any())


def episode_is_healthy(recipe: ManipspaceRecipe, qpos: np.ndarray) -> bool:
    """Whether the script keeps an episode: scene runs its health check, other envs keep all."""
    return recipe.family != "scene" or scene_episode_is_healthy(qpos)


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
        self.oracles = make_oracles(self.env, self.recipe)
        # The script stores button states for every env that has buttons (scene, puzzle).
        self.has_button_states = hasattr(self.env.unwrapped, "_cur_button_states")
        self.unhealthy_episodes = 0  # discarded by the health check (diagnostics)
        self._carried_state = self._seeded_carried_state()

    def _seeded_carried_state(self) -> dict[str, object]:
        """Env state that survives ``reset``, after one seeded reset of a never-reset env.

        The manipspace envs keep their last task targets (``_target_*`` attributes, target
        sites in the model) across resets; in scene, the first oracle action after a task switch
        still sees them through the previous step's ``info``. A reset only overwrites the targets
        of the task it draws (e.g. one button's target state in scene and puzzle), so this state
        accumulates every reset the env has seen, including the unseeded one ``gymnasium.make``
        performs (its env checker builds the observation space). We therefore take it from a
        separate, freshly constructed env whose first and only reset is seeded, and restore it
        before every episode.
        """
        spec = self.env.spec
        fresh = load_env_creator(spec.entry_point)(**spec.kwargs)
        assert fresh._model is None, f"{spec.id} was reset on construction"
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
        """Put the carried state of ``_seeded_carried_state`` back into the env."""
        env = self.env.unwrapped
        for key, value in self._carried_state.items():
            if key == "site_pos":
                env._model.site_pos[:] = value
            else:
                setattr(env, key, copy.deepcopy(value))


def rollout_manip_episode(
    ctx: ManipspaceContext, seed: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    """One episode the script keeps: ``observations``/``actions``/``qpos``/``qvel`` float32 and
    (envs with buttons) ``button_states`` int64, each [T, ...]. Seeds every RNG the env and
    oracles use."""
    global_seed, env_seed, action_seed = (int(s) for s in seed.generate_state(3))
    random_actions = np.random.default_rng(action_seed)
    saved = np.random.get_state()
    np.random.seed(global_seed)
    ctx.restore_carried_state()
    try:
        episode = _collect_once(ctx, random_actions, env_seed)
        while not episode_is_healthy(ctx.recipe, episode["qpos"]):
            ctx.unhealthy_episodes += 1
            episode = _collect_once(ctx, random_actions)  # the script simply tries again
    finally:
        np.random.set_state(saved)
    return episode


def draw_noise_std(recipe: ManipspaceRecipe) -> np.ndarray | None:
    """This episode's Gaussian action-noise std for the Markov oracles (``noisy``), from numpy's
    global RNG: ``xi * MARKOV_NOISE_SCALE`` with ``xi ~ U(0, noise)``; ``None`` for ``play``."""
    return np.random.uniform(0, recipe.noise) * MARKOV_NOISE_SCALE if recipe.markov else None


def recipe_action(
    recipe: ManipspaceRecipe,
    oracle: object,
    ob: np.ndarray,
    info: dict,
    noise_std: np.ndarray | None,
    random_actions: np.random.Generator,
) -> np.ndarray:
    """One action of the data-collecting policy, clipped to [-1, 1].

    With probability ``p_random_action`` (numpy's global RNG) a uniform random action from
    ``random_actions``; otherwise the oracle's action, plus ``N(0, noise_std)`` for ``noisy``.
    """
    if np.random.rand() < recipe.p_random_action:
        action = random_actions.uniform(-1.0, 1.0, size=5).astype(np.float32)
    else:
        action = np.array(oracle.select_action(ob, info))
        if noise_std is not None:
            action = action + np.random.normal(0, noise_std, action.shape)
    return np.clip(action, -1, 1)


def _collect_once(
    ctx: ManipspaceContext, random_actions: np.random.Generator, reset_seed: int | None = None
) -> dict[str, np.ndarray]:
    """The script's inner loop for one attempt at an episode.

    Random actions are uniform in [-1, 1]^5 like ``env.action_space.sample()``, drawn from
    ``random_actions``: the manipspace env builds a fresh, unseeded ``Box`` on every
    ``action_space`` access, so sampling from it can never be made deterministic.
    """
    env, recipe, oracles = ctx.env, ctx.recipe, ctx.oracles
    ob, info = env.reset(seed=reset_seed)
    p_stack = draw_p_stack(recipe)
    noise_std = draw_noise_std(recipe)
    oracle = oracles[info["privileged/target_task"]]
    oracle.reset(ob, info)

    keys = ["observations", "actions", "qpos", "qvel"]
    keys += ["button_states"] if ctx.has_button_states else []
    rows: dict[str, list] = {k: [] for k in keys}
    done = False
    while not done:
        action = recipe_action(recipe, oracle, ob, info, noise_std, random_actions)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        if oracle.done:
            task_ob, task_info = env.unwrapped.set_new_target(p_stack=p_stack)
            oracle = oracles[task_info["privileged/target_task"]]
            oracle.reset(task_ob, task_info)
        rows["observations"].append(ob)
        rows["actions"].append(action)
        rows["qpos"].append(info["prev_qpos"])
        rows["qvel"].append(info["prev_qvel"])
        if ctx.has_button_states:
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

    Keys: ``observations`` float32 [N, obs_dim], ``actions`` float32 [N, 5] in [-1, 1],
    ``terminals`` bool [N], ``qpos`` float32 [N, nq], ``qvel`` float32 [N, nv] and, for scene and
    puzzle, ``button_states`` int64 [N, buttons] (dims in the module docstring);
    ``N = episodes * 1001``. Deterministic for a seed, independent of ``workers``.
    """
    data = collect_manipspace(name, episodes, seed=seed, workers=workers, progress=progress)
    return write_splits(name, out_dir, data)
