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

Speed: the episodes of all tasks share ``num_envs`` envs stepped in lock-step, with one batched
``act_fn`` call per step; the envs can live in ``num_workers`` worker processes
(:mod:`rllib_tmd.envs.env_pool`) while the policy stays here. Determinism: episode ``e`` of task
``k`` is reset with a seed derived from ``(seed, k, e)``, so results depend on ``seed`` (and
``act_fn``) only, not on ``num_envs`` or ``num_workers``.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from rllib_tmd.envs.env_pool import (
    LocalEnvSlots,
    PendingStep,
    ProcessEnvSlots,
    ResetRequest,
    StepBatch,
)
from rllib_tmd.envs.ogbench_env import OGBenchGoalEnv, split_obs_goal

EnvSlots = LocalEnvSlots | ProcessEnvSlots

#: ``act_fn(obs [N, obs_dim], goal [N, obs_dim]) -> actions [N, act_dim]`` (float32 inputs).
ActFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

VIDEO_FPS = 30

#: A failed episode counts as *stalled* when no coordinate of its state moved by more than
#: ``STALL_TOLERANCE`` over its last ``STALL_WINDOW`` observations: the policy stopped (a zero
#: action, or pushing into a wall) instead of wandering. Pointmaze coordinates are in maze units
#: (4 per cell; the ball moves 0.2 x action per step); manipulation states include the arm's.
STALL_WINDOW = 100
STALL_TOLERANCE = 0.05


@dataclass(frozen=True)
class TaskResult:
    """Outcome of the episodes of one task: ``successes`` [E] (0/1), ``lengths`` [E] (steps),
    ``stalled`` [E] (0/1: failed with the state at rest at the end, see :data:`STALL_WINDOW`;
    None where not tracked)."""

    task_id: int
    task_name: str
    successes: np.ndarray
    lengths: np.ndarray
    stalled: np.ndarray | None = None

    @property
    def stalled_rate(self) -> float | None:
        return None if self.stalled is None else float(np.mean(self.stalled))

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
    #: ``{(task_id, episode): observations [T + 1, obs_dim]}`` of the episodes whose paths were
    #: recorded (``record_paths``), reset observation first; goals are not included.
    paths: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    @property
    def success_rates(self) -> dict[int, float]:
        """Success rate per task id."""
        return {t.task_id: t.success_rate for t in self.tasks}

    @property
    def overall_success(self) -> float:
        """Mean of the per-task success rates (OGBench's ``overall_success``)."""
        return float(np.mean([t.success_rate for t in self.tasks]))

    @property
    def stalled_rate(self) -> float | None:
        """Mean over tasks of the share of episodes that failed stalled (None: not tracked)."""
        rates = [t.stalled_rate for t in self.tasks]
        return None if None in rates else float(np.mean(rates))

    @property
    def episode_lengths(self) -> dict[int, np.ndarray]:
        """Episode lengths [E] per task id."""
        return {t.task_id: t.lengths for t in self.tasks}

    def record(self, step: int) -> dict[str, Any]:
        """This evaluation as the training runs under ``benchmarks/`` that run outside RLlib log
        it: ``{"step", "success" (overall), "tasks" {id: rate}, "seconds"}``."""
        return {
            "step": step,
            "success": self.overall_success,
            "tasks": self.success_rates,
            "seconds": self.wall_time_s,
        }

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat metrics, e.g. ``{"success/task1": 0.9, ..., "success/overall": 0.85, ...}``."""
        metrics: dict[str, float] = {}
        for t in self.tasks:
            metrics[f"success/task{t.task_id}"] = t.success_rate
        metrics["success/overall"] = self.overall_success
        for t in self.tasks:
            metrics[f"episode_length/task{t.task_id}"] = t.mean_length
        metrics["episode_length/mean"] = float(np.mean([t.mean_length for t in self.tasks]))
        if self.stalled_rate is not None:
            for t in self.tasks:
                metrics[f"stalled/task{t.task_id}"] = t.stalled_rate
            metrics["stalled/overall"] = self.stalled_rate
        metrics["num_episodes"] = float(sum(len(t.successes) for t in self.tasks))
        metrics["wall_time_s"] = self.wall_time_s
        return {f"{prefix}{key}": value for key, value in metrics.items()}

    def format_table(self, markdown: bool = True) -> str:
        """Per-task success table (Markdown by default, aligned plain text otherwise)."""
        stalled = self.stalled_rate is not None
        header = ["task", "name", "success", "episodes", "mean length"]
        header += ["stalled"] if stalled else []
        rows = [
            [
                str(t.task_id),
                t.task_name,
                f"{t.success_rate:.3f}",
                str(len(t.successes)),
                f"{t.mean_length:.1f}",
                *([f"{t.stalled_rate:.3f}"] if stalled else []),
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
                *([f"{self.stalled_rate:.3f}"] if stalled else []),
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


#: OGBench reports the mean of the last three evaluations (800k, 900k and 1M updates)
PROTOCOL_EVALS = 3


def protocol_success(evals: list[dict[str, Any]], last: int = PROTOCOL_EVALS) -> dict[str, Any]:
    """OGBench's score of one run: every ``success/...`` key (and ``stalled/...``, where
    logged) averaged over the last ``last`` evaluation points (fewer if the run has fewer);
    ``evals_averaged`` says how many and ``averaged_at_updates`` at which update counts."""
    points = [h for h in evals if "success/overall" in h][-last:]
    keys = sorted({k for h in points for k in h if k.startswith(("success/", "stalled/"))})
    score: dict[str, Any] = {
        "evals_averaged": len(points),
        "averaged_at_updates": [int(h["updates"]) for h in points if "updates" in h],
    }
    for key in keys:
        values = [h[key] for h in points if key in h]
        score[key] = sum(values) / len(values)
    return score


def record_score(records: list[dict[str, Any]]) -> float | None:
    """OGBench's score of a standalone run's evaluation records (``EvalResult.record``: the
    overall success under ``"success"``): :func:`protocol_success` of them, or None."""
    points = [{"success/overall": r["success"]} for r in records]
    return protocol_success(points).get("success/overall")


def fresh_evaluation_seed(trial_seed: int, updates: int) -> int:
    """Base seed of a training run's evaluation after ``updates`` updates: each evaluation and
    each trial seed gets other episodes, as OGBench's evaluations keep drawing from one env."""
    return int(np.random.SeedSequence([trial_seed, updates]).generate_state(1)[0])


