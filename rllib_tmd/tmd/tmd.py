"""TMDConfig (every hyperparameter of spec §1–§4, validated) and the TMD algorithm.

TMD is offline: ``config.offline_data(input_=DATASET)`` names a Parquet episode folder
(or an OGBench ``.npz``). Each learner loads the data once and samples goal-relabelled
batches itself, so ``training_step`` only asks every learner to run
``updates_per_iteration`` updates. Evaluation runs the OGBench protocol (spec §5).
"""

from __future__ import annotations

import difflib
import inspect
import logging
import os
import time
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.offline.offline_data import OfflineData
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_TRAINED_LIFETIME,
    TIMERS,
)
from ray.tune.execution.placement_groups import PlacementGroupFactory

from rllib_tmd.tmd.critic_watch import AT_CHANCE_KEY, CriticAtChanceWatch
from rllib_tmd.tmd.default_tmd_rl_module import DEFAULT_MODEL_CONFIG
from rllib_tmd.tmd.tmd_learner import (
    CONTRASTIVE_ACCURACY,
    CONTRASTIVE_LOSS,
    NUM_UPDATES_LIFETIME,
)

logger = logging.getLogger(__name__)

# Loss, goal-sampling and loop hyperparameters with the released code's defaults.
TMD_TRAINING_DEFAULTS: dict[str, Any] = {
    "zeta": 0.05,
    "contrastive_weight": 1.0,
    "action_invariance_weight": 1.0,
    "linex_threshold": 3.0,
    "diag_backup": 0.5,
    "divergence": "linex",
    "alpha": 0.1,
    "value_p_curgoal": 0.0,
    "value_p_trajgoal": 1.0,
    "value_p_randomgoal": 0.0,
    "value_geom_sample": True,
    "actor_p_curgoal": 0.0,
    "actor_p_trajgoal": 1.0,
    "actor_p_randomgoal": 0.0,
    "actor_geom_sample": False,
    "updates_per_iteration": 1000,
    "sampler": "torch",
    # Update-loop implementation: lean loop, CUDA-graph capture of the whole update, fused
    # Adam and torch.compile of forward+loss ("auto": on for a CUDA learner, off elsewhere;
    # measured in benchmarks/throughput.py; compiling adds ~20 s to the first update).
    "fast_update": True,
    "cuda_graph": "auto",
    "torch_compile_update": "auto",
    "fused_adam": "auto",
    # torch.compile mode of the update: "default", or "max-autotune-no-cudagraphs" (Triton GEMM
    # templates autotuned per shape; compiling takes minutes). Modes with their own CUDA graphs
    # ("reduce-overhead") are not offered: cuda_graph captures the whole update already.
    "torch_compile_mode": "default",
    # The critic's and the actor's forward + backward side by side on two CUDA streams (they
    # share no gradients; measured in benchmarks/throughput.py). "auto": on for CUDA learners
    # with train_batch_size_per_learner <= 2048 (faster there, slower at 8192).
    "parallel_update_branches": "auto",
    # float32 matmuls on CUDA: "high" = TF32 tensor cores (what JAX does by default on GPUs,
    # so also the authors' code), "highest" = full fp32. "auto" = "high" on CUDA.
    "matmul_precision": "auto",
    "ogbench_env": None,
    "eval_episodes_per_task": 50,
    "eval_task_ids": (1, 2, 3, 4, 5),
    # Base seed of the evaluation episodes. "auto": drawn from (seed, updates so far), so every
    # evaluation and every trial seed runs fresh episodes, as OGBench's evaluations do (its env
    # keeps drawing from one generator); an int: the same episodes at every evaluation.
    "eval_seed": "auto",
    # Processes that step the evaluation envs ("auto": one per core but one, at most 8; 0 on
    # fewer than 3 cores). An int is also added to the CPUs a Tune trial reserves.
    "eval_num_workers": "auto",
    # Envs stepped in lock-step ("auto": eval_episodes_per_task). More envs mean fewer, larger
    # policy calls and fewer messages to the workers per episode; each env costs memory
    # (pointmaze ~2 MB, manipulation ~150 MB: docs/datasets.md). Results do not depend on it.
    "eval_num_envs": "auto",
    # No evaluation before this many updates (the iterations that evaluation_interval picks
    # earlier are skipped): a long run on slow envs can evaluate only where OGBench's score is
    # taken (the last three evaluations, e.g. 800k / 900k / 1M).
    "eval_start_updates": 0,
    # On pointmaze envs: draw the paths of this many episodes per task over the learned distance
    # to each task's goal at every evaluation, as <trial dir>/maze_maps/maze_map_<updates>.png
    # (rllib_tmd.envs.maze_maps; 0: off).
    "eval_maze_map_episodes": 0,
}
TMD_KEYS = {**DEFAULT_MODEL_CONFIG, **TMD_TRAINING_DEFAULTS}

