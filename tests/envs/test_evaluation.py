"""Tests for the OGBench evaluation protocol (lock-step batched episodes)."""

import gc

import numpy as np
import pytest

from rllib_tmd.envs.evaluation import EvalResult, StallWatch, evaluate_policy, write_video
from rllib_tmd.envs.ogbench_env import make_inner_env

ENV_NAME = "pointmaze-medium-navigate-v0"
ORACLE_EPISODES = 4  # oracle episodes end at the goal after ~80-150 steps
FAILING_EPISODES = 2  # zero/random policies run to the 1000-step limit


class MazeOraclePolicy:
    """Pointmaze policy that heads for OGBench's BFS subgoal (next maze cell), then the goal.

    act(obs [N, 2], goal [N, 2]) -> [N, 2]; pointmaze moves by 0.2 * action per step.
    """

    def __init__(self) -> None:
        self.maze = make_inner_env(ENV_NAME).unwrapped

    def target(self, xy: np.ndarray, goal_xy: np.ndarray) -> np.ndarray:
        if self.maze.xy_to_ij(xy) == self.maze.xy_to_ij(goal_xy):
            return goal_xy
        subgoal, _ = self.maze.get_oracle_subgoal(xy, goal_xy)
        return subgoal

    def __call__(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        targets = np.stack([self.target(xy, g) for xy, g in zip(obs, goal, strict=True)])
        return np.clip((targets - obs) / 0.2, -1.0, 1.0)


def zero_policy(obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
    return np.zeros((obs.shape[0], 2), dtype=np.float32)


def random_policy(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs, goal: rng.uniform(-1.0, 1.0, size=(obs.shape[0], 2))


@pytest.fixture(scope="module")
def oracle() -> MazeOraclePolicy:
    return MazeOraclePolicy()


@pytest.fixture(scope="module")
def oracle_result(oracle) -> EvalResult:
    return evaluate_policy(oracle, ENV_NAME, episodes_per_task=ORACLE_EPISODES, seed=0)


def test_oracle_clearly_beats_zero_and_random_policies(oracle_result):
    zero = evaluate_policy(zero_policy, ENV_NAME, episodes_per_task=FAILING_EPISODES)
    random = evaluate_policy(random_policy(0), ENV_NAME, episodes_per_task=FAILING_EPISODES)
    assert oracle_result.overall_success >= 0.9
    assert zero.overall_success <= 0.1
    assert random.overall_success <= 0.2
    # Failed episodes run to the env's time limit; successful ones stop at the goal.
    assert all((lengths == 1000).all() for lengths in zero.episode_lengths.values())
    assert zero.max_episode_steps == 1000
    for task_id, lengths in oracle_result.episode_lengths.items():
        successes = oracle_result.tasks[task_id - 1].successes
        assert (lengths[successes == 1.0] < 1000).all()
    # A policy that stops ends its failed episodes at rest; one that keeps moving does not, and
    # an episode that succeeds never counts.
    assert zero.stalled_rate == 1.0 and zero.as_metrics()["stalled/overall"] == 1.0
    assert random.stalled_rate == 0.0 and oracle_result.stalled_rate == 0.0
    assert "stalled" in zero.format_table()


def test_same_seed_gives_identical_results_for_any_batch_size(oracle, oracle_result):
    again = evaluate_policy(oracle, ENV_NAME, episodes_per_task=ORACLE_EPISODES, seed=0)
    one_env = evaluate_policy(
        oracle, ENV_NAME, episodes_per_task=ORACLE_EPISODES, seed=0, num_envs=1
    )
    for other in (again, one_env):
        assert other.as_metrics().keys() == oracle_result.as_metrics().keys()
        for mine, theirs in zip(oracle_result.tasks, other.tasks, strict=True):
            np.testing.assert_array_equal(mine.successes, theirs.successes)
            np.testing.assert_array_equal(mine.lengths, theirs.lengths)


def test_different_seed_changes_episodes(oracle, oracle_result):
    other = evaluate_policy(oracle, ENV_NAME, episodes_per_task=ORACLE_EPISODES, seed=1)
    mine = np.concatenate(list(oracle_result.episode_lengths.values()))
    theirs = np.concatenate(list(other.episode_lengths.values()))
    assert not np.array_equal(mine, theirs)


def test_metrics_have_per_task_and_overall_keys(oracle_result):
    metrics = oracle_result.as_metrics()
    for task_id in range(1, 6):
        assert 0.0 <= metrics[f"success/task{task_id}"] <= 1.0
        assert metrics[f"episode_length/task{task_id}"] > 0
    rates = [metrics[f"success/task{k}"] for k in range(1, 6)]
    assert metrics["success/overall"] == pytest.approx(np.mean(rates))
    assert metrics["num_episodes"] == 5 * ORACLE_EPISODES
    assert metrics["wall_time_s"] > 0
    assert set(oracle_result.success_rates) == {1, 2, 3, 4, 5}
    assert "eval/success/overall" in oracle_result.as_metrics(prefix="eval/")


def test_table_lists_every_task_and_overall(oracle_result):
    markdown = oracle_result.format_table()
    plain = oracle_result.format_table(markdown=False)
    for text in (markdown, plain):
        for name in ("task1", "task5", "overall"):
            assert name in text
    assert markdown.count("\n| ") == 1 + 5 + 1  # header, tasks, overall
    assert str(oracle_result) == plain


def test_task_subset_and_batched_calls_see_goal_inputs(oracle):
    batch_shapes = []

    def recording_policy(obs, goal):
        batch_shapes.append((obs.shape, goal.shape, obs.dtype))
        return oracle(obs, goal)

    result = evaluate_policy(recording_policy, ENV_NAME, episodes_per_task=3, task_ids=(2, 4))
    assert [t.task_id for t in result.tasks] == [2, 4]
    assert set(result.as_metrics()) >= {"success/task2", "success/task4", "success/overall"}
    assert "success/task1" not in result.as_metrics()
    assert batch_shapes[0] == ((3, 2), (3, 2), np.float32)
    assert max(shape[0][0] for shape in batch_shapes) == 3


def test_rejects_bad_arguments_and_bad_actions():
    with pytest.raises(ValueError, match="task_id"):
        evaluate_policy(zero_policy, ENV_NAME, episodes_per_task=1, task_ids=(6,))
    with pytest.raises(ValueError, match="task_ids is empty"):
        evaluate_policy(zero_policy, ENV_NAME, episodes_per_task=1, task_ids=())
    with pytest.raises(ValueError, match="num_workers"):
        evaluate_policy(zero_policy, ENV_NAME, episodes_per_task=1, num_workers=-1)
    with pytest.raises(ValueError, match="expected"):
        evaluate_policy(lambda o, g: np.zeros((o.shape[0], 3)), ENV_NAME, episodes_per_task=1)


# mujoco's Renderer.__del__ raises when its OpenGL context could not be created.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_video_of_first_episode_or_clear_error(oracle, tmp_path):
    try:
        result = evaluate_policy(
            oracle, ENV_NAME, episodes_per_task=1, task_ids=(3,), video_dir=tmp_path
        )
    except RuntimeError as error:  # no headless OpenGL here
        assert "MUJOCO_GL" in str(error)
        gc.collect()  # collect the half-built renderer while the filter applies
        return
    path = result.video_paths[3]
    assert path.exists() and path.suffix == ".gif"


def test_write_video_gif(tmp_path):
    import imageio.v3 as iio

    frames = [np.full((8, 6, 3), i * 20, dtype=np.uint8) for i in range(5)]
    path = write_video(frames, tmp_path / "clip.gif")
    assert iio.imread(path).shape == (5, 8, 6, 3)
    with pytest.raises(ValueError, match="format"):
        write_video(frames, tmp_path / "clip.avi")


def test_recorded_paths_run_from_the_start_to_the_goal(oracle):
    result = evaluate_policy(
        oracle, ENV_NAME, episodes_per_task=3, task_ids=(1, 2), record_paths=2, num_envs=2
    )
    assert sorted(result.paths) == [(1, 0), (1, 1), (2, 0), (2, 1)]  # the first 2 per task
    maze = oracle.maze
    for (task_id, episode), path in result.paths.items():
        task = result.tasks[task_id - 1]
        assert path.shape == (task.lengths[episode] + 1, 2)  # reset observation + every step
        info = maze.task_infos[task_id - 1]
        start, goal = info["init_xy"], info["goal_xy"]
        assert np.linalg.norm(path[0] - start) < 2.0  # reset noise around the start cell
        assert maze.xy_to_ij(path[-1]) == maze.xy_to_ij(goal)  # the oracle reached the goal cell
    assert evaluate_policy(oracle, ENV_NAME, episodes_per_task=1, task_ids=(1,)).paths == {}


def test_stall_watch_needs_a_full_window_at_rest():
    watch = StallWatch(num_slots=2, window=3, tolerance=0.05)
    watch.start(0, np.array([1.0, 2.0]))  # slot 0: moves, then rests for 3 observations
    watch.start(1, np.array([0.0, 0.0]))  # slot 1: keeps drifting by 0.03 per step
    assert not watch.at_rest(0)  # fewer than 3 observations
    for step in range(1, 5):
        watch.add(0, np.array([1.5, 2.0]) if step >= 2 else np.array([1.2, 2.0]))
        watch.add(1, np.array([0.03 * step, 0.0]))
    assert watch.at_rest(0)
    assert not watch.at_rest(1)
    watch.start(0, np.array([1.5, 2.0]))  # a new episode forgets the old one
    assert not watch.at_rest(0)
