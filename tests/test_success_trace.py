"""benchmarks/success_trace.py: a small TMD's success every N updates, on the CPU."""

import json
import subprocess
import sys
from pathlib import Path

from rllib_tmd.data.catalog import make_dataset

REPO = Path(__file__).resolve().parents[1]


def test_a_short_trace_evaluates_every_n_updates_and_keeps_what_it_measured(tmp_path):
    make_dataset("pointmaze-medium-navigate-v0", tmp_path, episodes=12, seed=0, progress=False)
    out = tmp_path / "trace.json"
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "success_trace.py"),
        *("--data", str(tmp_path / "pointmaze-medium-navigate-v0")),
        *("--minutes", "0.25", "--every", "40", "--episodes", "1", "--out", str(out)),
        *("--override", "updates_per_iteration=20", "train_batch_size_per_learner=32"),
        "torch_compile_update=false",  # no ~25 s compile in a 15 s trace
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    trace = json.loads(out.read_text())
    assert len(trace) >= 1 and [p["updates"] for p in trace] == [
        40 * (k + 1) for k in range(len(trace))
    ]
    point = trace[0]
    assert 0.0 <= point["success/overall"] <= 1.0 and 0.0 <= point["stalled/overall"] <= 1.0
    assert {"distance_rank_corr_bfs", "contrastive_loss", "actor_action_mse"} <= point.keys()
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert printed == trace


def test_a_bad_override_is_refused_before_training(tmp_path):
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "success_trace.py"),
        *("--data", str(tmp_path), "--out", str(tmp_path / "t.json")),
        *("--override", "no_such_key=1"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "no_such_key" in proc.stderr
    assert not (tmp_path / "t.json").exists()


def test_a_missing_dataset_is_named_with_the_command_that_makes_it(tmp_path):
    missing = tmp_path / "pointmaze-medium-navigate-v0"
    cmd = [sys.executable, str(REPO / "benchmarks" / "success_trace.py")]
    cmd += ["--data", str(missing), "--out", str(tmp_path / "t.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"rllib-tmd make-dataset pointmaze-medium-navigate-v0 --out {tmp_path}" in proc.stderr
