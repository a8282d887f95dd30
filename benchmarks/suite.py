"""The generatable OGBench suite as parallel Tune trials: every dataset x seeds, one GPU each.

For each dataset the tuned example ``tuned_examples/tmd/<dataset>.yaml`` (the paper's settings)
is run with ``--seeds`` seeds as one Tune experiment; all experiments go to Tune together, so
trials run side by side as far as the cluster's GPUs allow (``--gpus-per-trial``, default 1).
Missing datasets are generated first (``--workers`` processes). Each trial evaluates with the
OGBench protocol (``--eval-episodes`` per task) at every 10 % of the run; a seed's score is
the mean of its last three evaluations (OGBench's convention). The suite writes a table:
success per dataset, mean +- standard error over seeds (the paper's convention), per-seed
values, trial wall time.

    python benchmarks/suite.py --stop-updates 1000000                 # the full benchmark
    python benchmarks/suite.py --datasets pointmaze-medium-navigate --seeds 2 --smoke --cpu

Writes ``<out>/suite.json`` and ``<out>/suite.md`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
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
    p.add_argument("--gpus-per-trial", type=float, default=1.0)
    p.add_argument(
        "--eval-workers",
        type=int,
        default=None,
        help="env worker processes per trial's evaluation, reserved as CPUs (default: the CPUs "
        "left per trial when as many trials run as the GPUs allow, minus 2 for the trial's "
        "driver and learner)",
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


def experiment(name: str, dataset: Path, args: argparse.Namespace) -> tuple[str, dict]:
    """The tuned example of ``name`` with the suite's seeds, length and resources."""
    from rllib_tmd.experiments import apply_overrides, load_experiment

    exp_name, spec = load_experiment(REPO / "tuned_examples" / "tmd" / f"{name}.yaml")
    spec = apply_overrides(spec, args.override)
    iterations = max(1, args.stop_updates // args.updates_per_iteration)
    config = {
        **spec["config"],
        "input_": str(dataset),
        "seed": {"grid_search": list(range(args.seeds))},
        "updates_per_iteration": args.updates_per_iteration,
        # evaluations at every 10 % of the run: OGBench's score averages the last three
        "evaluation_interval": max(1, iterations // 10),
        "eval_episodes_per_task": args.eval_episodes,
        "eval_start_updates": int(args.eval_start * args.stop_updates),
        "eval_num_workers": args.eval_workers,
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
        "storage_path": str(Path(args.storage).resolve()),
    }


def standard_error(values: list[float]) -> float:
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0


def collect(trials: list[Any], inputs: dict[str, str]) -> list[dict[str, Any]]:
    """One row per dataset (``inputs``: dataset folder -> name): final success of every seed,
    mean, standard error, wall time."""
    from rllib_tmd.experiments import protocol_success, trial_history

    rows = []
    for folder, dataset in inputs.items():
        mine = [t for t in trials if t.config.get("input_") == folder]
        seeds, walls, reached, errors = [], [], [], []
        for trial in sorted(mine, key=lambda t: t.config.get("seed", 0)):
            history = [h for h in trial_history(trial.local_path) if "success/overall" in h]
            if trial.status == "ERROR" or not history:
                errors.append(f"seed {trial.config.get('seed')}: {trial.status}")
                continue
            seeds.append(protocol_success(history)["success/overall"])
            reached.append(int(history[-1]["updates"]))
            walls.append(float(trial.last_result.get("time_total_s", float("nan"))))
        rows.append(
            {
                "dataset": dataset,
                "seeds": len(seeds),
                "success_per_seed": seeds,
                "success_mean": statistics.mean(seeds) if seeds else None,
                "success_stderr": standard_error(seeds) if seeds else None,
                "trial_wall_s": statistics.mean(walls) if walls else None,
                "updates_per_seed": reached,
                "failed": errors,
            }
        )
    return rows


def updates_reached(row: dict[str, Any], planned: int) -> str:
    """``planned`` when every seed got there, else the range reached (time-capped trials)."""
    reached = row.get("updates_per_seed") or [planned]
    low, high = min(reached), max(reached)
    if low >= planned:
        return f"{planned:,}"
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def table(rows: list[dict[str, Any]], updates: int) -> str:
    lines = [
        "| dataset | success % (mean ± s.e.) | seeds | per seed | wall / trial | updates |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["success_mean"] is None:
            lines.append(f"| {r['dataset']} | failed: {'; '.join(r['failed'])} | 0 | | | |")
            continue
        per_seed = ", ".join(f"{100 * v:.1f}" for v in r["success_per_seed"])
        lines.append(
            f"| {r['dataset']} | {100 * r['success_mean']:.1f} ± {100 * r['success_stderr']:.1f} "
            f"| {r['seeds']} | {per_seed} | {r['trial_wall_s'] / 60:.1f} min "
            f"| {updates_reached(r, updates)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import ray
    from ray import tune

    import rllib_tmd  # noqa: F401  (registers TMD with Tune)

    args = parse_args(argv)
    start = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    args.eval_workers = evaluation_workers(args, ray.cluster_resources())
    inputs, experiments = {}, {}
    for name in args.datasets:
        exp_name, spec = experiment(name, ensure_dataset(name, args), args)
        inputs[spec["config"]["input_"]] = name
        experiments[exp_name] = spec
    trials = tune.run_experiments(experiments, verbose=1, raise_on_failed_trial=False)
    rows = collect(trials, inputs)
    result = {
        "command": "python benchmarks/suite.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "updates": args.stop_updates,
        "seeds": args.seeds,
        "eval_episodes_per_task": args.eval_episodes,
        "overrides": args.override,
        "gpus_per_trial": 0 if args.cpu else args.gpus_per_trial,
        "eval_workers_per_trial": args.eval_workers,
        "cluster_resources": ray.cluster_resources(),
        "total_wall_s": time.perf_counter() - start,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.json").write_text(json.dumps(result, indent=2) + "\n")
    text = table(rows, args.stop_updates)
    (out / "suite.md").write_text(
        f"# TMD on the generatable OGBench suite\n\ncommand: `{result['command']}`\n\n{text}\n"
    )
    print(text)
    return result


if __name__ == "__main__":
    main()
