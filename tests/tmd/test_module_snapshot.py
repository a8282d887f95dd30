"""benchmarks/module_snapshot.py: a trained module packed in float16, restored and evaluated."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tmd.conftest import fake_trial, tiny_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import distance_profile  # noqa: E402
import module_snapshot  # noqa: E402


def test_a_packed_module_restores_the_policy_to_float16_precision(
    ray_session, tiny_pointmaze, tmp_path
):
    from ray.rllib.core.rl_module import RLModule

    algo = tiny_config(tiny_pointmaze["train"], seed=5).build_algo()
    algo.train()
    trial = fake_trial(algo, tmp_path / "runs", seed=5)
    module = algo.learner_group._learner.module["default_policy"]
    obs, goals = torch.randn(32, module.obs_dim), torch.randn(32, module.obs_dim)
    want = module.act(obs, goals).numpy()
    algo.stop()

    (snapshot,) = module_snapshot.pack_runs(tmp_path / "runs", tmp_path / "carry")
    assert snapshot.name == "tmd-pointmaze-medium-navigate-seed5.tar.gz"
    info = module_snapshot.unpack(snapshot, tmp_path / "module")
    assert info["checkpoint"] == "checkpoint_000001"  # the trial's last
    assert info["ogbench_env"] == "pointmaze-medium-navigate-v0" and info["seed"] == 5
    assert info["float16"]  # the weights travelled as float16
    restored = RLModule.from_checkpoint(str(tmp_path / "module"))
    got = restored.act(obs, goals).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=2e-3)  # float16 weights
    assert len(list(trial.glob("checkpoint_*"))) == 2  # the trial folder stays as it was
    result = module_snapshot.evaluate(snapshot, episodes=1, workers=0, seed=0)
    assert 0.0 <= result.overall_success <= 1.0
    # the same snapshot's critic against the maze (benchmarks/distance_profile.py)
    argv = [str(snapshot), "--data", str(tiny_pointmaze["train_npz"])]
    profile = distance_profile.main([*argv, "--out", str(tmp_path / "p.json")])[0]
    assert profile["env"] == "pointmaze-medium-navigate-v0"
    assert 0.0 <= profile["flow"]["agreement"] <= 1.0 and profile["flow"]["pairs"] > 0
    assert [r["steps"] for r in profile["by_steps"]] == list(range(1, 12))  # medium: 1..11
    assert json.loads((tmp_path / "p.json").read_text()) == [profile]


def test_pack_runs_refuses_more_trials_than_a_device_command_brings_back(tmp_path):
    for seed in range(3):
        trial = tmp_path / "runs" / "tmd-x" / f"TMD_{seed}"
        (trial / "checkpoint_000000").mkdir(parents=True)
        (trial / "params.json").write_text(json.dumps({"seed": seed}))
    with pytest.raises(SystemExit, match="3 trials with checkpoints, more than 2 files"):
        module_snapshot.pack_runs(tmp_path / "runs", tmp_path / "carry", limit=2)


def test_weights_beyond_float16_range_are_refused_not_clipped():
    with pytest.raises(ValueError, match="w: values beyond float16"):
        module_snapshot.half_state({"w": np.array([1e6], dtype=np.float32)})
    state, halved = module_snapshot.half_state(
        {"w": np.ones(3, dtype=np.float32), "step": np.array([7], dtype=np.int64)}
    )
    assert halved == ["w"] and state["w"].dtype == np.float16 and state["step"].dtype == np.int64