def default_num_workers() -> int:
    """Env worker processes used when ``num_workers`` is None: one per usable core but one (the
    policy's), at most 8; 0 (envs in this process) with fewer than 3 cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return 0 if cores < 3 else min(8, cores - 1)


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
    num_workers: int | None = None,
    video_frame_skip: int = 3,
    video_format: str = "gif",
    record_paths: int = 0,
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
        num_envs: envs stepped in lock-step; they take the episodes of every task from one
            queue (default: ``episodes_per_task``; at most the number of episodes).
        video_dir: if set, render the first episode of each task (goal frame on top) and write
            ``<env_name>_task<k>.<video_format>`` there. Needs a headless OpenGL backend
            (``MUJOCO_GL=egl`` or ``osmesa``); raises ``RuntimeError`` if rendering is unavailable.
        progress: show a tqdm progress bar over episodes.
        num_workers: processes that step the envs (the policy stays in this process); 0 keeps
            the envs here. None: :func:`default_num_workers`. Results do not depend on it.
        video_frame_skip: keep every n-th frame of the recorded episode.
        video_format: ``"gif"`` (Pillow) or ``"mp4"`` (needs imageio-ffmpeg or PyAV).
        record_paths: keep the observations of the first ``record_paths`` episodes of each
            task (``EvalResult.paths``), e.g. to draw them (:mod:`rllib_tmd.envs.maze_maps`).

    Returns:
        :class:`EvalResult` with per-task success rates, overall success, episode lengths, time.
    """
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be >= 1, got {episodes_per_task}.")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}.")
    if not task_ids:
        raise ValueError("task_ids is empty: name at least one task, e.g. (1, 2, 3, 4, 5).")
    if num_workers is not None and num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}.")
    if record_paths < 0:
        raise ValueError(f"record_paths must be >= 0, got {record_paths}.")
    start_time = time.perf_counter()
    probe = OGBenchGoalEnv({"env_name": env_name})  # names, spaces and checks, never stepped
    bar = None
    try:
        for task_id in task_ids:
            probe.validate_task_id(task_id)
        if video_dir is not None:
            ensure_rendering_works(probe)
        episodes = [(task_id, e) for task_id in task_ids for e in range(episodes_per_task)]
        num_envs = min(num_envs or episodes_per_task, len(episodes))
        workers = default_num_workers() if num_workers is None else num_workers
        if progress:
            bar = _progress_bar(len(episodes), env_name)
        recorder = PathRecorder(record_paths)
        with open_env_slots(env_name, num_envs, workers) as slots:
            outcomes, frames = run_episodes(
                act_fn,
                slots,
                probe.action_space,
                episodes,
                seed,
                record_tasks=set(task_ids) if video_dir is not None else set(),
                video_frame_skip=video_frame_skip,
                on_episode_end=bar.update if bar is not None else None,
                on_observation=recorder.add if record_paths > 0 else None,
            )
        tasks = [
            TaskResult(
                task_id,
                probe.task_names[task_id - 1],
                successes=np.array([outcomes[task_id, e][0] for e in range(episodes_per_task)]),
                lengths=np.array([outcomes[task_id, e][1] for e in range(episodes_per_task)]),
                stalled=np.array([outcomes[task_id, e][2] for e in range(episodes_per_task)]),
            )
            for task_id in task_ids
        ]
        video_paths = {}
        for task_id, task_frames in frames.items():
            path = Path(video_dir) / f"{_slug(env_name)}_task{task_id}.{video_format}"
            video_paths[task_id] = write_video(task_frames, path)
        max_steps = probe.max_episode_steps
    finally:
        probe.close()
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
        paths=recorder.paths(),
    )


