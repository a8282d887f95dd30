"""Tuned-example YAML files (RLlib/Tune experiment specs) and running them with Tune.

A file holds one experiment ``{name: {run: TMD, config: {...}, stop: {...},
checkpoint_config: {...}}}``, so it also works with ``ray.tune.run_experiments`` after
``import rllib_tmd``. ``rllib-tmd train --file X.yaml`` validates it, resolves the dataset,
runs it with a live progress line and writes a Markdown table and a success plot at the end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from rllib_tmd.envs.evaluation import PROTOCOL_EVALS, STALL_WINDOW, protocol_success
from rllib_tmd.envs.maze_distances import METRIC_KEY
from rllib_tmd.errors import TrainingFailed
from rllib_tmd.tmd.tmd import TMD_KEYS, TMDConfig

SPEC_KEYS = {"run", "config", "stop", "checkpoint_config", "num_samples", "storage_path"}


class ExperimentFileError(ValueError):
    """A tuned-example file is malformed; the message names the file and the key."""


def load_experiment(path: str | Path) -> tuple[str, dict[str, Any]]:
    """Reads and validates one experiment spec; returns ``(name, spec)``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentFileError(f"{path}: no such file") from None
    except yaml.YAMLError as err:
        raise ExperimentFileError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ExperimentFileError(
            f"{path}: expected exactly one experiment `name: {{run: TMD, ...}}`"
        )
    name, spec = next(iter(raw.items()))
    if not isinstance(spec, dict):
        raise ExperimentFileError(f"{path}: experiment '{name}' must be a mapping")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ExperimentFileError(
            f"{path}: unknown key(s) {sorted(unknown)} in experiment '{name}'; "
            f"allowed: {sorted(SPEC_KEYS)}"
        )
    if spec.get("run") != "TMD":
        raise ExperimentFileError(f"{path}: key 'run' must be 'TMD', got {spec.get('run')!r}")
    validate_config_dict(spec.get("config") or {}, source=str(path))
    return str(name), spec


def validate_config_dict(config: dict[str, Any], source: str) -> None:
    """Unknown keys and wrongly typed TMD values are errors naming the key."""
    if not isinstance(config, dict):
        raise ExperimentFileError(f"{source}: 'config' must be a mapping")
    try:
        TMDConfig().update_from_dict(config)
    except ValueError as err:
        raise ExperimentFileError(f"{source}: {err}") from None
    for key, value in config.items():
        if key in TMD_KEYS and not _type_matches(value, TMD_KEYS[key]):
            expected = type(TMD_KEYS[key]).__name__ if TMD_KEYS[key] is not None else "str"
            raise ExperimentFileError(
                f"{source}: config key '{key}' has type {type(value).__name__} "
                f"({value!r}); expected {expected}"
            )
    if not any(isinstance(v, dict) and "grid_search" in v for v in config.values()):
        try:  # allowed values and ranges (e.g. of the keys that take "auto" or a value)
            TMDConfig().update_from_dict(config)._validate_tmd_keys()
        except ValueError as err:
            raise ExperimentFileError(f"{source}: {err}") from None


def _type_matches(value: Any, default: Any) -> bool:
    if default == "auto":  # "auto" or a concrete value; the config's own checks decide
        return True
    if default is None:
        return value is None or isinstance(value, str)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(default))


