"""Tests for the goal-in-observation OGBench wrapper and its registration."""

import gymnasium
import numpy as np
import pytest

from rllib_tmd.envs import ogbench_env
from rllib_tmd.envs.ogbench_env import (
    ENV_REGISTRY_NAME,
    OGBenchGoalEnv,
    join_obs_goal,
    register_envs,
    split_obs_goal,
)

ENV_NAME = "pointmaze-medium-navigate-v0"
OBS_DIM = 2  # pointmaze observation = (x, y)


def record_inner_resets(env: OGBenchGoalEnv) -> list[tuple[dict, np.ndarray, dict]]:
    """Wrap the inner env's reset to record (options, obs, info) of each call."""
    calls = []
    inner_reset = env.inner_env.reset

    def spy(**kwargs):
        obs, info = inner_reset(**kwargs)
        calls.append((kwargs.get("options"), obs, info))
        return obs, info

    env.inner_env.reset = spy
    return calls


def test_split_and_join_are_inverse_on_batches():
    x = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    obs, goal = split_obs_goal(x)
    assert obs.shape == goal.shape == (3, 2, 2)
    np.testing.assert_array_equal(join_obs_goal(obs, goal), x)
    with pytest.raises(ValueError):
        split_obs_goal(np.zeros(5))


def test_spaces_and_metadata():
    env = OGBenchGoalEnv({"env_name": ENV_NAME})
    assert env.observation_space.shape == (2 * OBS_DIM,)
    assert env.observation_space.dtype == np.float32
    assert env.action_space.shape == (2,)
    assert env.num_tasks == 5
    assert env.task_names == ["task1", "task2", "task3", "task4", "task5"]
    assert env.max_episode_steps == 1000


@pytest.mark.parametrize("task_id", [1, 2, 3, 4, 5])
def test_reset_selects_task_and_puts_inner_goal_into_observation(task_id):
    env = OGBenchGoalEnv({"env_name": ENV_NAME, "task_id": task_id, "seed": task_id})
    calls = record_inner_resets(env)
    observation, info = env.reset()

    ((options, inner_obs, inner_info),) = calls
    assert options["task_id"] == task_id
    obs, goal = split_obs_goal(observation)
    np.testing.assert_array_equal(goal, inner_info["goal"].astype(np.float32))
    np.testing.assert_array_equal(obs, inner_obs.astype(np.float32))
    assert info["task_id"] == task_id
    np.testing.assert_array_equal(info["goal"], inner_info["goal"])
    assert info["success"] == 0.0

    # Start and goal lie in the task's maze cells (OGBench adds < half a cell of noise).
    maze = env.inner_env.unwrapped
    task_info = maze.task_infos[task_id - 1]
    assert maze.xy_to_ij(obs) == tuple(task_info["init_ij"])
    assert maze.xy_to_ij(goal) == tuple(task_info["goal_ij"])


def test_task_cycles_through_all_tasks_when_unset():
    env = OGBenchGoalEnv({"env_name": ENV_NAME, "seed": 0})
    calls = record_inner_resets(env)
    seen = [env.reset()[1]["task_id"] for _ in range(7)]
    assert seen == [1, 2, 3, 4, 5, 1, 2]
    assert [options["task_id"] for options, _, _ in calls] == seen


def test_reset_option_overrides_task_without_advancing_cycle():
    env = OGBenchGoalEnv({"env_name": ENV_NAME, "seed": 0})
    assert env.reset()[1]["task_id"] == 1
    assert env.reset(options={"task_id": 4})[1]["task_id"] == 4
    assert env.reset()[1]["task_id"] == 2


def test_invalid_task_id_is_rejected():
    with pytest.raises(ValueError, match="task_id"):
        OGBenchGoalEnv({"env_name": ENV_NAME, "task_id": 6})
    env = OGBenchGoalEnv({"env_name": ENV_NAME})
    with pytest.raises(ValueError, match="task_id"):
        env.reset(options={"task_id": 0})


def test_step_keeps_goal_and_reports_success():
    env = OGBenchGoalEnv({"env_name": ENV_NAME, "task_id": 3, "seed": 1})
    observation, info = env.reset()
    goal = split_obs_goal(observation)[1].copy()
    next_observation, reward, terminated, truncated, step_info = env.step(np.ones(2, np.float32))
    assert next_observation.dtype == np.float32 and next_observation.shape == (4,)
    np.testing.assert_array_equal(split_obs_goal(next_observation)[1], goal)
    assert not np.array_equal(split_obs_goal(next_observation)[0], split_obs_goal(observation)[0])
    assert step_info["task_id"] == 3
    assert step_info["success"] in (0.0, 1.0)
    assert isinstance(reward, float) and isinstance(terminated, bool)
    assert isinstance(truncated, bool)


