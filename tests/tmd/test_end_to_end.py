"""Dataset -> train -> evaluate -> checkpoint -> restore in a fresh process -> same evaluation."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import torch

from rllib_tmd import TMD, TMDConfig
from tests.tmd.conftest import tiny_config

PROBE_SEED = 123


def probe_actions(algo) -> np.ndarray:
    """Deterministic actions of the policy on fixed random (state, goal) pairs."""
    module = algo._inference_module()
    g = torch.Generator().manual_seed(PROBE_SEED)
    obs, goal = (
        torch.randn(16, module.obs_dim, generator=g),
        torch.randn(16, module.obs_dim, generator=g),
    )
    return module.act(obs, goal).numpy()


def eval_metrics(algo, num_workers: int | None = None) -> dict:
    metrics = algo.evaluate_ogbench(episodes_per_task=1, seed=7, num_workers=num_workers)
    metrics = metrics.as_metrics()
    return {k: v for k, v in metrics.items() if k != "wall_time_s"}


def test_train_evaluate_checkpoint_restore_in_fresh_process(ray_session, tiny_pointmaze, tmp_path):
    config = tiny_config(tiny_pointmaze["train"], seed=3, eval_maze_map_episodes=1)
    config.evaluation(evaluation_interval=2)
    algo = config.build_algo()
    results = [algo.train() for _ in range(2)]
    # pointmaze: each evaluation also draws its paths over the learned distance
    assert os.path.isfile(os.path.join(algo.logdir, "maze_maps", "maze_map_000000010.png"))
    assert results[-1]["num_updates_lifetime"] == 10
    assert "evaluation" not in results[0]
    assert 0.0 <= results[-1]["evaluation"]["ogbench"]["success/overall"] <= 1.0
    # pointmaze: the critic is also scored against the maze's BFS distances
    assert -1.0 <= results[-1]["evaluation"]["ogbench"]["distance_rank_corr_bfs"] <= 1.0
    assert results[-1]["evaluation"]["ogbench"]["greedy_descent/task1"] in (0.0, 1.0)
    learner = results[-1]["learners"]["default_policy"]
    for key in (
        "contrastive_loss",
        "action_invariance_loss",
        "temporal_invariance_loss",
        "actor_loss",
        "contrastive_top1_accuracy",
        "mean_dist_positive",
        "mean_dist_negative",
        "mean_abs_q",
        "actor_action_mse",
    ):
        assert np.isfinite(learner[key]), key
    assert algo.config.ogbench_env == "pointmaze-medium-navigate-v0"
    before = eval_metrics(algo)
    assert set(before) >= {f"success/task{k}" for k in range(1, 6)} | {"success/overall"}
    assert eval_metrics(algo, num_workers=2) == before  # envs in worker processes: same episodes
    actions = probe_actions(algo)
    checkpoint = algo.save(str(tmp_path / "ckpt")).checkpoint.path
    algo.stop()

    absolute = str(checkpoint)
    relative = os.path.relpath(absolute, _repo_root())
    script = textwrap.dedent(f"""
        import json, ray, torch
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
        from ray.rllib.algorithms.algorithm import Algorithm
        from rllib_tmd import TMD
        from tests.tmd.test_end_to_end import eval_metrics, probe_actions
        out = {{}}
        # TMD's from_checkpoint also takes a path relative to the working directory
        for name, cls, path in (("tmd", TMD, {relative!r}), ("algorithm", Algorithm, {absolute!r})):
            algo = cls.from_checkpoint(path)
            out[name] = {{"eval": eval_metrics(algo), "actions": probe_actions(algo).tolist(),
                         "type": type(algo).__name__}}
            result = algo.train()  # training continues from the restored state
            out[name]["updates"] = result["num_updates_lifetime"]
            algo.stop()
        print("RESULT" + json.dumps(out))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(_repo_root()),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    restored = json.loads(proc.stdout.split("RESULT", 1)[1])
    for name in ("tmd", "algorithm"):
        assert restored[name]["type"] == "TMD"
        assert restored[name]["eval"] == before
        np.testing.assert_array_equal(np.array(restored[name]["actions"], np.float32), actions)
        assert restored[name]["updates"] == 15