class StallWatch:
    """The last ``window`` states of every env slot (a ring buffer ``[slots, window, dim]``),
    to tell whether an episode ended at rest: every coordinate within ``tolerance`` over them."""

    def __init__(
        self, num_slots: int, window: int = STALL_WINDOW, tolerance: float = STALL_TOLERANCE
    ) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 observations, got {window}")
        self.window, self.tolerance = window, tolerance
        self._seen = np.zeros(num_slots, dtype=np.int64)
        self._states: np.ndarray | None = None

    def start(self, slot: int, state: np.ndarray) -> None:
        """A new episode's reset state ``[dim]`` in ``slot``."""
        self._seen[slot] = 0
        self.add(slot, state)

    def add(self, slot: int, state: np.ndarray) -> None:
        """The slot's next state ``[dim]``."""
        if self._states is None:
            self._states = np.zeros((len(self._seen), self.window, state.shape[-1]), np.float32)
        self._states[slot, self._seen[slot] % self.window] = state
        self._seen[slot] += 1

    def at_rest(self, slot: int) -> bool:
        """Whether the slot's episode lasted ``window`` observations and its state stayed
        within ``tolerance`` (in every coordinate) over the last ``window`` of them."""
        if self._states is None or self._seen[slot] < self.window:
            return False
        states = self._states[slot]
        return bool((states.max(axis=0) - states.min(axis=0)).max() <= self.tolerance)


class PathRecorder:
    """Collects the observations of episodes ``0 .. first - 1`` of every task, step by step."""

    def __init__(self, first: int) -> None:
        self.first = first
        self._steps: dict[tuple[int, int], list[np.ndarray]] = {}

    def add(self, task_id: int, episode: int, obs: np.ndarray) -> None:
        """One observation ``[obs_dim]`` (without the goal) of an episode."""
        if episode < self.first:
            self._steps.setdefault((task_id, episode), []).append(np.array(obs, dtype=np.float32))

    def paths(self) -> dict[tuple[int, int], np.ndarray]:
        """``{(task_id, episode): [T + 1, obs_dim]}``."""
        return {key: np.stack(steps) for key, steps in sorted(self._steps.items())}


@contextmanager
def open_env_slots(env_name: str, num_slots: int, num_workers: int) -> Iterator[EnvSlots]:
    """``num_slots`` envs: in this process for ``num_workers == 0``, else in worker processes
    (closed on exit)."""
    slots: EnvSlots = (
        ProcessEnvSlots(env_name, num_slots, num_workers)
        if num_workers > 0
        else LocalEnvSlots(env_name, num_slots)
    )
    try:
        yield slots
    finally:
        slots.close()