CHOICES: dict[str, tuple[Any, ...]] = {
    "quasimetric": ("mrn", "iqe"),
    "mrn_variant": ("max+l2", "max"),
    "quasimetric_impl": ("auto", "torch", "triton"),
    "divergence": ("linex", "mse", "bce"),
    "sampler": ("torch", "numpy"),
    "cuda_graph": (True, False, "auto"),
    "torch_compile_update": (True, False, "auto"),
    "fused_adam": (True, False, "auto"),
    "parallel_update_branches": (True, False, "auto"),
    "torch_compile_mode": ("default", "max-autotune-no-cudagraphs"),
    "matmul_precision": ("auto", "high", "highest"),
    "mixed_precision": ("none", "bf16"),
}
# key -> (lower bound, upper bound, bounds inclusive?)
RANGES: dict[str, tuple[float, float, bool]] = {
    "latent_dim": (1, float("inf"), True),
    "ensemble_size": (1, float("inf"), True),
    "quasimetric_components": (1, float("inf"), True),
    "zeta": (0.0, float("inf"), True),
    "contrastive_weight": (0.0, float("inf"), True),
    "action_invariance_weight": (0.0, float("inf"), True),
    "linex_threshold": (0.0, float("inf"), False),
    "diag_backup": (0.0, 1.0, True),
    "alpha": (0.0, float("inf"), True),
    "updates_per_iteration": (1, float("inf"), True),
    "eval_episodes_per_task": (1, float("inf"), True),
    "eval_start_updates": (0, float("inf"), True),
    "eval_maze_map_episodes": (0, float("inf"), True),
    "gamma": (0.0, 1.0, False),
    "train_batch_size_per_learner": (2, float("inf"), True),
}
# Keys RLlib itself passes through `update_from_dict` that are not plain attributes.
_SPECIAL_DICT_KEYS = {"multiagent", "_enable_new_api_stack", "__trial_info__", "class"}


