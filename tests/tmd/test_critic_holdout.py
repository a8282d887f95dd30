"""benchmarks/critic_holdout.py: a snapshot's critic scored on its training and held-out data."""

import json
import math
import sys
from pathlib import Path

from tests.tmd.conftest import fake_trial, tiny_config

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import critic_holdout  # noqa: E402
import module_snapshot  # noqa: E402


def test_a_snapshot_is_scored_on_each_dataset_with_the_trials_goal_sampling(
    ray_session, tiny_pointmaze, tmp_path
):
    algo = tiny_config(tiny_pointmaze["train"], seed=3).build_algo()
    algo.train()
    trial = fake_trial(algo, tmp_path / "runs", seed=3, gamma=0.9, zeta=0.2)
    algo.stop()
    params = json.loads((trial / "params.json").read_text())
    (snapshot,) = module_snapshot.pack_runs(tmp_path / "runs", tmp_path / "carry")

    assert critic_holdout.trial_config(params).gamma == 0.9  # the trial's, not the default
    train, val = tiny_pointmaze["train_npz"], tiny_pointmaze["val_npz"]
    argv = [str(snapshot), "--data", str(train), str(val), str(train), "--batches", "2"]
    rows = critic_holdout.main([*argv, "--batch", "16", "--out", str(tmp_path / "h.json")])
    assert [Path(r["data"]) for r in rows] == [Path(train), Path(val), Path(train)]
    assert all(math.isfinite(r["contrastive_loss"]) for r in rows)
    assert rows[0] == rows[2]  # each dataset's batches come from the same seed
    assert json.loads((tmp_path / "h.json").read_text())["rows"] == rows
