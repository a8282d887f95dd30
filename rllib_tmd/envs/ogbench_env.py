"""Goal-conditioned OGBench environment for RLlib.

RLlib never calls ``env.reset(options=...)``, but OGBench selects its evaluation tasks only through
``reset(options=dict(task_id=k))``. :class:`OGBenchGoalEnv` therefore chooses the task itself (a
fixed ``task_id`` or cycling through all tasks on successive resets) and puts the goal into the
observation:

    observation = concatenate([obs, goal])   # float32, shape (2 * obs_dim,)

where ``obs`` is the inner OGBench observation and ``goal`` is the goal observation the inner env
returns as ``info["goal"]`` on reset (same shape as ``obs``). Use :func:`split_obs_goal` to undo
the concatenation (it works on single observations and on batches ``[..., 2 * obs_dim]``).

Rewards, ``terminated`` and ``truncated`` (the inner env's time limit) are passed through unchanged.
``info`` additionally carries ``task_id`` (int), ``goal`` (np.ndarray [obs_dim]) and ``success``
(float, 0.0/1.0; ``0.0`` right after reset).

Determinism: OGBench maze envs draw the start/goal noise from NumPy's *global* legacy RNG
(``np.random.uniform``) and their settling steps from ``action_space.sample()``. The wrapper gives
each env its own legacy RNG state that is swapped in around the inner ``reset`` (and around
``step`` for envs that use it there, e.g. the teleport maze) and seeds the inner env and its action
space on ``reset(seed=...)``. So ``reset(seed=s)`` fully determines the episode start and goal, and
the wrapper never disturbs the process-wide ``np.random`` state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium
import numpy as np

logger = logging.getLogger(__name__)

#: Name under which the env is registered in Tune's registry and in gymnasium's registry.
ENV_REGISTRY_NAME = "ogbench-goal"

#: Config keys of :class:`OGBenchGoalEnv`; others (e.g. RLlib's ``num_envs``) are ignored.
CONFIG_KEYS = ("env_name", "task_id", "seed", "render_mode", "env_kwargs", "isolate_step_rng")


def split_obs_goal(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``x`` [..., 2 * obs_dim] into ``(obs, goal)``, each [..., obs_dim] (views, no copy)."""
    width = x.shape[-1]
    if width % 2 != 0:
        raise ValueError(f"Last axis must have even width (obs and goal), got shape {x.shape}.")
    half = width // 2
    return x[..., :half], x[..., half:]


