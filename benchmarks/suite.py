"""The generatable OGBench suite as parallel Tune trials: every dataset x seeds, one GPU each.

For each dataset the tuned example ``tuned_examples/tmd/<dataset>.yaml`` (the paper's settings)
is run with ``--seeds`` seeds as one Tune experiment; all experiments go to Tune together, so
trials run side by side as far as the cluster's GPUs allow (``--gpus-per-trial``, default 1).
Missing datasets are generated first (``--workers`` processes). Each trial evaluates with the
OGBench protocol (``--eval-episodes`` per task) at every 10 % of the run (or ``--eval-every``
updates, from ``--eval-start`` on); a seed's score is the mean of its last three evaluations
(OGBench's convention), which the table names. Trials checkpoint at that interval (also
before ``--eval-start``) and at their end (``--checkpoint-every``). The suite writes a table:
success per dataset, mean +- standard error over seeds (the paper's convention), per-seed
values, trial wall time.

    python benchmarks/suite.py --stop-updates 1000000                 # the full benchmark
    python benchmarks/suite.py --datasets pointmaze-medium-navigate --seeds 2 --smoke --cpu

Writes ``<out>/suite.json`` and ``<out>/suite.md`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SMOKE = {  # a CPU-sized model for a quick end-to-end check of the suite machinery
    "latent_dim": 32,
    "hidden_dims": [64],
    "actor_hidden_dims": [64],
    "quasimetric_components": 4,
    "train_batch_size_per_learner": 64,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from rllib_tmd.data.generate import supported_datasets

    all_names = [n.removesuffix("-v0") for n in supported_datasets()]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=all_names, choices=all_names)
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds are first-seed .. first-seed + seeds - 1 (more seeds in a later run)",
    )
    p.add_argument("--stop-updates", type=int, default=1_000_000)
    p.add_argument("--updates-per-iteration", type=int, default=1000)
    p.add_argument(
        "--max-trial-minutes",
        type=float,
        default=None,
        help="also stop each trial after this long (it reports the updates it reached)",
    )
    p.add_argument("--eval-episodes", type=int, default=50, help="per task (OGBench: 50)")
    p.add_argument(
        "--eval-start",
        type=float,
        default=0.0,
        help="evaluate only from this fraction of --stop-updates on, e.g. 0.8: only the three "
        "evaluations OGBench's score uses (for slow envs)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        default=None,
        help="evaluate every this many updates (a multiple of --updates-per-iteration; default: "
        "every 10 %% of --stop-updates), e.g. 100000 with --stop-updates 400000 --eval-start "
        "0.25: success early in training at 100k-400k",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="checkpoint every trial every this many updates (a multiple of "
        "--updates-per-iteration; default: the evaluation interval) and always at its end; 0: at "
        "the end only. `rllib-tmd evaluate --checkpoint PATH` scores or films one",
    )
    p.add_argument(
        "--snapshot-to",
        default=None,
        metavar="DIR",
        help="at the end, pack each trial's trained module in float16 into DIR "
        "(benchmarks/module_snapshot.py; ~7 MiB each), e.g. /tmp/job/carry in a device job",
    )
    p.add_argument("--gpus-per-trial", type=float, default=1.0)
    p.add_argument(
        "--eval-workers",
        type=int,
        default=None,
        help="env worker processes per trial's evaluation, reserved as CPUs (default: the CPUs "
        "left per trial when as many trials run as the GPUs allow, minus 2 for the trial's "
        "driver and learner)",
    )
    p.add_argument(
        "--eval-envs",
        type=int,
        default=None,
        help="envs stepped in lock-step per evaluation (eval_num_envs; default: --eval-episodes)."
        " More envs: fewer, larger policy calls; each env costs memory (manipulation ~150 MB)",
    )
    p.add_argument("--cpu", action="store_true", help="no GPUs (sets --gpus-per-trial 0)")
    p.add_argument("--data-dir", default="datasets")
    p.add_argument("--episodes", type=int, default=None, help="dataset size (default: official)")
    p.add_argument("--workers", type=int, default=4, help="dataset generation processes")
    p.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every dataset (as `rllib-tmd train --override`), e.g. an "
        "ablation: contrastive_weight=0",
    )
    p.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME KEY=VALUE",
        help="run each dataset once per variant, side by side: a name, then its overrides (on "
        "top of --override), e.g. --variant released action_invariance_weight=1 zeta=0.05 "
        "--variant paper stopgrad_psi_backup=true. Without it: one run of the tuned example",
    )
    p.add_argument(
        "--report-from",
        default=None,
        metavar="RUNS_DIR",
        help="train nothing: write the success curves of the Tune runs under RUNS_DIR (a "
        "finished or copied --storage folder) to --out/curves, and the table of every "
        "evaluation to --out/evaluations.md / .csv",
    )
    p.add_argument(
        "--maze-maps",
        type=int,
        default=5,
        help="pointmaze: at each evaluation draw this many paths per task over the learned "
        "distance (eval_maze_map_episodes); the last map of each trial goes to "
        "<out>/curves/<experiment>/maze_map_seed<k>.png; 0: off",
    )
    p.add_argument("--smoke", action="store_true", help="tiny model (CPU check of the suite)")
    p.add_argument("--storage", default="runs/suite")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    return p.parse_args(argv)


def ensure_dataset(name: str, args: argparse.Namespace) -> Path:
    """The Parquet folder of ``name``, generated (OGBench's recipe) if it is missing."""
    from rllib_tmd.data.catalog import make_dataset

    folder = Path(args.data_dir).resolve() / f"{name}-v0"
    if not (folder / "metadata.json").exists():
        start = time.perf_counter()
        make_dataset(f"{name}-v0", args.data_dir, episodes=args.episodes, workers=args.workers)
        print(f"generated {name}-v0 in {time.perf_counter() - start:.0f}s", flush=True)
    return folder


def evaluation_workers(args: argparse.Namespace, resources: dict[str, float]) -> int:
    """``--eval-workers``, or the CPUs each of the trials that run at once can spare."""
    if args.eval_workers is not None:
        return args.eval_workers
    gpus = resources.get("GPU", 0.0)
    at_once = 1 if args.cpu or not gpus else max(1, int(gpus // args.gpus_per_trial))
    return max(0, int(resources.get("CPU", 1.0)) // at_once - 2)


def iterations_of(updates: int, flag: str, args: argparse.Namespace) -> int:
    """``updates`` (the value of ``flag``) in training iterations; exits unless it is a
    positive multiple of ``--updates-per-iteration``."""
    if updates <= 0 or updates % args.updates_per_iteration:
        raise SystemExit(
            f"{flag} {updates}: must be a positive multiple of "
            f"--updates-per-iteration ({args.updates_per_iteration})"
        )
    return updates // args.updates_per_iteration


def evaluation_interval(args: argparse.Namespace) -> int:
    """Training iterations between evaluations: ``--eval-every`` updates, or 10 % of the run
    (OGBench's score averages the last three)."""
    if args.eval_every is None:
        return max(1, args.stop_updates // args.updates_per_iteration // 10)
    return iterations_of(args.eval_every, "--eval-every", args)


def checkpoint_interval(args: argparse.Namespace) -> int:
    """Training iterations between checkpoints: ``--checkpoint-every`` updates, the evaluation
    interval by default, 0 for none before the trial's end."""
    if args.checkpoint_every is None:
        return evaluation_interval(args)
    if args.checkpoint_every == 0:
        return 0
    return iterations_of(args.checkpoint_every, "--checkpoint-every", args)


def variants(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """``(name, overrides)`` per ``--variant`` (``--override`` first); one unnamed variant of
    ``--override`` alone if none is given."""
    if not args.variant:
        return [("", list(args.override))]
    names = [v[0] for v in args.variant]
    if len(set(names)) < len(names) or any("=" in n for n in names):
        raise SystemExit(f"--variant: each needs a distinct NAME before its KEY=VALUEs: {names}")
    return [(v[0], [*args.override, *v[1:]]) for v in args.variant]


def row_label(dataset: str, variant: str | None) -> str:
    """A table row's name: the dataset, with its variant in brackets if it has one."""
    return f"{dataset} [{variant}]" if variant else dataset


def split_label(label: str) -> tuple[str, str | None]:
    """``"pointmaze-x [v]"`` -> ``("pointmaze-x", "v")``; a plain name -> ``(name, None)``."""
    if label.endswith("]") and " [" in label:
        name, variant = label[:-1].split(" [", 1)
        return name, variant
    return label, None


def experiment(
    name: str, dataset: Path, args: argparse.Namespace, variant: tuple[str, list[str]]
) -> tuple[str, dict]:
    """The tuned example of ``name`` with a variant's overrides and the suite's seeds, length
    and resources. The experiment is named after the example, plus ``-<variant>``."""
    from ray.tune import CheckpointConfig, SyncConfig

    from rllib_tmd.experiments import apply_overrides, load_experiment

    exp_name, spec = load_experiment(REPO / "tuned_examples" / "tmd" / f"{name}.yaml")
    spec = apply_overrides(spec, variant[1])
    exp_name = f"{exp_name}-{variant[0]}" if variant[0] else exp_name
    config = {
        **spec["config"],
        "input_": str(dataset),
        "seed": {"grid_search": list(range(args.first_seed, args.first_seed + args.seeds))},
        "updates_per_iteration": args.updates_per_iteration,
        "evaluation_interval": evaluation_interval(args),
        "eval_episodes_per_task": args.eval_episodes,
        "eval_start_updates": int(args.eval_start * args.stop_updates),
        "eval_num_workers": args.eval_workers,
        "eval_num_envs": args.eval_envs or "auto",
        "eval_maze_map_episodes": args.maze_maps if name.startswith("pointmaze-") else 0,
        "num_gpus_per_learner": 0 if args.cpu else args.gpus_per_trial,
        **(SMOKE if args.smoke else {}),
    }
    return exp_name, {
        "run": "TMD",
        "config": config,
        "stop": {
            "num_updates_lifetime": args.stop_updates,
            **({"time_total_s": 60 * args.max_trial_minutes} if args.max_trial_minutes else {}),
        },
        "checkpoint_config": CheckpointConfig(
            checkpoint_frequency=checkpoint_interval(args), checkpoint_at_end=True
        ),
        "storage_path": str(Path(args.storage).resolve()),
        "sync_config": SyncConfig(sync_artifacts=True),  # the trials' maze maps
    }


def copy_last_maze_map(trial_dir: Path, target: Path) -> None:
    """The trial's latest ``maze_maps/maze_map_<updates>.png`` (pointmaze evaluations) as
    ``target``, if it drew any."""
    maps = sorted(trial_dir.glob("maze_maps/maze_map_*.png"))
    if maps:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(maps[-1], target)


def write_curves(experiment_dirs: list[Path], out: Path) -> list[Path]:
    """Per Tune experiment folder: ``out/curves/<experiment>/`` with ``success.png`` (success
    vs. updates, a line per seed), ``critic.png`` (:func:`plot_critic`), ``results.md``
    (OGBench score per seed), ``results.json`` (every evaluation) and ``learner.csv`` (loss
    terms every 50k updates). Returns the plots written."""
    from rllib_tmd.experiments import evaluations, summarize, trial_results

    plots = []
    for exp_dir in experiment_dirs:
        rows, diagnostics, batch = [], [], None
        for trial_dir in sorted(p.parent for p in exp_dir.glob("*/params.json")):
            params = json.loads((trial_dir / "params.json").read_text())
            seed, batch = params.get("seed"), params.get("train_batch_size_per_learner")
            results = trial_results(trial_dir)
            rows.append({"trial": f"seed {seed}", "history": evaluations(results)})
            diagnostics.extend({"seed": seed, **r} for r in learner_points(results))
            maze_map = out / "curves" / exp_dir.name / f"maze_map_seed{seed}.png"
            copy_last_maze_map(trial_dir, maze_map)
        if rows:
            plots.append(summarize(rows, out / "curves" / exp_dir.name)["plot"])
            write_table(diagnostics, out / "curves" / exp_dir.name / "learner.csv")
            plots.append(plot_critic(diagnostics, batch, out / "curves" / exp_dir.name))
    return plots


def evaluation_rows(experiment_dirs: list[Path]) -> list[dict[str, Any]]:
    """One row per evaluation of every trial under ``experiment_dirs``: experiment, seed,
    updates, success and stalled share, the critic's rank correlation with the maze's BFS
    distance and the asymmetry of its distance between neighbouring cells (pointmaze), and the
    contrastive loss at that update."""
    from rllib_tmd.envs.maze_distances import ASYMMETRY_KEY, METRIC_KEY
    from rllib_tmd.experiments import evaluation_point, trial_results
    from rllib_tmd.tmd.tmd_learner import CONTRASTIVE_LOSS

    rows = []
    for exp_dir in experiment_dirs:
        for trial_dir in sorted(p.parent for p in exp_dir.glob("*/params.json")):
            seed = json.loads((trial_dir / "params.json").read_text()).get("seed")
            for result in trial_results(trial_dir):
                point = evaluation_point(result)
                if "success/overall" not in point:
                    continue
                learner = result.get("learners", {}).get("default_policy", {})
                rows.append(
                    {
                        "experiment": exp_dir.name,
                        "seed": seed,
                        "updates": point["updates"],
                        "success": point["success/overall"],
                        "stalled": point.get("stalled/overall"),
                        "rank_corr_bfs": point.get(METRIC_KEY),
                        "asymmetry": point.get(ASYMMETRY_KEY),
                        CONTRASTIVE_LOSS: learner.get(CONTRASTIVE_LOSS),
                    }
                )
    return rows


def evaluation_table(rows: list[dict[str, Any]]) -> str:
    """Markdown of :func:`evaluation_rows`: per experiment and seed, each evaluation's
    success % (stalled %), then the rank correlation, the neighbour asymmetry and the
    contrastive loss at the first and last evaluation."""

    def percent(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.0f}"

    def number(value: float | None, digits: int) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    def count(updates: int) -> str:
        return f"{updates // 1000}k" if updates >= 1000 and not updates % 1000 else str(updates)

    trials: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        trials.setdefault((row["experiment"], row["seed"]), []).append(row)
    lines = [
        "| experiment | seed | success % (stalled %) at each evaluation | rho (BFS) first → last "
        "| asymmetry first → last | L_NCE first → last |",
        "|---|---|---|---|---|---|",
    ]
    for (experiment, seed), points in trials.items():
        evals = ", ".join(
            f"{count(p['updates'])}: {percent(p['success'])} ({percent(p['stalled'])})"
            for p in points
        )
        first, last = points[0], points[-1]
        rho = f"{number(first['rank_corr_bfs'], 2)} → {number(last['rank_corr_bfs'], 2)}"
        asym = f"{number(first.get('asymmetry'), 2)} → {number(last.get('asymmetry'), 2)}"
        nce = f"{number(first['contrastive_loss'], 3)} → {number(last['contrastive_loss'], 3)}"
        lines.append(f"| {experiment} | {seed} | {evals} | {rho} | {asym} | {nce} |")
    return "\n".join(lines)


def write_evaluations(experiment_dirs: list[Path], out: Path) -> Path:
    """``out/evaluations.md`` (:func:`evaluation_table`) and ``out/evaluations.csv`` (every
    :func:`evaluation_rows` row); returns the Markdown file."""
    rows = evaluation_rows(experiment_dirs)
    out.mkdir(parents=True, exist_ok=True)
    write_table(rows, out / "evaluations.csv")
    path = out / "evaluations.md"
    text = "# Every evaluation of every trial\n\n" + evaluation_table(rows) + "\n"
    if rows:
        plot_evaluations(rows, out / "evaluations.png")
        text += "\n![success and rho vs. updates per experiment](evaluations.png)\n"
    path.write_text(text)
    return path


def plot_evaluations(rows: list[dict[str, Any]], path: Path) -> Path:
    """``path``: success and the critic's rank correlation with the BFS distance vs. updates,
    a line per experiment (the mean over its seeds), its seeds as thin lines of its colour."""
    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    experiments = list(dict.fromkeys(row["experiment"] for row in rows))
    for i, experiment in enumerate(experiments):
        mine = [row for row in rows if row["experiment"] == experiment]
        for ax, key in zip(axes, ("success", "rank_corr_bfs")):
            by_seed: dict[Any, dict[int, float]] = {}
            for row in mine:
                if row[key] is not None:
                    by_seed.setdefault(row["seed"], {})[row["updates"]] = row[key]
            for curve in by_seed.values():
                ax.plot(list(curve), list(curve.values()), color=f"C{i}", lw=0.6, alpha=0.4)
            updates = sorted({u for curve in by_seed.values() for u in curve})
            means = [
                sum(c[u] for c in by_seed.values() if u in c)
                / sum(u in c for c in by_seed.values())
                for u in updates
            ]
            label = f"{experiment} ({len(by_seed)} seed{'s' if len(by_seed) != 1 else ''})"
            ax.plot(updates, means, color=f"C{i}", lw=2, marker="o", ms=3, label=label)
    axes[0].set_ylabel("success (OGBench protocol)")
    axes[1].set_ylabel("rank correlation of d with the BFS distance")
    for ax in axes:
        ax.set_xlabel("gradient updates")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="x-small")
    fig.tight_layout()
    return save_png(fig, path, dpi=120)


def plot_critic(diagnostics: list[dict[str, Any]], batch: int | None, out_dir: Path) -> Path:
    """``critic.png``: per seed, the contrastive loss next to its chance level log(batch) (a
    critic that cannot tell goals apart), and the mean distance to positive and to negative
    goals (``diagnostics``: :func:`learner_points` rows with their ``seed``)."""
    import math

    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()

    fig, (nce_ax, dist_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for i, seed in enumerate(sorted({row["seed"] for row in diagnostics}, key=str)):
        rows = [row for row in diagnostics if row["seed"] == seed]
        xs = [row["updates"] for row in rows]
        nce = [row.get("contrastive_loss") for row in rows]
        nce_ax.plot(xs, nce, color=f"C{i}", label=f"seed {seed}")
        for key, style in (("mean_dist_positive", "-"), ("mean_dist_negative", "--")):
            label = f"seed {seed}, {key.removeprefix('mean_dist_')} goals"
            dist_ax.plot(xs, [row.get(key) for row in rows], style, color=f"C{i}", label=label)
    if batch:
        nce_ax.axhline(math.log(batch), color="grey", ls=":", label=f"chance: log {batch}")
    nce_ax.set_ylabel("contrastive loss (L_NCE)")
    dist_ax.set_ylabel("mean learned distance d(s, g)")
    dist_ax.set_yscale("log")
    for ax in (nce_ax, dist_ax):
        ax.set_xlabel("gradient updates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    path = out_dir / "critic.png"
    return save_png(fig, path, dpi=120)


def learner_points(results: list[dict[str, Any]], every: int = 50_000) -> list[dict[str, Any]]:
    """The learner's loss terms and diagnostics every ``every`` updates (and at the end) of a
    trial's results (:func:`rllib_tmd.experiments.trial_results`)."""
    points = []
    for i, result in enumerate(results):
        updates = int(result.get("num_updates_lifetime", 0))
        if updates % every and i != len(results) - 1:
            continue
        metrics = result.get("learners", {}).get("default_policy", {})
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        points.append({"updates": updates, **scalars})
    return points


def write_table(rows: list[dict[str, Any]], path: Path) -> None:
    """``rows`` as a CSV with the union of their keys as columns."""
    import csv

    fields = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)


def persist_trial_folders(trials: list[Any]) -> None:
    """Copies each trial's driver-side folder (result.json, progress.csv, params) into its
    storage folder. Tune syncs only the first experiment of a multi-
    experiment ``run_experiments`` call to ``storage_path``; the others' results stayed in
    Ray's session folder, which Ray deletes later (seen with Ray 2.60)."""
    import shutil

    for trial in trials:
        staged, stored = Path(trial.local_path), Path(trial.path)
        if staged.is_dir() and staged != stored:
            shutil.copytree(staged, stored, dirs_exist_ok=True)


def standard_error(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0


def experiment_of(trial: Any) -> str:
    """The Tune experiment (folder name) a trial belongs to."""
    return trial.experiment_dir_name


def trial_error(trial: Any) -> str:
    """The last line of a failed trial's error trace (e.g. ``ModuleNotFoundError: ...``), or ""."""
    try:
        text = trial.get_error()
    except Exception:  # the error file may be gone with Ray's session folder
        text = None
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return f"({lines[-1][:200]})" if lines else ""


def collect(trials: list[Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    """One row per experiment (``labels``: experiment name -> row label, e.g. the dataset):
    final success of every seed, mean, standard error, wall time."""
    from rllib_tmd.envs.evaluation import protocol_success
    from rllib_tmd.experiments import evaluations, last_trial_checkpoint, trial_results

    rows = []
    for exp_name, dataset in labels.items():
        mine = [t for t in trials if experiment_of(t) == exp_name]
        seeds, walls, reached, errors, at_chance, scored = [], [], [], [], {}, set()
        stalled = []
        checkpoints = {}
        for trial in sorted(mine, key=lambda t: t.config.get("seed", 0)):
            checkpoints[trial.config.get("seed")] = last_trial_checkpoint(trial)
            results = trial_results(trial.local_path)
            stretches = critic_at_chance(results)
            if stretches:
                at_chance[trial.config.get("seed")] = stretches
            history = evaluations(results)
            if trial.status == "ERROR" or not history:
                reason = trial_error(trial) or ("no evaluation" if not history else "")
                errors.append(f"seed {trial.config.get('seed')}: {trial.status} {reason}".strip())
                continue
            score = protocol_success(history)
            seeds.append(score["success/overall"])
            if "stalled/overall" in score:
                stalled.append(score["stalled/overall"])
            scored.update(score["averaged_at_updates"])
            reached.append(int(history[-1]["updates"]))
            walls.append(float(trial.last_result.get("time_total_s", float("nan"))))
        rows.append(
            {
                "dataset": dataset,
                "experiment": exp_name,
                "seeds": len(seeds),
                "success_per_seed": seeds,
                "success_mean": statistics.mean(seeds) if seeds else None,
                "success_stderr": standard_error(seeds) if seeds else None,
                "stalled_per_seed": stalled,
                "trial_wall_s": statistics.mean(walls) if walls else None,
                "updates_per_seed": reached,
                "failed": errors,
                "critic_at_chance_since": at_chance,
                "scored_at_updates": sorted(scored),
                "checkpoint_per_seed": checkpoints,
            }
        )
    return rows


def critic_at_chance(results: list[dict[str, Any]]) -> list[int]:
    """First update of every stretch in which the trial's critic sat at chance (the results'
    ``critic_at_chance_since``, ``rllib_tmd.tmd.critic_watch``)."""
    from rllib_tmd.progress import critic_at_chance_since

    stretches = (critic_at_chance_since(result) for result in results)
    return sorted({since for since in stretches if since is not None})


def updates_reached(row: dict[str, Any], planned: int) -> str:
    """``planned`` when every seed got there, else the range reached (time-capped trials)."""
    reached = row.get("updates_per_seed") or [planned]
    low, high = min(reached), max(reached)
    if low >= planned:
        return f"{planned:,}"
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def scored_at(rows: list[dict[str, Any]], evals: int) -> str:
    """The sentence naming the updates each row's score averages (OGBench: 800k, 900k, 1M);
    rows that scored different evaluations (time-capped trials) are named one by one."""
    at = {r["dataset"]: r["scored_at_updates"] for r in rows if r.get("scored_at_updates")}
    if not at:
        return ""
    head = f"A seed's success: the mean of its last {evals} evaluations"
    if len({tuple(u) for u in at.values()}) == 1:
        return f"{head} (at {', '.join(f'{u:,}' for u in next(iter(at.values())))} updates)."
    each = "; ".join(f"{name} at {', '.join(f'{u:,}' for u in u_s)}" for name, u_s in at.items())
    return f"{head}: {each} updates."


def wall_cell(row: dict[str, Any]) -> str:
    """Minutes per trial; a range where merged runs differed (``suite_merge.py``: e.g. trials
    two per GPU in one run and alone in the other)."""
    per_run = row.get("trial_wall_s_per_run") or [row["trial_wall_s"]]
    low, high = min(per_run) / 60, max(per_run) / 60
    return f"{low:.1f} min" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f} min"


def table(rows: list[dict[str, Any]], updates: int) -> str:
    from rllib_tmd.envs.evaluation import PROTOCOL_EVALS, STALL_WINDOW

    lines = [
        "| dataset | success % (mean ± s.e.) | seeds | per seed | stalled % | wall / trial "
        "| updates |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for r in rows:
        if r["success_mean"] is None:
            lines.append(f"| {r['dataset']} | failed: {'; '.join(r['failed'])} | 0 | | | | |")
            continue
        per_seed = ", ".join(f"{100 * v:.1f}" for v in r["success_per_seed"])
        stalled = r.get("stalled_per_seed") or []
        stalled_cell = f"{100 * statistics.mean(stalled):.0f}" if stalled else "-"
        at_chance = r.get("critic_at_chance_since", {})
        for seed, stretches in at_chance.items():
            since = ", ".join(f"{s:,}" for s in stretches)
            notes.append(f"{r['dataset']} seed {seed}: critic at chance from update {since}")
        # a number from a critic that stopped ranking goals is not TMD's: say so in the row
        flag = f" (critic at chance: {len(at_chance)} of {r['seeds']} seeds)" if at_chance else ""
        lines.append(
            f"| {r['dataset']} | {100 * r['success_mean']:.1f} ± {100 * r['success_stderr']:.1f}"
            f"{flag} | {r['seeds']} | {per_seed} | {stalled_cell} "
            f"| {wall_cell(r)} | {updates_reached(r, updates)} |"
        )
    scored_line = scored_at(rows, PROTOCOL_EVALS)
    if scored_line:
        lines += ["", scored_line]
    if any(r.get("stalled_per_seed") for r in rows):
        lines += [
            "",
            "Stalled: the share of the scored episodes that failed with the agent at rest over "
            f"their last {STALL_WINDOW} steps (the policy stopped, or pushes into a wall).",
        ]
    if notes:  # rllib_tmd.tmd.critic_watch: accuracy or loss at chance for 20k updates
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import ray
    from ray import tune

    import rllib_tmd  # noqa: F401  (registers TMD with Tune)
    from rllib_tmd.csv_logger import WideningCSVLoggerCallback

    args = parse_args(argv)
    out = Path(args.out)
    if args.report_from:
        runs = Path(args.report_from)
        experiment_dirs = sorted(p for p in runs.iterdir() if p.is_dir())
        for png in write_curves(experiment_dirs, out):
            print(f"wrote {png}")
        print(f"wrote {write_evaluations(experiment_dirs, out)}")
        return {}
    evaluation_interval(args)  # a bad --eval-every or --checkpoint-every stops here, before
    checkpoint_interval(args)  # any dataset is made
    start = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    args.eval_workers = evaluation_workers(args, ray.cluster_resources())
    labels, experiments = {}, {}
    for name in args.datasets:
        dataset = ensure_dataset(name, args)
        for variant in variants(args):
            exp_name, spec = experiment(name, dataset, args, variant)
            labels[exp_name] = row_label(name, variant[0])
            experiments[exp_name] = spec
    trials = tune.run_experiments(
        experiments,
        callbacks=[WideningCSVLoggerCallback()],
        verbose=1,
        raise_on_failed_trial=False,
    )
    persist_trial_folders(trials)
    if len(experiments) > 1:
        print(
            "suite: trial folders copied to storage; Tune's 'Failed to fetch metrics' "
            "warning above, if any, refers to them before the copy"
        )
    rows = collect(trials, labels)
    storage = Path(args.storage).resolve()
    write_curves([storage / name for name in experiments], out)
    write_evaluations([storage / name for name in experiments], out)
    if args.snapshot_to:
        snapshot_modules(storage, Path(args.snapshot_to), list(experiments))
    result = {
        "command": "python benchmarks/suite.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "updates": args.stop_updates,
        "seeds": args.seeds,
        "eval_episodes_per_task": args.eval_episodes,
        "overrides": args.override,
        "variants": {name: overrides for name, overrides in variants(args) if name},
        "gpus_per_trial": 0 if args.cpu else args.gpus_per_trial,
        "eval_workers_per_trial": args.eval_workers,
        "cluster_resources": ray.cluster_resources(),
        "total_wall_s": time.perf_counter() - start,
        "rows": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps(result, indent=2) + "\n")
    text = table(rows, args.stop_updates) + "\n\n" + checkpoint_line(args, storage)
    (out / "suite.md").write_text(
        f"# TMD on the generatable OGBench suite\n\ncommand: `{result['command']}`\n\n{text}\n"
    )
    print(text)
    return result


def snapshot_modules(storage: Path, target: Path, experiments: list[str]) -> None:
    """``--snapshot-to``: every trial's last module, float16, into ``target``. A failure is
    printed, not raised: the run's results are already written."""
    from module_snapshot import pack_runs

    try:
        for path in pack_runs(storage, target, experiments=experiments):
            print(f"suite: module snapshot {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    except (SystemExit, OSError, ValueError) as err:
        print(f"suite: no module snapshots: {err}")


def checkpoint_line(args: argparse.Namespace, storage: Path) -> str:
    """Where the trials' checkpoints are, for suite.md."""
    every = checkpoint_interval(args) * args.updates_per_iteration
    when = f"every {every:,} updates and at the end" if every else "at the end"
    return (
        f"Checkpoints ({when} of each trial) under `{storage}`; `suite.json`'s "
        "`checkpoint_per_seed` names each seed's last (`rllib-tmd evaluate --checkpoint PATH`)."
    )


def failed_experiments(result: dict[str, Any]) -> list[str]:
    """Row labels of the experiments with at least one failed trial."""
    return [row["dataset"] for row in result.get("rows", []) if row["failed"]]


if __name__ == "__main__":
    failed = failed_experiments(main())
    if failed:
        sys.exit(f"suite: trials failed in {', '.join(failed)} (see the table above)")