def apply_overrides(spec: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key=value`` (config key) or ``stop.key=value``; values parsed as YAML scalars."""
    spec = copy.deepcopy(spec)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise ExperimentFileError(f"--override {item!r}: expected key=value")
        value = yaml.safe_load(text)
        section, _, sub = key.partition(".")
        if sub and section in ("stop", "checkpoint_config"):
            spec.setdefault(section, {})[sub] = value
        else:
            spec.setdefault("config", {})[key.removeprefix("config.")] = value
    validate_config_dict(spec.get("config") or {}, source="--override")
    return spec


def resolve_dataset(config: dict[str, Any], generate: bool, seed: int = 0) -> dict[str, Any]:
    """Makes ``input_`` absolute (Tune runs trials in other folders); a missing dataset is
    generated (``generate=True``) or named in an error with the command that makes it."""
    config = dict(config)
    if "input_" not in config:
        raise ExperimentFileError("config key 'input_' (the dataset folder) is missing")
    path = Path(config["input_"]).expanduser().resolve()
    if not path.exists():
        name = config.get("ogbench_env") or path.name
        if not generate:
            raise ExperimentFileError(
                f"dataset {path} does not exist; create it with:\n"
                f"  rllib-tmd make-dataset {name} --out {path.parent}\n"
                "or pass --generate"
            )
        from rllib_tmd.data.catalog import make_dataset

        make_dataset(name, path.parent, seed=seed)
    config["input_"] = str(path)
    return config


def results_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of per-trial success (rows: trial, updates, success keys and
    ``evals_averaged``, as :func:`protocol_success` gives them); a last column "stalled" (the
    share of episodes that failed at rest, :data:`~rllib_tmd.envs.evaluation.STALL_WINDOW`)
    where a row has it."""
    tasks = [f"success/task{k}" for k in range(1, 6)]
    columns = [*tasks, "success/overall"]
    head = " | ".join(t.split("/")[1] for t in tasks) + " | overall"
    if any("stalled/overall" in row for row in rows):
        columns.append("stalled/overall")
        head += " | stalled"
    lines = [f"| trial | updates | evals averaged | {head} |"]
    lines.append("|" + "---|" * (len(columns) + 3))
    for row in rows:
        cells = [f"{100 * row[t]:.1f}" if t in row else "-" for t in columns]
        lead = f"| {row['trial']} | {row['updates']} | {row.get('evals_averaged', '-')} | "
        lines.append(lead + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_success(
    curves: dict[str, list[tuple[int, float]]],
    path: str | Path,
    critic_curves: dict[str, list[tuple[int, float]]] | None = None,
) -> Path:
    """PNG of overall success (%) vs. updates, one line per trial; with ``critic_curves``
    (pointmaze's ``distance_rank_corr_bfs`` per trial) a second panel beside it."""
    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()

    with_critic = any(critic_curves.values()) if critic_curves else False
    fig, axes = plt.subplots(1, 2 if with_critic else 1, figsize=(11 if with_critic else 6, 4))
    ax = axes[0] if with_critic else axes
    for trial, points in curves.items():
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, [100 * y for y in ys], marker="o", label=trial)
    ax.set_xlabel("gradient updates")
    ax.set_ylabel("OGBench success (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(fontsize="small")
    if with_critic:
        critic_ax = axes[1]
        for trial, points in critic_curves.items():
            if points:
                xs, ys = zip(*points)
                critic_ax.plot(xs, ys, marker="o", label=trial)
        critic_ax.set_xlabel("gradient updates")
        critic_ax.set_ylabel("Spearman rho: learned d(s, g) vs. BFS distance")
        critic_ax.set_ylim(-1, 1)
        critic_ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path, dpi=120)
    return Path(path)


def summarize(json_rows: list[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """Writes ``results.md`` (OGBench score: mean of the last 3 evaluations), ``results.json``
    and ``success.png`` (with a panel of ``METRIC_KEY`` where it was logged) from per-trial
    histories.

    ``json_rows``: one dict per trial with ``trial`` and ``history`` (a list of
    ``{"updates": int, "success/...": float}`` evaluation points).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = []
    curves, critic = {}, {}
    for row in json_rows:
        evals = [h for h in row["history"] if "success/overall" in h]
        curves[row["trial"]] = [(h["updates"], h["success/overall"]) for h in evals]
        critic[row["trial"]] = [(h["updates"], h[METRIC_KEY]) for h in evals if METRIC_KEY in h]
        updates = row["history"][-1]["updates"] if row["history"] else 0
        final.append({"trial": row["trial"], "updates": updates, **protocol_success(evals)})
    table = results_table(final)
    table += (
        f"\n\nSuccess in %: the mean of each trial's last {PROTOCOL_EVALS} evaluations "
        "(OGBench's protocol), or of as many as it has."
    )
    if "| stalled |" in table:
        table += (
            " Stalled: % of episodes that failed with the agent at rest over their last "
            f"{STALL_WINDOW} steps (stopped, or pushing into a wall)."
        )
    (out_dir / "results.md").write_text(table + "\n", encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps(json_rows, indent=2), encoding="utf-8")
    png = plot_success(curves, out_dir / "success.png", critic)
    return {"table": out_dir / "results.md", "json": out_dir / "results.json", "plot": png}


class _ProgressCallback:
    """Tune callback: one progress line per trial result."""

    def __init__(self, updates_per_iteration: int, total_updates: int | None) -> None:
        from rllib_tmd.progress import ProgressLine

        self._make_line = lambda: ProgressLine(updates_per_iteration, total_updates)
        self.lines: dict[str, Any] = {}

    def on_result(self, trial_id: str, result: dict[str, Any]) -> None:
        line = self.lines.setdefault(trial_id, self._make_line())
        print(f"[{trial_id}] ", end="")
        line.update(result)


def trial_results(trial_dir: str | Path | None) -> list[dict[str, Any]]:
    """A trial's Tune results from its ``result.json`` (one JSON line per iteration), one per
    update count in update order: a resumed run may repeat an iteration, the last one counts.
    ``[]`` if the trial wrote none."""
    if trial_dir is None or not (Path(trial_dir) / "result.json").exists():
        return []
    by_updates: dict[int, dict[str, Any]] = {}
    for line in (Path(trial_dir) / "result.json").read_text(encoding="utf-8").splitlines():
        if line.strip():
            result = json.loads(line)
            by_updates[int(result.get("num_updates_lifetime", 0))] = result
    return [by_updates[k] for k in sorted(by_updates)]


def evaluation_point(result: dict[str, Any]) -> dict[str, Any]:
    """``{"updates", "success/...", ...}``: a Tune result's update count and its OGBench
    evaluation metrics (only ``updates`` for an iteration that did not evaluate)."""
    point = {"updates": int(result.get("num_updates_lifetime", 0))}
    point.update(result.get("evaluation", {}).get("ogbench", {}))
    return point


def evaluations(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluation points (:func:`evaluation_point`) of the results that evaluated."""
    points = (evaluation_point(result) for result in results)
    return [point for point in points if "success/overall" in point]


def trial_history(trial_dir: str | Path | None) -> list[dict[str, Any]]:
    """Evaluation points (:func:`evaluation_point`) of every iteration of a trial."""
    return [evaluation_point(result) for result in trial_results(trial_dir)]


SPEC_FILE = "rllib_tmd_experiment.json"
CHECKPOINT_FILE = "rllib_checkpoint.json"  # what RLlib writes into every checkpoint folder


def latest_checkpoint(trial_dir: str | Path) -> Path | None:
    """The Tune trial folder's highest-numbered ``checkpoint_*`` folder, or None."""
    checkpoints = sorted(p for p in Path(trial_dir).glob("checkpoint_*") if p.is_dir())
    return checkpoints[-1] if checkpoints else None


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint folder meant by ``path``: a checkpoint itself, a trial folder (its
    latest checkpoint) or an experiment folder ``runs/<name>`` with one trial that has
    checkpoints (that trial's latest). Anything else raises ``ExperimentFileError`` saying
    what ``path`` is and, for several trials, listing each one's latest checkpoint."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise ExperimentFileError(f"{path}: no such checkpoint or run folder")
    if (path / CHECKPOINT_FILE).is_file():
        return path
    own = latest_checkpoint(path)
    if own is not None:
        return own
    trials = sorted(p.parent for p in path.glob("*/params.json"))
    latest = [c for c in map(latest_checkpoint, trials) if c is not None]
    if len(latest) == 1:
        return latest[0]
    if latest:
        listed = "\n  ".join(str(c) for c in latest)
        raise ExperimentFileError(
            f"{path} holds {len(latest)} trials with checkpoints; pass one of them, e.g. "
            f"each trial's latest:\n  {listed}"
        )
    raise ExperimentFileError(
        f"{path}: not a checkpoint (no {CHECKPOINT_FILE}), and no checkpoint_* folder in it "
        f"or in a trial folder under it ({len(trials)} trial folders)"
    )


def resume_tuned_example(run_dir: str | Path) -> dict[str, Any]:
    """Continues an interrupted ``rllib-tmd train`` run from its last checkpoints."""
    run_dir = Path(run_dir).expanduser().resolve()
    spec_file = run_dir / SPEC_FILE
    if not spec_file.exists():
        raise ExperimentFileError(
            f"{run_dir}: no {SPEC_FILE}; pass the experiment folder printed by "
            "`rllib-tmd train` (runs/<experiment name>)"
        )
    saved = json.loads(spec_file.read_text(encoding="utf-8"))
    return _run(saved["name"], saved["spec"], run_dir.parent, resume=True)


def seeded_samples(
    config: dict[str, Any], seed: int | None, num_samples: int | None
) -> tuple[dict[str, Any], int | None]:
    """``(config, num_samples)`` for Tune: several samples get distinct seeds.

    ``num_samples = n > 1`` becomes a grid over seeds ``seed, seed + 1, ..., seed + n - 1``
    (``seed`` defaults to 0), so that ``--seed S --num-samples N`` runs N different seeds
    rather than N copies of one; otherwise the arguments pass through.
    """
    if not num_samples or num_samples <= 1:
        return config, num_samples
    base = 0 if seed is None else int(seed)
    return {**config, "seed": {"grid_search": list(range(base, base + num_samples))}}, None


def run_tuned_example(
    path: str | Path,
    *,
    seed: int | None = None,
    num_samples: int | None = None,
    num_gpus: float | None = None,
    stop_updates: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    generate: bool = False,
    storage: str | Path = "runs",
) -> dict[str, Any]:
    """Runs one tuned example with Tune; returns the summary paths and per-trial histories.

    The resolved spec is saved in ``<storage>/<name>/`` so ``resume_tuned_example`` can
    continue the run after an interruption."""
    name, spec = load_experiment(path)
    spec = apply_overrides(spec, list(overrides))
    config = dict(spec.get("config") or {})
    if seed is not None:
        config["seed"] = seed
    if num_gpus is not None:
        config["num_gpus_per_learner"] = num_gpus
    config = resolve_dataset(config, generate, seed or 0)
    stop = dict(spec.get("stop") or {})
    if stop_updates is not None:
        stop["num_updates_lifetime"] = stop_updates
    config, samples = seeded_samples(config, seed, num_samples)
    spec = {**spec, "config": config, "stop": stop}
    if samples:
        spec["num_samples"] = samples
    storage = Path(storage).expanduser().resolve()
    (storage / name).mkdir(parents=True, exist_ok=True)
    (storage / name / SPEC_FILE).write_text(
        json.dumps({"name": name, "spec": spec}, indent=2), encoding="utf-8"
    )
    return _run(name, spec, storage, resume=False)


def _run(name: str, spec: dict[str, Any], storage: Path, resume: bool) -> dict[str, Any]:
    """Runs (or resumes) one experiment with Tune and summarizes it."""
    import ray
    from ray import tune
    from ray.tune import Callback, CheckpointConfig, SyncConfig

    from rllib_tmd.csv_logger import WideningCSVLoggerCallback

    config, stop = spec["config"], spec.get("stop") or {}
    progress = _ProgressCallback(
        int(config.get("updates_per_iteration", TMD_KEYS["updates_per_iteration"])),
        stop.get("num_updates_lifetime"),
    )

    class _TuneHook(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
            progress.on_result(trial.trial_id, result)

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    trials = tune.run_experiments(
        {
            name: {
                "run": "TMD",
                "config": config,
                "stop": stop,
                "checkpoint_config": CheckpointConfig(**(spec.get("checkpoint_config") or {})),
                "num_samples": spec.get("num_samples", 1),
                "storage_path": str(storage),
                # files the trial writes into its working folder (maze maps) reach storage
                "sync_config": SyncConfig(sync_artifacts=True),
            }
        },
        callbacks=[_TuneHook(), WideningCSVLoggerCallback()],
        verbose=0,
        raise_on_failed_trial=False,
        resume=resume or None,
    )
    failed = [t for t in trials if t.status == "ERROR"]
    rows = [{"trial": t.trial_id, "history": trial_history(t.local_path)} for t in trials]
    paths = summarize(rows, storage / name)
    print((storage / name / "results.md").read_text(encoding="utf-8"))
    print(f"Results: {paths['table']}\nPlot:    {paths['plot']}\nRuns:    {storage / name}")
    checkpoints = [c for c in map(last_trial_checkpoint, trials) if c is not None]
    if checkpoints:
        print("".join(f"Checkpoint: {c}\n" for c in checkpoints), end="")
        print(f"Evaluate:   rllib-tmd evaluate --checkpoint {checkpoints[0]}")
    if failed:
        raise TrainingFailed("; ".join(describe_failure(t) for t in failed))
    return {"paths": paths, "rows": rows}


def last_trial_checkpoint(trial: Any) -> str | None:
    """Path of a Tune trial's latest checkpoint, or None if it wrote none."""
    return getattr(getattr(trial, "checkpoint", None), "path", None)


def error_summary(error_text: str) -> str:
    """The line of a Tune error file that says what went wrong (the last exception line)."""
    lines = [line.strip() for line in error_text.splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line.split(":")[0] or "Exception" in line]
    return (named or lines or ["unknown error"])[-1]


def describe_failure(trial: Any) -> str:
    """``trial <id>: <error line>; last checkpoint: <path or none>``."""
    error_file = getattr(trial, "error_file", None)
    try:
        text = Path(error_file).read_text(encoding="utf-8") if error_file else ""
    except OSError:
        text = ""
    checkpoint = last_trial_checkpoint(trial)
    return (
        f"trial {trial.trial_id}: {error_summary(text)} "
        f"(error log: {error_file}; last checkpoint: {checkpoint or 'none written yet'})"
    )