class TMDConfig(AlgorithmConfig):
    """Configuration of TMD. Every TMD key is an attribute; set them via ``.training()``.

    Example::

        config = (
            TMDConfig()
            .offline_data(input_="datasets/pointmaze-medium-navigate-v0")
            .training(zeta=0.05, alpha=0.03, updates_per_iteration=1000)
            .evaluation(evaluation_interval=10)
        )
        algo = config.build()
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or TMD)
        self.lr = 3e-4
        self.gamma = 0.99
        self.train_batch_size_per_learner = 512
        for key, value in TMD_KEYS.items():
            setattr(self, key, value)
        self.offline_data_class = TMDDatasetHandle
        self._is_online = False  # no env runners for sampling (like MARWIL/BC)
        # RLlib's offline pre-learner pipeline is not used: learners sample themselves.
        self.dataset_num_iters_per_learner = 1

    def training(self, **kwargs: Any) -> TMDConfig:
        """RLlib's training settings plus every TMD key (see ``TMD_KEYS``)."""
        for key in list(kwargs):
            if key in TMD_KEYS:
                value = kwargs.pop(key)
                if value is not NotProvided:
                    setattr(self, key, value)
        rllib_keys = set(inspect.signature(AlgorithmConfig.training).parameters) - {"self"}
        unknown = set(kwargs) - rllib_keys
        if unknown:
            raise ValueError(_unknown_keys_message(unknown, rllib_keys | set(TMD_KEYS)))
        super().training(**kwargs)
        return self

    def update_from_dict(self, config_dict: dict[str, Any]) -> TMDConfig:
        """Like RLlib's, but an unknown key is an error naming the key (not silently set)."""
        settable = {k for k, v in vars(type(self)).items() if isinstance(v, property) and v.fset}
        for base in type(self).__mro__:
            settable |= {k for k, v in vars(base).items() if isinstance(v, property) and v.fset}
        known = set(vars(self)) | settable | _SPECIAL_DICT_KEYS
        unknown = {self._translate_special_keys(k, warn_deprecated=False) for k in config_dict}
        # Tune injects its own dunder keys (`__trial_info__`, `__stdout_file__`, ...).
        unknown = {k for k in unknown - known if not (k.startswith("__") and k.endswith("__"))}
        if unknown:
            raise ValueError(_unknown_keys_message(unknown, known))
        return super().update_from_dict(config_dict)

    def get_default_learner_class(self) -> type:
        from rllib_tmd.tmd.torch.tmd_torch_learner import TMDTorchLearner

        return TMDTorchLearner

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rllib_tmd.tmd.torch.default_tmd_torch_rl_module import DefaultTMDTorchRLModule

        return RLModuleSpec(module_class=DefaultTMDTorchRLModule)

    def build_module(self) -> Any:
        """A fresh TMD RLModule (actor and critic) for this config's spaces and model keys,
        outside any learner (the algorithm's CPU copy for evaluation, ``critic_probe``)."""
        spec = self.get_default_rl_module_spec()
        spec.observation_space = self.observation_space
        spec.action_space = self.action_space
        spec.model_config = self._model_config_auto_includes
        spec.inference_only = False
        return spec.build()

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in DEFAULT_MODEL_CONFIG}

    def validate(self) -> None:
        self._validate_tmd_keys()
        if not self.input_ or self.input_ == "sampler":
            raise ValueError(
                "TMD is offline and needs a dataset: set "
                "config.offline_data(input_='path/to/dataset_dir_or.npz')"
            )
        if self.framework_str != "torch":
            raise ValueError(f"TMD supports framework='torch' only, got {self.framework_str!r}")
        if self.observation_space is None or self.action_space is None:
            self._spaces_from_dataset()
        super().validate()

    def _validate_tmd_keys(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"TMD config key '{key}' = {getattr(self, key)!r} is not allowed; "
                    f"choose one of {list(allowed)}"
                )
        for key, default in TMD_KEYS.items():
            value = getattr(self, key)
            if isinstance(default, bool) and key not in CHOICES:
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"TMD config key '{key}' = {value!r} must be True or False")
        for key, (low, high, inclusive) in RANGES.items():
            value = getattr(self, key)
            ok = low <= value <= high if inclusive else low < value < high
            if not isinstance(value, (int, float)) or not ok:
                bracket = "[]" if inclusive else "()"
                raise ValueError(
                    f"TMD config key '{key}' = {value!r} is out of range; allowed: "
                    f"{bracket[0]}{low}, {high}{bracket[1]}"
                )
        if self.latent_dim % self.quasimetric_components:
            raise ValueError(
                f"TMD config key 'latent_dim' ({self.latent_dim}) must be divisible by "
                f"'quasimetric_components' ({self.quasimetric_components})"
            )
        width = self.latent_dim // self.quasimetric_components
        if self.quasimetric == "mrn" and self.mrn_variant == "max+l2" and width % 2:
            raise ValueError(
                f"TMD config: mrn_variant='max+l2' splits each component in two halves; "
                f"component width latent_dim/quasimetric_components = {width} must be even"
            )
        for key in ("value", "actor"):
            kinds = ("curgoal", "trajgoal", "randomgoal")
            probs = [getattr(self, f"{key}_p_{kind}") for kind in kinds]
            if any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
                raise ValueError(
                    f"TMD config keys '{key}_p_curgoal', '{key}_p_trajgoal', "
                    f"'{key}_p_randomgoal' must be >= 0 and sum to 1, got {probs}"
                )
        for key, minimum in (("eval_num_workers", 0), ("eval_num_envs", 1), ("eval_seed", 0)):
            value = getattr(self, key)
            counted = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
            if value != "auto" and not counted:
                raise ValueError(
                    f"TMD config key '{key}' = {value!r}; allowed: 'auto' or an int >= {minimum}"
                )
        bad_tasks = [t for t in self.eval_task_ids if t not in (1, 2, 3, 4, 5)]
        if bad_tasks or not self.eval_task_ids:
            raise ValueError(
                f"TMD config key 'eval_task_ids' = {self.eval_task_ids!r}; allowed task ids: 1..5"
            )

    def _spaces_from_dataset(self) -> None:
        """Observation ``Box(2 * obs_dim)`` (state ++ goal) and action ``Box(act_dim)``."""
        from rllib_tmd.data.catalog import describe_dataset

        info = describe_dataset(self.input_)
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(2 * info["obs_dim"],), dtype=np.float32
        )
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(info["act_dim"],), dtype=np.float32)
        if self.ogbench_env is None:
            self.ogbench_env = info.get("env_name")


