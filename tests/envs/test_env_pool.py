"""Env slots in worker processes: same episodes as in-process envs, errors that say what broke."""

import numpy as np
import pytest

from rllib_tmd.envs.env_pool import LocalEnvSlots, ProcessEnvSlots, ResetRequest, WorkerError
from rllib_tmd.envs.evaluation import evaluate_policy, run_episodes
from tests.envs.test_evaluation import ENV_NAME, MazeOraclePolicy

TELEPORT = "pointmaze-teleport-navigate-v0"  # its steps draw from NumPy's global RNG


def random_rollout(slots, steps: int, seed: int) -> list[np.ndarray]:
    """Reset every slot to a task and step it with seeded random actions; the observations."""
    rng = np.random.default_rng(seed)
    requests = [ResetRequest(s, 100 + s, {"task_id": s % 5 + 1}) for s in range(slots.num_slots)]
    observations = [slots.reset(requests)[0]]
    for _ in range(steps):
        order = rng.permutation(slots.num_slots)[: slots.num_slots - 1]  # rows out of order
        batch = slots.step(order, rng.uniform(-1, 1, size=(order.size, 2)))
        observations.append(batch.obs[np.argsort(order)])
    return observations


@pytest.mark.parametrize("env_name", [ENV_NAME, TELEPORT])
def test_workers_step_exactly_like_envs_in_this_process(env_name):
    local = LocalEnvSlots(env_name, 5)
    with ProcessEnvSlots(env_name, 5, num_workers=2) as spread:
        assert spread.num_workers == 2
        for mine, theirs in zip(random_rollout(local, 300, 0), random_rollout(spread, 300, 0)):
            np.testing.assert_array_equal(mine, theirs)
    local.close()


def test_evaluation_results_do_not_depend_on_workers_or_slots():
    oracle = MazeOraclePolicy()
    here = evaluate_policy(oracle, ENV_NAME, episodes_per_task=3, num_workers=0)
    spread = evaluate_policy(oracle, ENV_NAME, episodes_per_task=3, num_workers=3, num_envs=7)
    assert here.overall_success >= 0.9
    for mine, theirs in zip(here.tasks, spread.tasks, strict=True):
        np.testing.assert_array_equal(mine.successes, theirs.successes)
        np.testing.assert_array_equal(mine.lengths, theirs.lengths)


def test_a_worker_error_comes_back_with_its_traceback_and_the_pool_goes_on():
    with ProcessEnvSlots(ENV_NAME, 2, num_workers=2) as slots:
        slots.reset([ResetRequest(0, 0, {"task_id": 1}), ResetRequest(1, 1, {"task_id": 2})])
        with pytest.raises(WorkerError, match="(?s)env worker 1 raised.*broadcast"):
            slots.step([1], np.zeros((1, 5)))  # a 5-dim action for a 2-dim point
        assert slots.step([0, 1], np.zeros((2, 2))).obs.shape == (2, 4)
        with pytest.raises(IndexError, match="slot 2"):
            slots.step([2], np.zeros((1, 2)))


def test_a_dead_worker_is_named_with_its_exit_code():
    slots = ProcessEnvSlots(ENV_NAME, 2, num_workers=2)
    try:
        slots._workers[0].process.kill()
        with pytest.raises(WorkerError, match=r"env worker 0 \(pid \d+\) exited with -9"):
            slots.reset([ResetRequest(0, 0, {"task_id": 1})])
    finally:
        slots.close()


def test_workers_exit_when_closed_or_when_their_caller_is_gone():
    slots = ProcessEnvSlots(ENV_NAME, 3, num_workers=3)
    processes = [worker.process for worker in slots._workers]
    slots._workers[2].to_worker.close()  # what a caller's death looks like to its worker
    assert processes[2].wait(timeout=30) == 0
    slots._workers.pop().from_worker.close()
    slots.close()
    assert [process.returncode for process in processes] == [0, 0, 0]


class FramesFromStepCounts(LocalEnvSlots):
    """Local slots whose frames need no OpenGL: a 2x2 image filled with the slot's step count,
    and the goal frame 255."""

    def __init__(self, env_name: str, num_slots: int) -> None:
        super().__init__(env_name, num_slots)
        self.step_counts = np.zeros(num_slots, dtype=np.int64)

    def reset(self, requests):
        unrendered = [  # the maze would render its goal itself
            ResetRequest(r.slot, r.seed, {"task_id": r.options["task_id"]}) for r in requests
        ]
        obs, infos = super().reset(unrendered)
        for request, info in zip(requests, infos, strict=True):
            self.step_counts[request.slot] = 0
            if request.options.get("render_goal"):
                info["goal_rendered"] = np.full((2, 2, 3), 255, np.uint8)
        return obs, infos

    def step(self, slots, actions):
        self.step_counts[list(slots)] += 1
        return super().step(slots, actions)

    def render(self, slot):
        return np.full((2, 2, 3), self.step_counts[slot])


def test_the_first_episode_of_each_recorded_task_is_filmed_with_its_goal_on_top():
    slots = FramesFromStepCounts(ENV_NAME, 2)
    zero_policy = lambda obs, goal: np.zeros((len(obs), 2))  # noqa: E731  runs to the time limit
    episodes = [(task, e) for task in (2, 5) for e in range(2)]
    outcomes, frames = run_episodes(
        zero_policy, slots, slots.envs[0].action_space, episodes, seed=0, record_tasks={5},
        video_frame_skip=100,
    )  # fmt: skip
    assert sorted(outcomes) == episodes and set(frames) == {5}
    assert all(length == 1000 and stalled for _, length, stalled in outcomes.values())
    shown_steps = [int(frame[2, 0, 0]) for frame in frames[5]]  # the bottom half: the episode
    assert shown_steps == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    assert all((frame[:2] == 255).all() and frame.shape == (4, 2, 3) for frame in frames[5])
    slots.close()


def test_steps_in_flight_together_can_be_collected_in_any_order():
    local = LocalEnvSlots(ENV_NAME, 4)
    with ProcessEnvSlots(ENV_NAME, 4, num_workers=2) as spread:
        assert {spread.pipeline_group(s) for s in range(4)} == {0, 1}
        requests = [ResetRequest(s, s, {"task_id": 1}) for s in range(4)]
        local.reset(requests), spread.reset(requests)
        first = spread.step_async([0, 1], np.full((2, 2), 0.5))  # group 0: slot s // 2 even
        second = spread.step_async([2, 3], np.full((2, 2), -0.5))
        late, early = second.result(), first.result()
        np.testing.assert_array_equal(early.obs, local.step([0, 1], np.full((2, 2), 0.5)).obs)
        np.testing.assert_array_equal(late.obs, local.step([2, 3], np.full((2, 2), -0.5)).obs)
    local.close()