def test_unknown_dataset_folder_is_named(tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    config = TMDConfig().offline_data(input_=str(empty))
    try:
        config.build_algo()
    except ValueError as err:
        assert str(empty) in str(err)
    else:
        raise AssertionError("building on an empty folder must fail")


def _repo_root():
    import pathlib

    return pathlib.Path(__file__).resolve().parents[2]


def test_tmd_resolves_through_tunes_registry():
    from ray.tune.registry import get_trainable_cls

    assert get_trainable_cls("TMD") is TMD


def test_dataset_of_the_wrong_observation_width_is_a_clear_error(tiny_pointmaze):
    config = tiny_config(tiny_pointmaze["train"], ogbench_env="cube-single-play-v0")
    import pytest

    with pytest.raises(ValueError, match=r"width 2.*cube-single-play-v0.*width 28"):
        config.build_algo()


def test_dataset_of_the_wrong_action_width_is_a_clear_error(tiny_pointmaze, tmp_path):
    """A dataset whose actions are wider than the env's fails at build time, naming both
    widths, rather than training and then failing its first evaluation."""
    import numpy as np
    import pytest

    from rllib_tmd.data.convert import convert_npz

    arrays = dict(np.load(tiny_pointmaze["train_npz"]))
    arrays["actions"] = np.concatenate([arrays["actions"], arrays["actions"][:, :1]], axis=1)
    np.savez(tmp_path / "wide.npz", **arrays)
    config = tiny_config(
        convert_npz(tmp_path / "wide.npz", tmp_path / "wide"),
        ogbench_env="pointmaze-medium-navigate-v0",
    )
    with pytest.raises(ValueError, match=r"actions of width 3.*pointmaze-medium-navigate-v0.*"
                       r"width 2"):  # fmt: skip
        config.build_algo()


def test_a_non_finite_loss_stops_training_and_the_last_checkpoint_stays_good(
    ray_session, tiny_pointmaze, tmp_path
):
    from rllib_tmd.tmd.tmd_learner import NonFiniteLossError

    config = tiny_config(tiny_pointmaze["train"]).learners(num_learners=0)
    algo = config.build_algo()
    algo.train()  # updates 1..5, all finite
    checkpoint = algo.save(str(tmp_path / "good")).checkpoint.path
    saved = {k: v.clone() for k, v in algo.learner_group._learner.module["default_policy"]
             .state_dict().items()}  # fmt: skip

    def blow_up(learner):  # an absurd learning rate: the next update's losses are not finite
        for _, optimizer in learner.get_optimizers_for_module("default_policy"):
            for group in optimizer.param_groups:
                group["lr"] = 1e30

    algo.learner_group.foreach_learner(blow_up)
    try:
        algo.train()
        raise AssertionError("training went on after a non-finite loss")
    except NonFiniteLossError as err:
        assert err.update in range(6, 11) and "loss" in err.term
        assert f"update {err.update}" in str(err) and err.term in str(err)
    finally:
        algo.stop()

    restored = TMD.from_checkpoint(checkpoint)
    try:
        state = restored.learner_group._learner.module["default_policy"].state_dict()
        for key, value in saved.items():
            assert torch.isfinite(state[key]).all()
            torch.testing.assert_close(state[key], value)
        assert np.isfinite(restored.train()["learners"]["default_policy"]["total_loss"])
    finally:
        restored.stop()


def test_no_evaluation_before_eval_start_updates(ray_session, tiny_pointmaze):
    config = tiny_config(tiny_pointmaze["train"], eval_start_updates=10, eval_task_ids=(1,))
    config.evaluation(evaluation_interval=1)  # 5 updates per iteration
    algo = config.build_algo()
    first, second = algo.train(), algo.train()
    algo.stop()
    assert "ogbench" not in first.get("evaluation", {})
    assert second["num_updates_lifetime"] == 10
    assert 0.0 <= second["evaluation"]["ogbench"]["success/overall"] <= 1.0


def test_every_evaluation_runs_fresh_episodes_unless_eval_seed_fixes_them(
    ray_session, tiny_pointmaze
):
    def seeds_before_and_after_training(seed: int, **training) -> tuple[int, int]:
        config = tiny_config(tiny_pointmaze["train"], seed=seed, **training)
        algo = config.build_algo()
        try:
            before = algo.evaluation_seed()
            algo.train()
            return before, algo.evaluation_seed()
        finally:
            algo.stop()

    first, later = seeds_before_and_after_training(0)  # eval_seed "auto"
    assert first != later  # a new evaluation, new episodes
    assert seeds_before_and_after_training(0) == (first, later)  # reproducible
    assert seeds_before_and_after_training(1)[0] != first  # another trial seed, other episodes
    assert seeds_before_and_after_training(0, eval_seed=5) == (5, 5)


def test_eval_num_envs_changes_the_batching_not_the_results(ray_session, tiny_pointmaze):
    config = tiny_config(tiny_pointmaze["train"], eval_episodes_per_task=3, eval_task_ids=(1, 2))
    config.training(eval_num_envs=6, eval_num_workers=0)  # every episode of both tasks at once
    algo = config.build_algo()
    try:
        algo.train()
        batched = algo.evaluate_ogbench()
        one_task_at_a_time = algo.evaluate_ogbench(num_envs=3)
    finally:
        algo.stop()
    for a, b in zip(batched.tasks, one_task_at_a_time.tasks, strict=True):
        np.testing.assert_array_equal(a.successes, b.successes)
        np.testing.assert_array_equal(a.lengths, b.lengths)


def test_the_evaluate_command_runs_a_checkpoint(ray_session, tiny_pointmaze, tmp_path, capsys):
    from rllib_tmd.cli import main

    config = tiny_config(tiny_pointmaze["train"], eval_task_ids=(1,))
    algo = config.build_algo()
    algo.train()
    checkpoint = algo.save(str(tmp_path / "trial" / "checkpoint_000001")).checkpoint.path
    algo.stop()

    def task_rows(path, *options: str) -> list[str]:
        """The per-task and overall rows of the printed table (its title has the time)."""
        assert main(["evaluate", "--checkpoint", str(path), "--episodes", "2", *options]) == 0
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]

    in_process = task_rows(checkpoint, "--workers", "0", "--envs", "1")
    assert any(row.startswith("| overall |") for row in in_process)
    # same episodes; the trial folder stands for its latest checkpoint
    assert task_rows(tmp_path / "trial", "--workers", "1", "--envs", "2") == in_process


def test_a_maze_map_that_cannot_be_drawn_does_not_end_the_run(
    ray_session, tiny_pointmaze, monkeypatch, caplog
):
    config = tiny_config(tiny_pointmaze["train"], eval_maze_map_episodes=1).evaluation(
        evaluation_interval=1
    )
    algo = config.build_algo()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(algo, "maze_map", broken)
    with caplog.at_level("WARNING"):
        result = algo.evaluate()
    algo.stop()
    assert 0.0 <= result["ogbench"]["success/overall"] <= 1.0  # the evaluation still counts
    assert "not drawn" in caplog.text and "disk full" in caplog.text