def _unknown_keys_message(unknown: set[str], known: Any) -> str:
    parts = []
    for key in sorted(unknown):
        close = difflib.get_close_matches(key, list(known), n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        parts.append(f"'{key}'{hint}")
    return f"Unknown TMD config key(s): {', '.join(parts)}"


class TMDDatasetHandle(OfflineData):
    """Stands in for RLlib's ``OfflineData``: TMD learners read the dataset themselves.

    Holds the path so that RLlib's offline setup finds the attributes it sets; it reads
    nothing (RLlib's own pre-learner pipeline has no goal relabelling).
    """

    def __init__(self, config: AlgorithmConfig) -> None:  # noqa: D107 (no super().__init__)
        self.config = config
        self.path = config.input_
        self.locality_hints = None
        self.learner_handles = None
        self.module_spec = None
        self.spaces = None


class TMD(Algorithm):
    """Temporal Metric Distillation on RLlib's new API stack."""

    @classmethod
    def get_default_config(cls) -> TMDConfig:
        return TMDConfig()

    @classmethod
    def _should_create_evaluation_env_runners(cls, eval_config: AlgorithmConfig) -> bool:
        # Evaluation runs the OGBench protocol from the driver, envs in plain worker
        # processes (see `evaluate` and `envs.env_pool`), not RLlib env runners.
        return False

    @classmethod
    def default_resource_request(cls, config: AlgorithmConfig | dict) -> PlacementGroupFactory:
        """RLlib's request, plus ``eval_num_workers`` CPUs on the main process's bundle when
        evaluation is on and the count is explicit (its env workers run beside the driver)."""
        request = super().default_resource_request(config)
        if isinstance(config, dict):
            config = cls.get_default_config().update_from_dict(config)
        workers = config.eval_num_workers
        if not config.evaluation_interval or workers == "auto" or workers == 0:
            return request
        main, *rest = request.bundles
        main = {**main, "CPU": main.get("CPU", 0) + workers}
        return PlacementGroupFactory([main, *rest], strategy=request.strategy)

    def setup(self, config: AlgorithmConfig) -> None:
        _check_env_matches_dataset(config)
        super().setup(config)
        self._critic_watch = CriticAtChanceWatch(contrastive_candidates(self.config))

    @classmethod
    def from_checkpoint(cls, path: Any, *args: Any, **kwargs: Any) -> TMD:
        """RLlib's, also for a relative local path (pyarrow rejects those: "URI has empty
        scheme")."""
        return super().from_checkpoint(absolute_local_path(path), *args, **kwargs)

    def restore_from_path(self, path: Any, *args: Any, **kwargs: Any) -> None:
        """Restores without RLlib's env-runner weight sync (ray 2.60 calls
        ``env_runner_group.sync_weights`` unconditionally, which fails for offline
        algorithms that have no env runners). A relative local path is resolved first."""
        path = absolute_local_path(path)
        if self.env_runner_group is not None:
            super().restore_from_path(path, *args, **kwargs)
        else:
            Checkpointable.restore_from_path(self, path, *args, **kwargs)
        self._eval_module = None

    def training_step(self) -> None:
        n = self.config.updates_per_iteration
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            results = self.learner_group.foreach_learner(lambda learner: learner.run_updates(n))
            learner_results = [_result_or_raise(r) for r in results]
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        num_learners = max(1, self.config.num_learners)
        self.metrics.log_value(NUM_UPDATES_LIFETIME, n, reduce="lifetime_sum")
        self.metrics.log_value(
            NUM_ENV_STEPS_TRAINED_LIFETIME,
            n * self.config.train_batch_size_per_learner * num_learners,
            reduce="lifetime_sum",
        )
        self._watch_critic(learner_results)

    def _watch_critic(self, learner_results: list[dict[str, Any]]) -> None:
        """Warns once if the critic sits at chance (``critic_watch``: contrastive accuracy or
        loss), and reports the stretch's first update as ``AT_CHANCE_KEY`` while it lasts."""
        accuracy = _learner_means(learner_results, CONTRASTIVE_ACCURACY)
        if accuracy is None:
            return
        loss = _learner_means(learner_results, CONTRASTIVE_LOSS)
        updates = int(self.metrics.peek(NUM_UPDATES_LIFETIME, default=0))
        message = self._critic_watch.observe(updates, accuracy, loss)
        if message:
            logger.warning(message)
        since = self._critic_watch.stuck_since(updates)
        if since is not None:  # in the results while it lasts: the driver shows it from there
            self.metrics.log_value(AT_CHANCE_KEY, since, window=1)

    # ---- evaluation ---------------------------------------------------------------
    def evaluate(self, parallel_train_future: Any = None) -> dict[str, Any]:
        """OGBench protocol (spec §5) with the current policy, episodes seeded by
        :meth:`evaluation_seed`.

        Before ``eval_start_updates`` updates it evaluates nothing (no ``ogbench`` results).
        On pointmaze envs it also reports ``distance_rank_corr_bfs`` (:meth:`critic_check`) and,
        with ``eval_maze_map_episodes``, draws a maze map into the trial's folder.
        """
        updates = self.metrics.peek(NUM_UPDATES_LIFETIME, default=0)
        if updates < self.config.eval_start_updates:
            return {"env_runners": {}}
        draw = self.config.eval_maze_map_episodes if self._is_pointmaze() else 0
        result = self.evaluate_ogbench(record_paths=draw)
        if draw:
            name = f"maze_map_{int(updates):09d}.png"
            try:  # a picture must not end a long run
                self.maze_map(result, os.path.join(self.logdir, "maze_maps", name))
                self._persist_artifacts()
            except Exception as error:  # noqa: BLE001
                logger.warning("maze map %s not drawn or not stored: %r", name, error)
        metrics = {**result.as_metrics(), **self.critic_check()}
        return {"ogbench": metrics, "env_runners": {}}

    def _persist_artifacts(self) -> None:
        """Copy the trial's files (the maze maps) to its storage folder now. Tune does so only
        every ``sync_period`` (300 s) and at checkpoints, not when a trial stops, so the maps of
        a run's last minutes were lost (seen in the suite: a run's last map was from 600k of
        800k updates). No-op outside Tune or without ``SyncConfig(sync_artifacts=True)``."""
        storage = getattr(self, "_storage", None)
        if storage is not None:
            storage.persist_artifacts(force=True)

    def _is_pointmaze(self) -> bool:
        from rllib_tmd.envs.maze_distances import is_pointmaze

        return bool(self.config.ogbench_env) and is_pointmaze(self.config.ogbench_env)

    def maze_map(self, result: Any, path: str | os.PathLike) -> Any:
        """Draw ``result`` (a pointmaze evaluation with ``record_paths``) over the learned
        distance to each task's goal (:func:`rllib_tmd.envs.maze_maps.write_maze_map`);
        returns the PNG's path."""
        from rllib_tmd.envs.maze_maps import write_maze_map

        return write_maze_map(result, self.temporal_distance, path)

    def critic_check(self) -> dict[str, float]:
        """Checks of the critic that need no rollout (``rllib_tmd.envs.maze_distances``), on a
        pointmaze env; elsewhere ``{}``:

        * ``distance_rank_corr_bfs``: Spearman's rho between the learned d(s, g) and the grid
          BFS distance over the maze's cell centres;
        * ``greedy_descent/task<k>`` (and ``/overall``): 1.0 where walking downhill on the
          learned distance to task k's goal, cell by cell from its start, gets there.
        """
        from rllib_tmd.envs.maze_distances import critic_checks

        return critic_checks(self.temporal_distance, self.config.ogbench_env)

    def evaluate_ogbench(
        self,
        episodes_per_task: int | None = None,
        seed: int | None = None,
        video_dir: str | None = None,
        progress: bool = False,
        num_workers: int | None = None,
        num_envs: int | None = None,
        record_paths: int = 0,
    ) -> Any:
        """Runs the OGBench tasks with the deterministic policy; returns an ``EvalResult``.

        ``num_workers`` (env worker processes) and ``num_envs`` (lock-step envs) override
        ``eval_num_workers`` and ``eval_num_envs`` for this call; ``record_paths`` keeps the
        observations of that many episodes per task (``EvalResult.paths``).
        """
        from rllib_tmd.envs.evaluation import evaluate_policy

        if not self.config.ogbench_env:
            raise ValueError(
                "TMD evaluation needs an OGBench env name: set config.training("
                "ogbench_env='pointmaze-medium-navigate-v0') or use a dataset whose "
                "metadata names it"
            )
        import torch

        module = self._inference_module()
        workers = self.config.eval_num_workers if num_workers is None else num_workers
        envs = self.config.eval_num_envs if num_envs is None else num_envs
        start = time.perf_counter()
        # Policy calls are tiny batches: intra-op threads only add synchronisation cost
        # (measured: ~1.4 ms vs 0.06 ms per call for a small MLP on 2 busy cores).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            result = evaluate_policy(
                module_act_fn(module),
                self.config.ogbench_env,
                episodes_per_task=episodes_per_task or self.config.eval_episodes_per_task,
                task_ids=tuple(self.config.eval_task_ids),
                seed=self.evaluation_seed() if seed is None else seed,
                video_dir=video_dir,
                progress=progress,
                num_workers=None if workers == "auto" else workers,
                num_envs=None if envs == "auto" else envs,
                record_paths=record_paths,
            )
        finally:
            torch.set_num_threads(threads)
        logger.info("OGBench evaluation took %.1fs", time.perf_counter() - start)
        return result

    def evaluation_seed(self) -> int:
        """The base seed of the next evaluation's episodes: ``eval_seed``, or for ``"auto"`` one
        drawn from the trial's ``seed`` and its updates so far."""
        from rllib_tmd.envs.evaluation import fresh_evaluation_seed

        if self.config.eval_seed != "auto":
            return self.config.eval_seed
        updates = int(self.metrics.peek(NUM_UPDATES_LIFETIME, default=0))
        return fresh_evaluation_seed(self.config.seed or 0, updates)

    def temporal_distance(
        self,
        observations: np.ndarray,
        goals: np.ndarray,
        pairwise: bool = False,
        ensemble: str = "mean",
    ) -> np.ndarray:
        """The learned distance ``d(psi(s), psi(g))`` (``V(s, g) = -d``) with current weights.

        ``observations`` [N, obs_dim] and ``goals`` [N, obs_dim] -> [N]; with ``pairwise``,
        ``goals`` [M, obs_dim] -> [N, M]. TMD trains it to order state pairs like the number of
        steps between them (it is not in steps). ``ensemble``: ``"mean"`` or ``"max"`` (the
        pessimistic member, as the actor's ``min`` over Q) over the critic ensemble, or
        ``"none"`` to keep a leading ensemble axis [E, ...]. Runs on the CPU copy of the module.
        """
        return module_distance(self._inference_module(), observations, goals, pairwise, ensemble)

    def _inference_module(self) -> Any:
        """A CPU copy of the learner's RLModule with the current weights."""
        state = self.learner_group.get_state(components="learner/rl_module")
        module_state = state["learner"]["rl_module"][DEFAULT_MODULE_ID]
        if getattr(self, "_eval_module", None) is None:
            self._eval_module = self.config.build_module()
        self._eval_module.set_state(module_state)
        self._eval_module.eval()
        return self._eval_module


