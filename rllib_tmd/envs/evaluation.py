"""OGBench evaluation protocol (spec §5) as a plain function.

Protocol, matching OGBench's reference evaluation loop:

* for each task ``k`` in ``task_ids``: ``episodes_per_task`` episodes started with
  ``reset(options=dict(task_id=k))``; the goal observation is ``info["goal"]``;
* actions come from a deterministic ``act_fn`` (policy mode) and are clipped to the action
  space bounds (continuous envs), as OGBench does;
* an episode ends when the inner env reports ``terminated`` (goal reached) or ``truncated`` (its
  time limit, e.g. 1000 steps for pointmaze-medium); its success is ``info["success"]`` of the
  last step;
* per-task success rate = mean over that task's episodes; overall = mean over tasks.

Speed: the episodes of a task run in lock-step on ``num_envs`` envs side by side with one batched
``act_fn`` call per step. Determinism: episode ``e`` of task ``k`` is reset with a seed derived
from ``(seed, k, e)``, so results depend on ``seed`` (and ``act_fn``) only, not on ``num_envs``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from rllib_tmd.envs.ogbench_env import OGBenchGoalEnv, split_obs_goal

#: ``act_fn(obs [N, obs_dim], goal [N, obs_dim]) -> actions [N, act_dim]`` (float32 inputs).
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

VIDEO_FPS = 30


@dataclass(frozen=True)
class TaskResult:
    """Outcome of the episodes of one task: ``successes`` [E] (0/1), ``lengths`` [E] (steps)."""

    task_id: int
    task_name: str
    successes: np.ndarray
    lengths: np.ndarray

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))


@dataclass
class EvalResult:
    """Result of :func:`evaluate_policy`; ``tasks`` are in the order of ``task_ids``."""

    env_name: str
    seed: int
    episodes_per_task: int
    tasks: list[TaskResult]
    wall_time_s: float
    max_episode_steps: int | None = None
    video_paths: dict[int, Path] = field(default_factory=dict)

    @property
    def success_rates(self) -> dict[int, float]:
        """Success rate per task id."""
        return {t.task_id: t.success_rate for t in self.tasks}

    @property
    def overall_success(self) -> float:
        """Mean of the per-task success rates (OGBench's ``overall_success``)."""
        return float(np.mean([t.success_rate for t in self.tasks]))

    @property
    def episode_lengths(self) -> dict[int, np.ndarray]:
        """Episode lengths [E] per task id."""
        return {t.task_id: t.lengths for t in self.tasks}

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat metrics, e.g. ``{"success/task1": 0.9, ..., "success/overall": 0.85, ...}``."""
        metrics: dict[str, float] = {}
        for t in self.tasks:
            metrics[f"success/task{t.task_id}"] = t.success_rate
        metrics["success/overall"] = self.overall_success
        for t in self.tasks:
            metrics[f"episode_length/task{t.task_id}"] = t.mean_length
        metrics["episode_length/mean"] = float(np.mean([t.mean_length for t in self.tasks]))
        metrics["num_episodes"] = float(sum(len(t.successes) for t in self.tasks))
        metrics["wall_time_s"] = self.wall_time_s
        return {f"{prefix}{key}": value for key, value in metrics.items()}

    def format_table(self, markdown: bool = True) -> str:
        """Per-task success table (Markdown by default, aligned plain text otherwise)."""
        header = ["task", "name", "success", "episodes", "mean length"]
        rows = [
            [
                str(t.task_id),
                t.task_name,
                f"{t.success_rate:.3f}",
                str(len(t.successes)),
                f"{t.mean_length:.1f}",
            ]
            for t in self.tasks
        ]
        total_episodes = sum(len(t.successes) for t in self.tasks)
        mean_length = np.mean([t.mean_length for t in self.tasks])
        rows.append(
            [
                "overall",
                "",
                f"{self.overall_success:.3f}",
                str(total_episodes),
                f"{mean_length:.1f}",
            ]
        )
        title = f"{self.env_name} (seed {self.seed}, {self.wall_time_s:.1f} s)"
        if markdown:
            lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        else:
            widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
            lines = [
                "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                for r in [header, *rows]
            ]
        return "\n".join([title, "", *lines])

    def __str__(self) -> str:
        return self.format_table(markdown=False)


def episode_seed(seed: int, task_id: int, episode: int) -> int:
    """Reset seed of episode ``episode`` of task ``task_id`` (independent of batching)."""
    return int(np.random.SeedSequence([seed, task_id, episode]).generate_state(1)[0])


def evaluate_policy(
    act_fn: ActFn,
    env_name: str,
    episodes_per_task: int = 50,
    task_ids: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
    num_envs: int | None = None,
    video_dir: str | Path | None = None,
    progress: bool = False,
    *,
    video_frame_skip: int = 3,
    video_format: str = "gif",
) -> EvalResult:
    """Run the OGBench evaluation protocol for ``act_fn`` on ``env_name``.

    Args:
        act_fn: deterministic policy,
            ``act_fn(obs [N, obs_dim], goal [N, obs_dim]) -> actions [N, act_dim]``
            (float32 inputs; N varies, at most ``num_envs``).
        env_name: OGBench env or dataset name, e.g. ``"pointmaze-medium-navigate-v0"``.
        episodes_per_task: episodes per task (OGBench uses 50).
        task_ids: tasks to evaluate (1-based).
        seed: non-negative base seed; the same seed gives the same result.
        num_envs: envs stepped in lock-step (default and maximum: ``episodes_per_task``).
        video_dir: if set, render the first episode of each task (goal frame on top) and write
            ``<env_name>_task<k>.<video_format>`` there. Needs a headless OpenGL backend
            (``MUJOCO_GL=egl`` or ``osmesa``); raises ``RuntimeError`` if rendering is unavailable.
        progress: show a tqdm progress bar over episodes.
        video_frame_skip: keep every n-th frame of the recorded episode.
        video_format: ``"gif"`` (Pillow) or ``"mp4"`` (needs imageio-ffmpeg or PyAV).

    Returns:
        :class:`EvalResult` with per-task success rates, overall success, episode lengths, time.
    """
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be >= 1, got {episodes_per_task}.")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}.")
    start_time = time.perf_counter()
    num_envs = min(num_envs or episodes_per_task, episodes_per_task)
    envs = [OGBenchGoalEnv({"env_name": env_name}) for _ in range(num_envs)]
    video_paths: dict[int, Path] = {}
    bar = _progress_bar(len(task_ids) * episodes_per_task, env_name) if progress else None
    try:
        for task_id in task_ids:
            envs[0].validate_task_id(task_id)
        if video_dir is not None:
            ensure_rendering_works(envs[0])
        tasks = []
        for task_id in task_ids:
            result, frames = run_task_episodes(
                act_fn,
                envs,
                task_id,
                episodes_per_task,
                seed,
                record_first_episode=video_dir is not None,
                video_frame_skip=video_frame_skip,
                on_episode_end=bar.update if bar is not None else None,
            )
            tasks.append(result)
            if frames:
                path = Path(video_dir) / f"{_slug(env_name)}_task{task_id}.{video_format}"
                video_paths[task_id] = write_video(frames, path)
        max_steps = envs[0].max_episode_steps
    finally:
        for env in envs:
            env.close()
        if bar is not None:
            bar.close()
    return EvalResult(
        env_name=env_name,
        seed=seed,
        episodes_per_task=episodes_per_task,
        tasks=tasks,
        wall_time_s=time.perf_counter() - start_time,
        max_episode_steps=max_steps,
        video_paths=video_paths,
    )


def run_task_episodes(
    act_fn: ActFn,
    envs: Sequence[OGBenchGoalEnv],
    task_id: int,
    num_episodes: int,
    seed: int,
    record_first_episode: bool = False,
    video_frame_skip: int = 3,
    on_episode_end: Callable[[], Any] | None = None,
) -> tuple[TaskResult, list[np.ndarray]]:
    """Run ``num_episodes`` episodes of one task on ``envs`` in lock-step.

    Each env runs one episode at a time and starts the next pending episode when its current one
    ends; ``act_fn`` is called once per step on the rows of the still-running envs.

    Returns:
        (TaskResult, frames): frames [H, W, 3] of episode 0 if ``record_first_episode`` else [].
    """
    num_slots = len(envs)
    obs_width = envs[0].observation_space.shape[0]
    observations = np.zeros((num_slots, obs_width), dtype=np.float32)
    episode_of_slot = np.full(num_slots, -1)
    steps = np.zeros(num_slots, dtype=np.int64)
    successes = np.zeros(num_episodes, dtype=np.float64)
    lengths = np.zeros(num_episodes, dtype=np.int64)
    recorder = _EpisodeRecorder(video_frame_skip) if record_first_episode else None
    next_episode = 0

    def start_next_episode(slot: int) -> None:
        nonlocal next_episode
        if next_episode >= num_episodes:
            episode_of_slot[slot] = -1
            return
        episode = next_episode
        next_episode += 1
        options: dict[str, Any] = {"task_id": task_id}
        if recorder is not None and episode == 0:
            options["render_goal"] = True
        obs, info = envs[slot].reset(seed=episode_seed(seed, task_id, episode), options=options)
        observations[slot] = obs
        episode_of_slot[slot] = episode
        steps[slot] = 0
        if recorder is not None and episode == 0:
            recorder.start(info.get("goal_rendered"), envs[slot].render())

    for slot in range(num_slots):
        start_next_episode(slot)

    while (active := np.flatnonzero(episode_of_slot >= 0)).size > 0:
        obs, goal = split_obs_goal(observations[active])
        actions = policy_actions(act_fn, obs, goal, envs[0].action_space)
        for row, slot in enumerate(active):
            next_obs, _, terminated, truncated, info = envs[slot].step(actions[row])
            observations[slot] = next_obs
            steps[slot] += 1
            episode = episode_of_slot[slot]
            done = terminated or truncated
            if recorder is not None and episode == 0:
                recorder.add(envs[slot].render, steps[slot], done)
            if done:
                successes[episode] = float(info["success"])
                lengths[episode] = steps[slot]
                if on_episode_end is not None:
                    on_episode_end()
                start_next_episode(slot)

    task_name = envs[0].task_names[task_id - 1]
    frames = recorder.frames if recorder is not None else []
    return TaskResult(task_id, task_name, successes, lengths), frames


def policy_actions(
    act_fn: ActFn, obs: np.ndarray, goal: np.ndarray, action_space: gymnasium.Space
) -> np.ndarray:
    """Call ``act_fn`` on a batch [N, obs_dim] and return actions [N, *act_shape].

    Continuous actions are clipped to the action space bounds (OGBench clips to [-1, 1]).
    """
    actions = np.asarray(act_fn(obs, goal))
    batch = obs.shape[0]
    if isinstance(action_space, gymnasium.spaces.Box):
        expected = (batch, *action_space.shape)
        if actions.size != int(np.prod(expected)):
            raise ValueError(f"act_fn returned shape {actions.shape}, expected {expected}.")
        actions = actions.reshape(expected).astype(action_space.dtype, copy=False)
        return np.clip(actions, action_space.low, action_space.high)
    if actions.shape[0] != batch:
        raise ValueError(f"act_fn returned {actions.shape[0]} actions for a batch of {batch}.")
    return actions


class _EpisodeRecorder:
    """Collects every ``frame_skip``-th frame (plus the first and last) of one episode."""

    def __init__(self, frame_skip: int) -> None:
        self.frame_skip = max(1, frame_skip)
        self.goal_frame: np.ndarray | None = None
        self.frames: list[np.ndarray] = []

    def start(self, goal_frame: np.ndarray | None, first_frame: np.ndarray) -> None:
        self.goal_frame = None if goal_frame is None else np.array(goal_frame)
        self.frames = [self._compose(first_frame)]

    def add(self, render: Callable[[], np.ndarray], step: int, done: bool) -> None:
        if step % self.frame_skip == 0 or done:
            self.frames.append(self._compose(render()))

    def _compose(self, frame: np.ndarray) -> np.ndarray:
        frame = np.array(frame)
        if self.goal_frame is None:
            return frame
        return np.concatenate([self.goal_frame, frame], axis=0)


def ensure_rendering_works(env: OGBenchGoalEnv) -> None:
    """Render one frame or raise ``RuntimeError`` explaining how to enable headless rendering."""
    try:
        env.reset(seed=0, options={"task_id": 1})
        frame = env.render()
    except Exception as error:  # mujoco raises various errors without an OpenGL context
        raise RuntimeError(
            f"Rendering {env.env_name} failed ({type(error).__name__}: {error}). Videos need a "
            "headless OpenGL backend: set MUJOCO_GL=egl (NVIDIA GPU) or MUJOCO_GL=osmesa before "
            "mujoco is imported, or call evaluate_policy with video_dir=None."
        ) from error
    if frame is None:
        raise RuntimeError(f"{env.env_name} returned no frame from render(); cannot record video.")


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: int = VIDEO_FPS) -> Path:
    """Write frames [H, W, 3] uint8 to ``path`` (.gif via Pillow, .mp4 via imageio-ffmpeg/PyAV)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = np.stack([np.asarray(f, dtype=np.uint8) for f in frames])
    suffix = path.suffix.lower()
    if suffix == ".gif":
        iio.imwrite(path, stack, duration=1000.0 / fps, loop=0)
    elif suffix == ".mp4":
        try:
            iio.imwrite(path, stack, fps=fps)
        except Exception as error:
            raise RuntimeError(
                f"Writing {path} failed ({error}); mp4 needs imageio-ffmpeg or av. "
                "Use video_format='gif' instead."
            ) from error
    else:
        raise ValueError(f"Unsupported video format {suffix!r}; use .gif or .mp4.")
    return path


def _progress_bar(total: int, description: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"eval {description}", unit="ep")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