def run_episodes(
    act_fn: ActFn,
    slots: EnvSlots,
    action_space: gymnasium.Space,
    episodes: Sequence[tuple[int, int]],
    seed: int,
    record_tasks: set[int] | None = None,
    video_frame_skip: int = 3,
    on_episode_end: Callable[[], Any] | None = None,
    on_observation: Callable[[int, int, np.ndarray], Any] | None = None,
) -> tuple[dict[tuple[int, int], tuple[float, int, float]], dict[int, list[np.ndarray]]]:
    """Run ``episodes`` ((task_id, episode index) pairs) on the env ``slots`` in lock-step.

    Each slot runs one episode at a time and takes the next pending one when its episode ends.
    The slots form ``slots.pipeline_groups`` groups that step in turn: each turn is one
    ``act_fn`` call on the group's running slots and one batched step, started without waiting
    for it, so the next group's actions are computed while it runs.
    Episode ``(k, e)`` is reset with :func:`episode_seed` ``(seed, k, e)``, so its outcome does
    not depend on the slot it ran on. ``on_observation(k, e, obs [obs_dim])`` sees every
    observation of every episode (the reset one first), without the goal.

    Returns:
        ({(task_id, e): (success 0/1, length, stalled 0/1)}, {task_id: frames [H, W, 3] of
        episode 0} for the tasks in ``record_tasks``); ``stalled``: the episode failed with its
        state at rest over its last :data:`STALL_WINDOW` observations (:class:`StallWatch`).
    """
    record_tasks = record_tasks or set()
    pending = deque(episodes)
    running: dict[int, tuple[int, int]] = {}  # slot -> (task_id, episode)
    observations: np.ndarray | None = None
    steps = np.zeros(slots.num_slots, dtype=np.int64)
    outcomes: dict[tuple[int, int], tuple[float, int, float]] = {}
    stall_watch = StallWatch(slots.num_slots)
    recorders: dict[int, _EpisodeRecorder] = {}  # slot -> recorder of an episode 0

    def start_episodes(free_slots: Sequence[int]) -> None:
        nonlocal observations
        requests = []
        for slot in free_slots[: len(pending)]:
            task_id, episode = running[slot] = pending.popleft()
            options: dict[str, Any] = {"task_id": task_id}
            if episode == 0 and task_id in record_tasks:
                options["render_goal"] = True
            requests.append(ResetRequest(slot, episode_seed(seed, task_id, episode), options))
        if not requests:
            return
        obs, infos = slots.reset(requests)
        if observations is None:
            observations = np.zeros((slots.num_slots, obs.shape[1]), dtype=np.float32)
        started = [r.slot for r in requests]
        observations[started] = obs
        steps[started] = 0
        for slot in started:
            stall_watch.start(slot, split_obs_goal(observations[slot])[0])
        if on_observation is not None:
            for slot in started:
                on_observation(*running[slot], split_obs_goal(observations[slot])[0])
        for request, info in zip(requests, infos, strict=True):
            if "render_goal" in request.options:
                recorders[request.slot] = _EpisodeRecorder(video_frame_skip)
                recorders[request.slot].start(info.get("goal_rendered"), slots.render(request.slot))

    frames: dict[int, list[np.ndarray]] = {}

    def end_step(active: list[int], batch: StepBatch) -> list[int]:
        """Book one step of the ``active`` slots; returns the slots whose episode ended."""
        observations[active] = batch.obs
        steps[active] += 1
        finished = []
        for row, slot in enumerate(active):
            done = bool(batch.terminated[row] or batch.truncated[row])
            stall_watch.add(slot, split_obs_goal(observations[slot])[0])
            if on_observation is not None:
                on_observation(*running[slot], split_obs_goal(observations[slot])[0])
            if slot in recorders:
                recorders[slot].add(lambda s=slot: slots.render(s), steps[slot], done)
            if not done:
                continue
            task_id, episode = running.pop(slot)
            success = float(batch.success[row])
            stalled = float(not success and stall_watch.at_rest(slot))
            outcomes[task_id, episode] = (success, int(steps[slot]), stalled)
            finished.append(slot)
            if slot in recorders:
                frames[task_id] = recorders.pop(slot).frames
            if on_episode_end is not None:
                on_episode_end()
        return finished

    # Slot groups step in turn: one group's actions are computed while the other's step runs.
    groups = [
        [s for s in range(slots.num_slots) if slots.pipeline_group(s) == g]
        for g in range(slots.pipeline_groups)
    ]
    in_flight: dict[int, tuple[list[int], PendingStep]] = {}

    def launch(group: int) -> None:
        active = [slot for slot in groups[group] if slot in running]
        if active:
            obs, goal = split_obs_goal(observations[active])
            actions = policy_actions(act_fn, obs, goal, action_space)
            in_flight[group] = (active, slots.step_async(active, actions))

    start_episodes(range(slots.num_slots))
    for group in range(len(groups)):
        launch(group)
    while in_flight:
        for group in list(in_flight):
            active, step = in_flight.pop(group)
            start_episodes(end_step(active, step.result()))
            launch(group)
    return outcomes, frames


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