def check_state_batches(
    obs_shape: tuple[int, ...], goal_shape: tuple[int, ...], obs_dim: int, pairwise: bool
) -> None:
    """States [N, obs_dim] and goals [N or M, obs_dim] for a distance query, or a clear error."""
    for name, shape in (("observations", obs_shape), ("goals", goal_shape)):
        if len(shape) != 2 or shape[1] != obs_dim:
            raise ValueError(
                f"{name} must be [N, {obs_dim}] (the dataset's state width), got {list(shape)}"
            )
    if not pairwise and obs_shape[0] != goal_shape[0]:
        raise ValueError(
            f"observations and goals need the same length unless pairwise=True, got "
            f"{obs_shape[0]} and {goal_shape[0]}"
        )


def absolute_local_path(path: Any) -> Any:
    """``path`` made absolute if it is a local path (str or ``os.PathLike`` without a
    ``scheme://``); URIs and ``Checkpoint`` objects are returned unchanged."""
    if isinstance(path, (str, os.PathLike)) and "://" not in os.fspath(path):
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    return path


def _check_env_matches_dataset(config: AlgorithmConfig) -> None:
    """The evaluation env's observation and action widths must equal the dataset's (a clear
    error before training, not a failed evaluation after it)."""
    if not config.ogbench_env:
        return
    from rllib_tmd.envs.ogbench_env import make_inner_env

    env = make_inner_env(config.ogbench_env)
    env_dims = {
        "observations": int(np.prod(env.observation_space.shape)),
        "actions": int(np.prod(env.action_space.shape)),
    }
    env.close()
    data_dims = {
        "observations": int(config.observation_space.shape[0]) // 2,
        "actions": int(np.prod(config.action_space.shape)),
    }
    for key, env_dim in env_dims.items():
        if env_dim != data_dims[key]:
            raise ValueError(
                f"Dataset {config.input_} has {key} of width {data_dims[key]}, but OGBench env "
                f"'{config.ogbench_env}' has width {env_dim}: wrong dataset for this env?"
            )


