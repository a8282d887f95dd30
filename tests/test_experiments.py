"""Tuned examples: every YAML file validates; bad files fail naming the key; a shortened
`rllib-tmd train --file ...` run works end to end and writes its results."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from rllib_tmd.data.generate import supported_datasets
from rllib_tmd.envs.evaluation import protocol_success, record_score
from rllib_tmd.experiments import (
    ExperimentFileError,
    apply_overrides,
    load_experiment,
    resolve_checkpoint,
    resolve_dataset,
    seeded_samples,
    summarize,
)

REPO = Path(__file__).resolve().parents[1]
TUNED = sorted((REPO / "tuned_examples" / "tmd").glob("*.yaml"))
MULTI_GPU = sorted((REPO / "tuned_examples" / "tmd" / "multi_gpu").glob("*.yaml"))
GENERATABLE = [name.removesuffix("-v0") for name in supported_datasets()]


def test_there_is_a_tuned_example_for_every_generatable_dataset():
    assert sorted(p.stem for p in TUNED) == sorted(GENERATABLE)


def check_tuned_example(path: Path, dataset: str) -> dict:
    name, spec = load_experiment(path)
    assert spec["run"] == "TMD" and name.startswith("tmd-")
    config = spec["config"]
    assert config["ogbench_env"] == f"{dataset}-v0"
    assert config["input_"].endswith(f"{dataset}-v0")
    assert spec["stop"]["num_updates_lifetime"] == 1_000_000
    return config


@pytest.mark.parametrize("path", TUNED, ids=lambda p: p.stem)
def test_every_tuned_example_loads_and_validates(path):
    check_tuned_example(path, path.stem)


@pytest.mark.parametrize("path", MULTI_GPU, ids=lambda p: p.stem)
def test_multi_gpu_examples_load_validate_and_match_their_single_gpu_example(path):
    dataset = path.stem.rsplit("-", 1)[0]  # <dataset>-<N>gpu
    config = check_tuned_example(path, dataset)
    single = check_tuned_example(path.parent.parent / f"{dataset}.yaml", dataset)
    assert config["num_learners"] > 1 and config["num_gpus_per_learner"] == 1
    differing = {k for k in config if config[k] != single.get(k)}
    assert differing <= {"num_learners", "num_gpus_per_learner", "global_negatives"}


def write(tmp_path, text):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    return path


def test_bad_yaml_names_the_file(tmp_path):
    with pytest.raises(ExperimentFileError, match="x.yaml: not valid YAML"):
        load_experiment(write(tmp_path, "a: [1, 2"))


def test_unknown_config_key_is_named(tmp_path):
    with pytest.raises(ExperimentFileError, match="'zetaa'"):
        load_experiment(write(tmp_path, "e:\n  run: TMD\n  config: {zetaa: 0.1}\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ExperimentFileError, match="'alpha' has type str"):
        load_experiment(write(tmp_path, "e:\n  run: TMD\n  config: {alpha: lots}\n"))


def test_unknown_spec_key_and_wrong_algorithm(tmp_path):
    with pytest.raises(ExperimentFileError, match="'stopp'"):
        load_experiment(write(tmp_path, "e:\n  run: TMD\n  stopp: {}\n"))
    with pytest.raises(ExperimentFileError, match="'run' must be 'TMD'"):
        load_experiment(write(tmp_path, "e:\n  run: PPO\n"))


def test_overrides_parse_yaml_values_and_are_validated():
    spec = apply_overrides({"run": "TMD", "config": {}}, ["alpha=0.3", "stop.x=5"])
    assert spec["config"]["alpha"] == 0.3 and spec["stop"]["x"] == 5
    with pytest.raises(ExperimentFileError, match="'alhpa'"):
        apply_overrides({"run": "TMD"}, ["alhpa=1"])


def test_keys_that_default_to_auto_take_a_concrete_value_and_reject_a_bad_one():
    overrides = ["cuda_graph=false", "fused_adam=true", "eval_num_workers=4", "eval_num_envs=250"]
    config = apply_overrides({"run": "TMD", "config": {}}, overrides)["config"]
    assert config == {
        "cuda_graph": False,
        "fused_adam": True,
        "eval_num_workers": 4,
        "eval_num_envs": 250,
    }
    with pytest.raises(ExperimentFileError, match="'cuda_graph' = 7 is not allowed"):
        apply_overrides({"run": "TMD", "config": {}}, ["cuda_graph=7"])
    with pytest.raises(ExperimentFileError, match="'eval_num_workers' = -2"):
        apply_overrides({"run": "TMD", "config": {}}, ["eval_num_workers=-2"])


def test_missing_dataset_error_names_the_command(tmp_path):
    with pytest.raises(ExperimentFileError, match="rllib-tmd make-dataset pointmaze"):
        resolve_dataset(
            {"input_": str(tmp_path / "nope"), "ogbench_env": "pointmaze-x-v0"}, generate=False
        )


def test_train_command_runs_a_shortened_tuned_example(tiny_pointmaze_root, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "rllib_tmd.cli",
        "train",
        "--file",
        str(REPO / "tuned_examples/tmd/pointmaze-medium-navigate.yaml"),
        "--stop-updates",
        "20",
        "--output",
        str(tmp_path / "runs"),
        "--override",
        "latent_dim=32",
        "hidden_dims=[64]",
        "actor_hidden_dims=[64]",
        "quasimetric_components=4",
        "train_batch_size_per_learner=64",
        "updates_per_iteration=10",
        "evaluation_interval=2",
        "eval_episodes_per_task=1",
    ]
    proc = subprocess.run(cmd, cwd=tiny_pointmaze_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "updates       20" in proc.stdout
    out = tmp_path / "runs" / "tmd-pointmaze-medium-navigate"
    # the run ends naming its checkpoint and the command that evaluates it
    evaluate = next(line for line in proc.stdout.splitlines() if line.startswith("Evaluate:"))
    checkpoint = Path(evaluate.split("--checkpoint ")[1])
    assert checkpoint.parent.parent == out and (checkpoint / "rllib_checkpoint.json").is_file()
    rows = json.loads((out / "results.json").read_text())
    assert rows[0]["history"][-1]["updates"] == 20
    assert "success/overall" in rows[0]["history"][-1]
    assert (out / "success.png").stat().st_size > 0
    assert "| overall |" in (out / "results.md").read_text()
    with next(out.glob("*/progress.csv")).open(newline="") as f:  # evaluations every 2nd row
        progress = list(csv.DictReader(f))
    assert [row["evaluation/ogbench/success/overall"] != "" for row in progress] == [False, True]
    # the tuned example draws a maze map at each evaluation; it reaches the run's folder
    assert [p.name for p in out.glob("*/maze_maps/*.png")] == ["maze_map_000000020.png"]


SMALL = [
    "latent_dim=32",
    "hidden_dims=[64]",
    "actor_hidden_dims=[64]",
    "quasimetric_components=4",
    "train_batch_size_per_learner=64",
    "updates_per_iteration=10",
    "evaluation_interval=2",
    "eval_episodes_per_task=1",
    "checkpoint_config.checkpoint_frequency=1",
]


def train_command(runs: Path, stop_updates: int, *overrides: str) -> list[str]:
    """``rllib-tmd train`` of the medium-navigate tuned example, shortened."""
    return [
        sys.executable,
        "-m",
        "rllib_tmd.cli",
        "train",
        "--file",
        str(REPO / "tuned_examples/tmd/pointmaze-medium-navigate.yaml"),
        *("--stop-updates", str(stop_updates), "--output", str(runs)),
        *("--override", *overrides),
    ]


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tiny_pointmaze_root, tmp_path):
    import os
    import signal
    import time

    runs = tmp_path / "runs"
    cmd = train_command(runs, 60, *SMALL)
    proc = subprocess.Popen(
        cmd,
        cwd=tiny_pointmaze_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    run_dir = runs / "tmd-pointmaze-medium-navigate"
    deadline = time.time() + 600
    while time.time() < deadline and not list(run_dir.glob("*/checkpoint_000001")):
        if proc.poll() is not None:  # ended before its first checkpoint: say why, don't wait
            pytest.fail(f"train exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(1)
    assert list(run_dir.glob("*/checkpoint_000001")), "no checkpoint appeared"
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and everything it started
    proc.wait(timeout=60)

    resumed = subprocess.run(
        [sys.executable, "-m", "rllib_tmd.cli", "train", "--resume", str(run_dir)],
        cwd=tiny_pointmaze_root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    rows = json.loads((run_dir / "results.json").read_text())
    assert len(rows) == 1
    updates = [h["updates"] for h in rows[0]["history"]]
    assert updates[-1] == 60 and updates == sorted(updates)
    assert (run_dir / "success.png").exists() and (run_dir / "results.md").exists()


def test_a_non_finite_loss_stops_the_run_naming_term_update_and_checkpoint(
    tiny_pointmaze_root, tmp_path
):
    cmd = train_command(tmp_path / "runs", 20, *SMALL, "lr=1.0e+30")  # NaN from update 2
    proc = subprocess.run(cmd, cwd=tiny_pointmaze_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    message = proc.stderr.strip().splitlines()[-1]
    assert "training stopped" in message and "NonFiniteLossError" in message
    assert "became nan at update 2" in message or "became inf at update 2" in message
    assert "last checkpoint: none written yet" in message


def test_tune_search_example_smoke(tiny_pointmaze_root, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples/tune_search.py"),
            "--smoke",
            "--dataset",
            str(tiny_pointmaze_root / "datasets/pointmaze-medium-navigate-v0"),
            "--zetas",
            "0.01",
            "0.1",
            "--alphas",
            "0.03",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("| 20 |") == 2
    assert "best: zeta=" in proc.stdout


def fake_trial(experiment: Path, name: str, checkpoints: list[int]) -> Path:
    """A Tune trial folder with ``params.json`` and RLlib-looking ``checkpoint_*`` folders."""
    trial = experiment / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text("{}")
    for index in checkpoints:
        (trial / f"checkpoint_{index:06d}").mkdir()
        (trial / f"checkpoint_{index:06d}" / "rllib_checkpoint.json").write_text("{}")
    return trial


def test_evaluate_takes_a_checkpoint_a_trial_or_a_one_trial_experiment(tmp_path):
    experiment = tmp_path / "runs" / "tmd-toy"
    trial = fake_trial(experiment, "TMD_0", [0, 2, 10])
    latest = trial / "checkpoint_000010"
    assert resolve_checkpoint(trial / "checkpoint_000002") == trial / "checkpoint_000002"
    assert resolve_checkpoint(trial) == latest
    fake_trial(experiment, "TMD_1", [])  # a trial that never checkpointed does not count
    assert resolve_checkpoint(experiment) == latest


def test_evaluate_refuses_what_is_no_checkpoint_saying_what_it_found(tmp_path):
    experiment = tmp_path / "tmd-toy"
    first = fake_trial(experiment, "TMD_0", [1])
    second = fake_trial(experiment, "TMD_1", [0, 3])
    with pytest.raises(ExperimentFileError, match="2 trials with checkpoints") as info:
        resolve_checkpoint(experiment)
    assert str(first / "checkpoint_000001") in str(info.value)
    assert str(second / "checkpoint_000003") in str(info.value)
    with pytest.raises(ExperimentFileError, match="no such checkpoint or run folder"):
        resolve_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExperimentFileError, match=r"not a checkpoint .* \(0 trial folders\)"):
        resolve_checkpoint(tmp_path / "empty")


def test_several_samples_get_distinct_seeds():
    config, samples = seeded_samples({"alpha": 0.1}, seed=3, num_samples=4)
    assert config == {"alpha": 0.1, "seed": {"grid_search": [3, 4, 5, 6]}} and samples is None
    assert seeded_samples({"seed": 7}, seed=7, num_samples=1) == ({"seed": 7}, 1)
    assert seeded_samples({}, seed=None, num_samples=2)[0]["seed"] == {"grid_search": [0, 1]}


def test_protocol_success_averages_the_last_three_evaluations(tmp_path):
    """OGBench's score: the mean of the last 3 evaluations (e.g. at 800k, 900k and 1M)."""
    history = [
        {"updates": u, "success/overall": s, "success/task1": s}
        for u, s in [(100, 0.0), (200, 0.2), (300, 0.4), (400, 0.6)]
    ]
    score = protocol_success(history)
    assert score["evals_averaged"] == 3
    assert score["averaged_at_updates"] == [200, 300, 400]
    assert score["success/overall"] == pytest.approx(0.4)
    assert protocol_success(history[:1])["evals_averaged"] == 1  # short runs: what there is
    files = summarize([{"trial": "t0", "history": history}], tmp_path)
    table = files["table"].read_text()
    assert "| t0 | 400 | 3 | 40.0 |" in table
    assert "stalled" not in table  # histories from before the stall count
    stalled = [{**h, "stalled/overall": 1.0 - h["success/overall"]} for h in history]
    assert protocol_success(stalled)["stalled/overall"] == pytest.approx(0.6)
    table = summarize([{"trial": "t0", "history": stalled}], tmp_path)["table"].read_text()
    assert "| overall | stalled |" in table and "| 40.0 | 60.0 |" in table
    # a standalone run's records (EvalResult.record) are scored the same way
    records = [{"step": h["updates"], "success": h["success/overall"]} for h in history]
    assert record_score(records) == pytest.approx(0.4)
    assert record_score([]) is None


def test_the_plot_gets_a_critic_panel_where_the_rank_correlation_was_logged(tmp_path):
    plain = [{"updates": u, "success/overall": 0.5} for u in (100, 200)]
    with_critic = [{**h, "distance_rank_corr_bfs": 0.6} for h in plain]
    widths = {}
    for name, history in (("plain", plain), ("critic", with_critic)):
        png = summarize([{"trial": "t0", "history": history}], tmp_path / name)["plot"]
        widths[name] = Image.open(png).size[0]
    assert widths["critic"] > 1.5 * widths["plain"]  # two panels side by side
