"""The README's main job (``rllib-tmd quickstart``), shortened: every step runs and writes
its files (dataset, training, checkpoint, OGBench evaluation, critic check, maze map,
metrics.json); then ``rllib-tmd evaluate`` on its checkpoint."""

import json

import pytest

from rllib_tmd import cli
from rllib_tmd.envs.maze_distances import METRIC_KEY
from rllib_tmd.quickstart import run_quickstart


def test_quickstart_runs_every_step_and_writes_its_results(ray_session, tmp_path, capsys):
    metrics = run_quickstart(out_dir=str(tmp_path), episodes=4, minutes=0.01, eval_episodes=1)
    out = capsys.readouterr().out
    assert "| overall |" in out and "Critic: Spearman's rho" in out and "walking downhill" in out
    assert metrics["updates"] >= 100  # at least one iteration, however short the budget
    assert 0.0 <= metrics["evaluation"]["success/overall"] <= 1.0
    assert metrics["evaluation"]["num_episodes"] == 5
    assert -1.0 <= metrics[METRIC_KEY] <= 1.0
    assert metrics["greedy_descent/overall"] in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert (tmp_path / "datasets" / "pointmaze-medium-navigate-v0" / "metadata.json").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert metrics["checkpoint"].startswith(str(tmp_path)) and (tmp_path / "checkpoint").is_dir()
    assert (tmp_path / "maze_map.png").is_file() and metrics["maze_map"].endswith("maze_map.png")

    png = tmp_path / "again.png"
    evaluate = ["evaluate", "--checkpoint", metrics["checkpoint"], "--episodes", "1"]
    assert cli.main([*evaluate, "--workers", "0", "--maze-map", str(png)]) == 0
    assert png.is_file() and "| overall |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="episodes"):
        cli.main([*evaluate, "--maze-map-episodes", "-1", "--maze-map", str(png)])