def module_distance(
    module: Any,
    observations: np.ndarray,
    goals: np.ndarray,
    pairwise: bool = False,
    ensemble: str = "mean",
) -> np.ndarray:
    """A TMD module's learned distance ``d(psi(s), psi(g))`` (:meth:`TMD.temporal_distance`
    with this module's weights): ``[N, obs_dim], [N or M, obs_dim] -> [N]`` (``[N, M]`` with
    ``pairwise``), reduced over the ensemble by ``"mean"`` or ``"max"`` (``"none"``: [E, ...])."""
    import torch

    reducers = {"mean": lambda d: d.mean(0), "max": lambda d: d.max(0).values}
    if ensemble not in (*reducers, "none"):
        raise ValueError(f"ensemble must be 'mean', 'max' or 'none', got {ensemble!r}")
    obs = torch.as_tensor(np.ascontiguousarray(observations, dtype=np.float32))
    goal = torch.as_tensor(np.ascontiguousarray(goals, dtype=np.float32))
    check_state_batches(obs.shape, goal.shape, module.obs_dim, pairwise)
    with torch.no_grad():
        distances = module.critic.state_distance(obs, goal, pairwise=pairwise)
        if ensemble != "none":
            distances = reducers[ensemble](distances)
    return distances.numpy()


def module_act_fn(module: Any):
    """``(obs [N, d], goal [N, d]) -> actions [N, A]`` numpy function for the evaluator."""
    import torch

    def act(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            o = torch.as_tensor(np.asarray(obs, dtype=np.float32))
            g = torch.as_tensor(np.asarray(goal, dtype=np.float32))
            return module.act(o, g).numpy()

    return act


def contrastive_candidates(config: TMDConfig) -> int:
    """State-actions each goal's contrastive softmax runs over: the learner's batch, times the
    learners with ``global_negatives``."""
    learners = max(1, config.num_learners or 0)
    scale = learners if config.global_negatives and learners > 1 else 1
    return config.train_batch_size_per_learner * scale


def _learner_means(learner_results: list[dict[str, Any]], key: str) -> float | None:
    """Mean of the module's ``key`` over the learners' results, or None where none has it."""
    values = [_peek(r.get(DEFAULT_MODULE_ID, {}).get(key)) for r in learner_results]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _peek(value: Any) -> float | None:
    """A learner metric as a float (RLlib's ``Stats`` or a plain number), None if absent."""
    if value is None:
        return None
    return float(value.peek() if hasattr(value, "peek") else value)


def _result_or_raise(result: Any) -> Any:
    if not result.ok:
        raise result.get()
    return result.get()