def test_step_before_reset_raises():
    env = OGBenchGoalEnv({"env_name": ENV_NAME})
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2))


def test_seeded_resets_are_reproducible_and_leave_global_rng_alone():
    np.random.seed(123)
    global_state = np.random.get_state()[1].copy()

    first = OGBenchGoalEnv({"env_name": ENV_NAME, "seed": 7})
    second = OGBenchGoalEnv({"env_name": ENV_NAME})
    a = [first.reset()[0] for _ in range(3)]
    b = [second.reset(seed=7)[0]] + [second.reset()[0] for _ in range(2)]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)

    # A different seed gives a different start/goal (OGBench adds noise to both).
    other = OGBenchGoalEnv({"env_name": ENV_NAME}).reset(seed=8)[0]
    assert not np.array_equal(other, a[0])


@pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum):UserWarning")
def test_passes_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    env = OGBenchGoalEnv({"env_name": ENV_NAME})
    check_env(env, skip_render_check=True)


def test_gymnasium_make_from_registry_name():
    register_envs()
    register_envs()  # idempotent
    env = gymnasium.make(ENV_REGISTRY_NAME, env_name=ENV_NAME, task_id=2, seed=0)
    observation, info = env.reset()
    assert observation.shape == (4,)
    assert info["task_id"] == 2
    assert isinstance(env.unwrapped, OGBenchGoalEnv)


def test_tune_registry_creator_accepts_rllib_env_context(ray_session):
    from ray.rllib.env.env_context import EnvContext
    from ray.tune.registry import ENV_CREATOR, _global_registry

    register_envs()
    creator = _global_registry.get(ENV_CREATOR, ENV_REGISTRY_NAME)
    context = EnvContext({"env_name": ENV_NAME, "task_id": 5, "num_envs": 1}, worker_index=1)
    env = creator(context)
    assert isinstance(env, OGBenchGoalEnv)
    assert env.reset(seed=0)[1]["task_id"] == 5


def test_rllib_env_runner_samples_from_registered_env(ray_session):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    register_envs()
    config = (
        PPOConfig()
        .environment(ENV_REGISTRY_NAME, env_config={"env_name": ENV_NAME, "seed": 0})
        .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
    )
    runner = SingleAgentEnvRunner(config=config)
    try:
        episodes = runner.sample(num_timesteps=20, random_actions=True)
        observations = np.concatenate([np.asarray(e.get_observations()) for e in episodes])
        assert observations.shape[1] == 2 * OBS_DIM
        # The goal half stays fixed within each episode.
        for episode in episodes:
            goals = split_obs_goal(np.asarray(episode.get_observations()))[1]
            assert np.all(goals == goals[0])
    finally:
        runner.stop()


def teleport_outcomes(env: OGBenchGoalEnv, seed: int, hops: int = 6) -> list[np.ndarray]:
    """Put the agent on an inbound teleporter ``hops`` times; where did each step land?"""
    env.reset(seed=seed)
    maze = env.inner_env.unwrapped
    entry = np.array(maze._teleport_info["teleport_in_xys"][0])
    landings = []
    for _ in range(hops):
        maze.set_xy(entry)
        env.step(np.zeros(2, dtype=np.float32))
        landings.append(maze.get_xy().copy())
    return landings


def test_teleports_draw_from_the_env_rng_not_the_global_one():
    """A teleport picks its exit with ``np.random.randint``: inside ``step`` that call draws from
    the env's own seeded RNG, so exits depend on the seed only, and the global RNG is unchanged.
    Same exits as swapping the whole global state in and out (the slower former method)."""
    name = "pointmaze-teleport-navigate-v0"
    np.random.seed(5)
    global_state = np.random.get_state()[1].copy()
    a = teleport_outcomes(OGBenchGoalEnv({"env_name": name}), seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], global_state)
    np.random.seed(99)  # a different global state must not matter
    b = teleport_outcomes(OGBenchGoalEnv({"env_name": name}), seed=3)
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    assert len({tuple(np.round(xy, 3)) for xy in a}) > 1  # exits vary: the RNG was used

    swapped = OGBenchGoalEnv({"env_name": name})
    rng = swapped._legacy_rng
    swapped._step_rng_functions = {}  # no redirection; swap the global state instead
    original_step = swapped.inner_env.step

    def step_with_swapped_state(action):
        with ogbench_env.swapped_global_numpy_rng(rng):
            return original_step(action)

    swapped.inner_env.step = step_with_swapped_state
    c = teleport_outcomes(swapped, seed=3)
    np.testing.assert_array_equal(np.stack(a), np.stack(c))
