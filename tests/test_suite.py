"""benchmarks/suite.py end to end on the CPU: one small dataset x seeds (x variants) as Tune
trials."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_suite(tmp_path: Path, seeds: int, stop_updates: int, *extra: str) -> dict:
    """``suite.py`` on the CPU with a tiny model and dataset; returns its ``suite.json``."""
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "suite.py"),
        *("--datasets", "pointmaze-medium-navigate", "--seeds", str(seeds)),
        *("--stop-updates", str(stop_updates), "--updates-per-iteration", "10"),
        *("--eval-episodes", "1", "--cpu", "--smoke", "--episodes", "12", "--workers", "1"),
        *("--data-dir", str(tmp_path / "data"), "--storage", str(tmp_path / "runs")),
        *("--out", str(tmp_path / "out"), *extra),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "suite.json").read_text())


def test_suite_runs_seeds_as_trials_and_tabulates_success(tmp_path):
    result = run_suite(
        tmp_path,
        2,
        30,
        *("--override", "action_invariance_weight=0"),  # an ablation: no L_I
        *("--eval-workers", "1"),  # evaluation envs in a worker process of the trial
        *("--eval-start", "0.6"),  # of the evaluations at 10, 20 and 30 updates, the last two
        *("--snapshot-to", str(tmp_path / "carry")),  # each trial's module, float16
    )
    (row,) = result["rows"]
    assert row["dataset"] == "pointmaze-medium-navigate" and row["seeds"] == 2
    assert len(row["success_per_seed"]) == 2 and 0.0 <= row["success_mean"] <= 1.0
    assert row["updates_per_seed"] == [30, 30]  # every seed ran to the planned updates
    curves = tmp_path / "out" / "curves" / "tmd-pointmaze-medium-navigate"
    assert (curves / "maze_map_seed0.png").is_file()  # the last evaluation's paths, drawn
    assert result["overrides"] == ["action_invariance_weight=0"]
    assert result["eval_workers_per_trial"] == 1
    assert "| pointmaze-medium-navigate |" in (tmp_path / "out" / "suite.md").read_text()
    evaluations = (tmp_path / "out" / "evaluations.md").read_text()  # every evaluation
    assert "| tmd-pointmaze-medium-navigate | 1 | 20: " in evaluations
    result_files = list((tmp_path / "runs").rglob("result.json"))
    assert len(result_files) == 2  # one per seed
    for result_file in result_files:
        lines = [json.loads(line) for line in result_file.read_text().splitlines()]
        evaluated = [
            r["num_updates_lifetime"] for r in lines if "ogbench" in r.get("evaluation", {})
        ]
        assert evaluated == [20, 30]
        # every evaluation's maze map reached the trial's storage folder, the last one too
        maps = sorted(p.name for p in result_file.parent.glob("maze_maps/*.png"))
        assert maps == ["maze_map_000000020.png", "maze_map_000000030.png"]
    curves = tmp_path / "out" / "curves" / "tmd-pointmaze-medium-navigate"
    assert (curves / "success.png").stat().st_size > 0
    assert (curves / "critic.png").stat().st_size > 0  # contrastive loss vs. chance, distances
    assert "| seed 0 |" in (curves / "results.md").read_text()
    assert "contrastive_loss" in (curves / "learner.csv").read_text().splitlines()[0]
    # a checkpoint at every evaluation interval (10 updates here) and at the end; suite.json
    # names each seed's last
    for trial_dir in (p.parent for p in result_files):
        assert sorted(p.name for p in trial_dir.glob("checkpoint_*")) == [
            "checkpoint_000000",
            "checkpoint_000001",
            "checkpoint_000002",
        ]
    last = row["checkpoint_per_seed"]
    assert sorted(last) == ["0", "1"]  # JSON keys
    assert all(Path(path).name == "checkpoint_000002" for path in last.values())
    snapshots = sorted(p.name for p in (tmp_path / "carry").iterdir())
    assert snapshots == [f"tmd-pointmaze-medium-navigate-seed{k}.tar.gz" for k in (0, 1)]
    assert (
        "Checkpoints (every 10 updates and at the end of each trial)"
        in (tmp_path / "out" / "suite.md").read_text()
    )


def test_suite_runs_variants_side_by_side(tmp_path):
    result = run_suite(
        tmp_path,
        1,
        10,
        *("--eval-workers", "0", "--eval-envs", "3", "--override", "zeta=0.05"),
        *("--variant", "released", "action_invariance_weight=1"),
        *("--variant", "paper", "action_invariance_weight=0.05", "stopgrad_psi_backup=true"),
        *("--checkpoint-every", "0"),  # at each trial's end only
    )
    for row in result["rows"]:  # the second experiment's checkpoints reach storage too
        (path,) = row["checkpoint_per_seed"].values()
        assert Path(path).is_dir() and str(tmp_path / "runs") in path
    assert len(list((tmp_path / "runs").glob("*/*/checkpoint_*"))) == 2
    assert [row["dataset"] for row in result["rows"]] == [
        "pointmaze-medium-navigate [released]",
        "pointmaze-medium-navigate [paper]",
    ]
    assert all(row["seeds"] == 1 for row in result["rows"])
    assert result["variants"]["paper"] == [
        "zeta=0.05",
        "action_invariance_weight=0.05",
        "stopgrad_psi_backup=true",
    ]
    params = {
        p.parent.parent.name: json.loads(p.read_text())
        for p in (tmp_path / "runs").glob("*/*/params.json")
    }
    assert params["tmd-pointmaze-medium-navigate-paper"]["stopgrad_psi_backup"] is True
    assert params["tmd-pointmaze-medium-navigate-released"]["action_invariance_weight"] == 1
    assert params["tmd-pointmaze-medium-navigate-released"]["zeta"] == 0.05
    assert params["tmd-pointmaze-medium-navigate-released"]["eval_num_envs"] == 3


def test_curves_skip_a_trial_that_failed_before_its_first_result(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    trial = tmp_path / "runs" / "tmd-x" / "TMD_0"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text('{"seed": 0}')  # no result.json
    plots = suite.write_curves([tmp_path / "runs" / "tmd-x"], tmp_path / "out")
    assert [p.name for p in plots] == ["success.png", "critic.png"]
    assert all(p.exists() for p in plots)
    assert "| seed 0 |" in (tmp_path / "out" / "curves" / "tmd-x" / "results.md").read_text()


def test_a_failed_trial_is_named_with_its_error_and_fails_the_command(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    class FailedTrial:
        status = "ERROR"
        config = {"seed": 3}
        local_path = str(tmp_path)
        last_result: dict = {}
        experiment_dir_name = "tmd-x"

        def get_error(self):
            trace = "Traceback (most recent call last):\n  ...\n"
            return trace + "ModuleNotFoundError: No module named 'x'"

    (row,) = suite.collect([FailedTrial()], {"tmd-x": "pointmaze-x"})
    assert row["failed"] == ["seed 3: ERROR (ModuleNotFoundError: No module named 'x')"]
    assert "ModuleNotFoundError" in suite.table([row], 10)
    assert suite.failed_experiments({"rows": [row]}) == ["pointmaze-x"]


def test_a_critic_at_chance_is_named_under_the_table(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    evaluation = {"ogbench": {"success/overall": 0.02, "stalled/overall": 0.9}}
    results = [  # as TMD reports them: critic_at_chance_since while the stretch lasts
        {"num_updates_lifetime": 10_000},
        {"num_updates_lifetime": 30_000, "critic_at_chance_since": 5_000},
        {"num_updates_lifetime": 40_000, "critic_at_chance_since": float("nan")},
        {"num_updates_lifetime": 50_000, "critic_at_chance_since": 5_000, "evaluation": evaluation},
    ]
    (tmp_path / "result.json").write_text("\n".join(json.dumps(r) for r in results))

    class Trial:
        status = "TERMINATED"
        config = {"seed": 1}
        local_path = str(tmp_path)
        last_result = {"time_total_s": 60.0}
        experiment_dir_name = "tmd-x"

    (row,) = suite.collect([Trial()], {"tmd-x": "scene-x"})
    assert row["critic_at_chance_since"] == {1: [5_000]}
    assert row["scored_at_updates"] == [50_000]  # the one evaluation it has
    text = suite.table([row], 50_000)
    assert "- scene-x seed 1: critic at chance from update 5,000" in text
    assert "| scene-x | 2.0 ± 0.0 (critic at chance: 1 of 1 seeds) | 1 | 2.0 | 90 |" in text
    assert "failed with the agent at rest over their last 100 steps" in text
    assert "mean of its last 3 evaluations (at 50,000 updates)" in text


def test_eval_every_sets_the_evaluation_interval_and_rejects_a_partial_iteration():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    base = ["--stop-updates", "400000", "--updates-per-iteration", "1000"]
    assert suite.evaluation_interval(suite.parse_args(base)) == 40  # every 10 % of the run
    early = suite.parse_args([*base, "--eval-every", "100000"])
    assert suite.evaluation_interval(early) == 100
    with pytest.raises(SystemExit, match="multiple of --updates-per-iteration"):
        suite.evaluation_interval(suite.parse_args([*base, "--eval-every", "1500"]))


def test_the_table_names_the_evaluations_each_row_scored():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    full = {"dataset": "a", "scored_at_updates": [800_000, 900_000, 1_000_000]}
    capped = {"dataset": "b", "scored_at_updates": [100_000, 200_000, 300_000]}
    same = suite.scored_at([full, {**full, "dataset": "c"}], 3)
    assert same.endswith("last 3 evaluations (at 800,000, 900,000, 1,000,000 updates).")
    # a time-capped trial scored earlier evaluations: each row says which
    mixed = suite.scored_at([full, capped], 3)
    assert "a at 800,000, 900,000, 1,000,000; b at 100,000, 200,000, 300,000 updates" in mixed


def test_checkpoints_follow_the_evaluations_unless_told_otherwise():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    base = ["--stop-updates", "400000", "--updates-per-iteration", "1000"]
    assert suite.checkpoint_interval(suite.parse_args(base)) == 40  # with the evaluations
    early = suite.parse_args([*base, "--eval-every", "100000"])
    assert suite.checkpoint_interval(early) == 100
    assert suite.checkpoint_interval(suite.parse_args([*base, "--checkpoint-every", "0"])) == 0
    rare = suite.parse_args([*base, "--checkpoint-every", "200000"])
    assert suite.checkpoint_interval(rare) == 200
    with pytest.raises(SystemExit, match="--checkpoint-every 1500: must be a positive multiple"):
        suite.checkpoint_interval(suite.parse_args([*base, "--checkpoint-every", "1500"]))


def test_every_evaluation_of_every_trial_is_tabulated_and_plotted(tmp_path):
    """``--report-from``'s evaluation table: a row per trial with each evaluation's success
    (stalled share), and the critic's rank correlation, neighbour asymmetry (when logged) and
    contrastive loss first and last."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import suite

    def result(updates: int, success: float | None, rho: float, nce: float, seed: int) -> str:
        line = {"num_updates_lifetime": updates, "learners": {}}
        line["learners"]["default_policy"] = {"contrastive_loss": nce}
        if success is not None:
            metrics = {"success/overall": success, "stalled/overall": 1 - success}
            metrics["distance_rank_corr_bfs"] = rho
            if seed == 0:  # seed 1's results predate the asymmetry metric
                metrics["distance_asymmetry_neighbours"] = rho / 2
            line["evaluation"] = {"ogbench": metrics}
        return json.dumps(line)

    exp = tmp_path / "runs" / "tmd-x-small"
    for seed in (0, 1):
        trial = exp / f"TMD_{seed}"
        trial.mkdir(parents=True)
        (trial / "params.json").write_text(json.dumps({"seed": seed}))
        lines = [result(10, 0.4, 0.75, 6.07, seed), result(15, None, 0.0, 6.05, seed)]
        lines.append(result(20, 0.1 * seed, 0.5, 6.02, seed))
        (trial / "result.json").write_text("\n".join(lines) + "\n")
    markdown = suite.write_evaluations([exp], tmp_path / "out")
    text = markdown.read_text()
    assert "| 0 | 10: 40 (60), 20: 0 (100) | 0.75 → 0.50 | 0.38 → 0.25 | 6.070 → 6.020 |" in text
    assert "| 1 | 10: 40 (60), 20: 10 (90) | 0.75 → 0.50 | – → – | 6.070 → 6.020 |" in text
    assert (tmp_path / "out" / "evaluations.png").stat().st_size > 0
    csv_lines = (tmp_path / "out" / "evaluations.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 4  # the iteration at 15 updates did not evaluate
