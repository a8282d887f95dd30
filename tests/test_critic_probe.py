"""benchmarks/critic_probe.py: a tuned example's critic on the CPU, without Ray.

The behavioural test is the finding it was written for (RESULTS.md, sessions 14 and 17): on
pointmaze navigate data at the paper's sizes (latent 512, 3x512 MLPs) the released weighting
(L_NCE + L_I + 0.05 L_T) collapses the critic within a few hundred updates, while L_NCE +
0.1 L_I + 0.1 L_T keeps it learning; at the large-navigate tuned example's sizes (latent 64,
2x256) the released weighting learns too.
"""

import json
import math
import sys
from pathlib import Path

import pytest

from rllib_tmd.data.catalog import make_dataset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import critic_probe  # noqa: E402

LARGE_NAVIGATE = str(REPO / "tuned_examples" / "tmd" / "pointmaze-large-navigate.yaml")
PAPER_SIZES = ["latent_dim=512", "hidden_dims=[512,512,512]", "actor_hidden_dims=[512,512,512]"]
WEIGHTS_01 = ["action_invariance_weight=0.1", "zeta=0.1"]


@pytest.fixture(scope="module")
def large_navigate(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("large-navigate")
    paths = make_dataset("pointmaze-large-navigate-v0", out, episodes=100, seed=0, progress=False)
    return str(paths["train_npz"])


def probe(dataset: str, *extra: str) -> dict:
    return critic_probe.main(
        ["--file", LARGE_NAVIGATE, "--dataset", dataset, "--batch", "64", "--threads", "2", *extra]
    )


def test_verdict_is_collapsed_only_near_log_batch():
    assert critic_probe.verdict([4.155, 4.158], batch=64, margin=0.01) == "collapsed"
    assert critic_probe.verdict([4.10, 4.12], batch=64, margin=0.01) == "learning"


def test_probe_writes_its_settings_and_rows(large_navigate, tmp_path):
    out = tmp_path / "probe.json"
    result = probe(large_navigate, "--steps", "4", "--log-every", "2", "--out", str(out))
    saved = json.loads(out.read_text())
    assert saved["verdict"] == result["verdict"]
    assert [row["updates"] for row in saved["rows"]] == [2, 4]
    assert saved["log_batch"] == pytest.approx(math.log(64))
    assert saved["loss_hyperparameters"]["action_invariance_weight"] == 1.0  # the YAML's


def test_with_actions_each_row_also_says_what_the_critic_makes_of_actions(large_navigate):
    result = probe(large_navigate, "--steps", "4", "--log-every", "2", "--actions")
    for row in result["rows"]:
        assert 0 <= row["data_rank"] <= 1 and 0 <= row["actor_rank"] <= 1
        assert row["q_action_change"] >= 0 and row["q_goal_change"] >= 0


def test_at_the_papers_sizes_the_released_weighting_collapses_and_01_learns(large_navigate):
    steps = ["--steps", "750", "--log-every", "250"]
    released = probe(large_navigate, *steps, "--override", *PAPER_SIZES)
    weights_01 = probe(large_navigate, *steps, "--override", *PAPER_SIZES, *WEIGHTS_01)
    assert released["verdict"] == "collapsed", released["rows"]
    assert weights_01["verdict"] == "learning", weights_01["rows"]
    # the collapsed critic cannot tell positive goals from negative ones; the other can
    assert distance_gap(released) < 0.1
    assert distance_gap(weights_01) > 1.0


def test_the_tuned_examples_sizes_learn_with_the_released_weighting(large_navigate):
    tuned = probe(large_navigate, "--steps", "750", "--log-every", "250")
    assert tuned["verdict"] == "learning", tuned["rows"]
    assert distance_gap(tuned) > 1.0


def distance_gap(result: dict) -> float:
    """Mean learned distance to negative goals minus that to positive goals, at the last row."""
    last = result["rows"][-1]
    return last["mean_dist_negative"] - last["mean_dist_positive"]