def join_obs_goal(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Concatenate ``obs`` and ``goal`` [..., obs_dim] into float32 [..., 2 * obs_dim]."""
    obs = np.asarray(obs, dtype=np.float32)
    goal = np.asarray(goal, dtype=np.float32)
    if obs.shape != goal.shape:
        raise ValueError(f"obs and goal shapes differ: {obs.shape} vs {goal.shape}.")
    return np.concatenate([obs, goal], axis=-1)


def make_inner_env(env_name: str, **env_kwargs: Any) -> gymnasium.Env:
    """Create the raw OGBench env (with its time limit) for a dataset-style name, no download.

    ``env_name`` may be a dataset name such as ``"pointmaze-medium-navigate-v0"``; OGBench strips
    the dataset type itself.
    """
    import ogbench

    return ogbench.make_env_and_datasets(env_name, env_only=True, **env_kwargs)


@contextmanager
def swapped_global_numpy_rng(rng: np.random.RandomState) -> Iterator[None]:
    """Run the body with NumPy's global legacy RNG in ``rng``'s state, then save it to ``rng``.

    The process-wide state from before the block is restored afterwards.
    """
    outer_state = np.random.get_state()
    np.random.set_state(rng.get_state())
    try:
        yield
    finally:
        rng.set_state(np.random.get_state())
        np.random.set_state(outer_state)


#: NumPy's module-level random functions (``np.random.randint``, ...): bound methods of the
#: global legacy ``RandomState``.
GLOBAL_RNG_FUNCTIONS: tuple[str, ...] = tuple(
    name
    for name in dir(np.random)
    if getattr(getattr(np.random, name, None), "__self__", None) is np.random.mtrand._rand
)


@contextmanager
def redirected_global_numpy_rng(functions: dict[str, Any]) -> Iterator[None]:
    """Run the body with ``np.random.<name>`` rebound to ``functions[name]`` (the bound methods
    of another ``RandomState``), then restore them. The global RNG is not touched.

    Same draws as :func:`swapped_global_numpy_rng` for code that calls ``np.random.<fn>``, at
    a few microseconds instead of four state copies (~0.2 ms); used on every ``step``.
    """
    saved = {name: getattr(np.random, name) for name in functions}
    try:
        for name, function in functions.items():
            setattr(np.random, name, function)
        yield
    finally:
        for name, function in saved.items():
            setattr(np.random, name, function)


class OGBenchGoalEnv(gymnasium.Env):
    """OGBench env whose observation is ``[obs, goal]`` and whose task is chosen by the wrapper.

    Config keys (an RLlib ``EnvContext`` or plain dict; keyword arguments are merged in):
        env_name: OGBench env or dataset name, e.g. ``"pointmaze-medium-navigate-v0"`` (required).
        task_id: evaluation task 1..num_tasks, or None to cycle 1, 2, ..., num_tasks, 1, ... on
            successive resets (the first reset and every seeded reset use task 1, so that
            ``reset(seed=s)`` determines the episode).
        seed: seed used for the first reset if ``reset`` is not given one (None: unseeded). Every
            copy made from the same config gets the same seed; for distinct RLlib sub-envs leave
            it out and set ``config.debugging(seed=...)`` (RLlib then seeds each sub-env's reset).
        render_mode: passed to the inner env if given (maze envs render ``rgb_array`` anyway).
        env_kwargs: extra keyword arguments for the inner env constructor.
        isolate_step_rng: also isolate the global NumPy RNG during ``step`` (``np.random.*``
            calls draw from the env's own RNG; a few microseconds per step); None = only for
            envs known to draw from it while stepping (teleport mazes).

    Spaces: observation ``Box(-inf, inf, (2 * obs_dim,), float32)``; action = inner action space.
    ``reset(options={"task_id": k})`` overrides the task for that one reset (without advancing the
    cycle); other options are forwarded to the inner env.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        settings = {**dict(config or {}), **kwargs}
        unknown = sorted(set(settings) - set(CONFIG_KEYS))
        if unknown:
            logger.debug("OGBenchGoalEnv ignores config keys %s", unknown)
        if "env_name" not in settings:
            raise ValueError(
                "OGBenchGoalEnv config needs 'env_name', e.g. 'pointmaze-medium-navigate-v0'."
            )
        self.env_name: str = settings["env_name"]
        env_kwargs = dict(settings.get("env_kwargs") or {})
        if settings.get("render_mode") is not None:
            env_kwargs["render_mode"] = settings["render_mode"]
        self._inner = make_inner_env(self.env_name, **env_kwargs)
        self.num_tasks: int = len(self._inner.unwrapped.task_infos)
        self.fixed_task_id: int | None = self.validate_task_id(settings.get("task_id"))
        self._initial_seed: int | None = settings.get("seed")
        isolate_step = settings.get("isolate_step_rng")
        self._isolate_step_rng = (
            "teleport" in self.env_name if isolate_step is None else isolate_step
        )

        obs_space = self._inner.observation_space
        if not isinstance(obs_space, gymnasium.spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(
                f"{self.env_name}: only flat Box observations are supported, got {obs_space}."
            )
        self.obs_dim: int = int(obs_space.shape[0])
        self.observation_space = gymnasium.spaces.Box(
            -np.inf, np.inf, shape=(2 * self.obs_dim,), dtype=np.float32
        )
        self.action_space = self._inner.action_space
        self.render_mode = getattr(self._inner, "render_mode", None)

        self._legacy_rng = np.random.RandomState()
        self._step_rng_functions = {
            name: getattr(self._legacy_rng, name) for name in GLOBAL_RNG_FUNCTIONS
        }  # reseeded in place (``seed``), so these stay bound to the env's RNG
        self._next_cycle_task = 1
        self._has_reset = False
        self.task_id: int | None = None
        self.goal: np.ndarray | None = None

    # ----------------------------------------------------------------------------------- props
    @property
    def inner_env(self) -> gymnasium.Env:
        """The wrapped OGBench env (with its gymnasium wrappers, e.g. the time limit)."""
        return self._inner

    @property
    def max_episode_steps(self) -> int | None:
        """The inner env's time limit (e.g. 1000 for pointmaze-medium), None if it has none."""
        spec = self._inner.spec
        return None if spec is None else spec.max_episode_steps

    @property
    def task_names(self) -> list[str]:
        """OGBench task names, index ``k - 1`` for task id ``k`` (e.g. ``"task1"``)."""
        return [info.get("task_name", f"task{i + 1}") for i, info in enumerate(self._task_infos)]

    @property
    def _task_infos(self) -> list[dict]:
        return self._inner.unwrapped.task_infos

    # ------------------------------------------------------------------------------- gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset to the next task; returns ``([obs, goal]`` float32 [2*obs_dim], info)."""
        if seed is None and not self._has_reset:
            seed = self._initial_seed
        self._has_reset = True
        super().reset(seed=seed)
        if seed is not None:
            self._seed_inner_rngs(int(seed))
            self._next_cycle_task = 1

        inner_options = dict(options or {})
        override = inner_options.pop("task_id", None)
        task_id = self.validate_task_id(override) if override is not None else self._pick_task()
        inner_options["task_id"] = task_id

        with swapped_global_numpy_rng(self._legacy_rng):
            obs, info = self._inner.reset(seed=seed, options=inner_options)
        self.task_id = task_id
        self.goal = np.asarray(info["goal"])
        return join_obs_goal(obs, self.goal), self._augment_info(info, success=0.0)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Step the inner env; returns ``([obs, goal]``, reward, terminated, truncated, info)."""
        if self.goal is None:
            raise RuntimeError("Call reset() before step().")
        if self._isolate_step_rng:
            with redirected_global_numpy_rng(self._step_rng_functions):
                obs, reward, terminated, truncated, info = self._inner.step(action)
        else:
            obs, reward, terminated, truncated, info = self._inner.step(action)
        success = float(info.get("success", 0.0))
        return (
            join_obs_goal(obs, self.goal),
            float(reward),
            bool(terminated),
            bool(truncated),
            self._augment_info(info, success=success),
        )

    def render(self) -> np.ndarray | None:
        """Render the inner env (``rgb_array`` frame [H, W, 3] uint8 for OGBench envs)."""
        return self._inner.render()

    def close(self) -> None:
        self._inner.close()
        super().close()

    # ------------------------------------------------------------------------------ helpers
    def validate_task_id(self, task_id: Any) -> int | None:
        if task_id is None:
            return None
        task_id = int(task_id)
        if not 1 <= task_id <= self.num_tasks:
            raise ValueError(f"task_id must be in 1..{self.num_tasks} or None, got {task_id}.")
        return task_id

    def _pick_task(self) -> int:
        if self.fixed_task_id is not None:
            return self.fixed_task_id
        task_id = self._next_cycle_task
        self._next_cycle_task = task_id % self.num_tasks + 1
        return task_id

    def _seed_inner_rngs(self, seed: int) -> None:
        """Seed the RNGs OGBench draws from outside ``env.np_random``."""
        self._legacy_rng.seed(seed % 2**32)
        self._inner.unwrapped.action_space.seed(seed)

    def _augment_info(self, info: dict[str, Any], success: float) -> dict[str, Any]:
        info = dict(info)
        info["task_id"] = self.task_id
        info["goal"] = self.goal
        info["success"] = success
        return info


def make_ogbench_goal_env(config: Mapping[str, Any] | None = None) -> OGBenchGoalEnv:
    """Env creator for Tune's registry: ``config`` is RLlib's ``EnvContext`` (a dict)."""
    return OGBenchGoalEnv(config)


def register_envs() -> None:
    """Register :class:`OGBenchGoalEnv` as ``"ogbench-goal"`` in Tune's and gymnasium's registries.

    Afterwards ``config.environment("ogbench-goal", env_config={"env_name": ...})`` works in RLlib
    and ``gymnasium.make("ogbench-goal", env_name=...)`` works in plain gymnasium. Idempotent.
    """
    from ray.tune.registry import register_env

    register_env(ENV_REGISTRY_NAME, make_ogbench_goal_env)
    if ENV_REGISTRY_NAME not in gymnasium.registry:
        gymnasium.register(
            id=ENV_REGISTRY_NAME,
            entry_point=f"{__name__}:OGBenchGoalEnv",
            disable_env_checker=True,
        )
