"""Train TMD on one OGBench dataset, resumably, and evaluate with the OGBench protocol.

Generates the dataset with OGBench's recipe if it is missing, trains until
``--stop-updates`` (or until ``--time-budget`` seconds, checkpointing so that the same
command continues later), then evaluates 5 tasks x ``--eval-episodes`` and writes
``results.json`` (per-task success, updates/s, device) into ``--run-dir``.

    python examples/train_ogbench.py --dataset pointmaze-medium-navigate-v0 \
        --data-dir datasets --run-dir runs/pm-medium --stop-updates 100000 --gpus 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import ray
import torch

from rllib_tmd import TMD, TMDConfig
from rllib_tmd.data.catalog import make_dataset
from rllib_tmd.progress import ProgressLine


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="pointmaze-medium-navigate-v0")
    p.add_argument("--data-dir", default="datasets")
    p.add_argument("--episodes", type=int, default=None, help="default: the official size")
    p.add_argument("--workers", type=int, default=1, help="dataset generation processes")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--stop-updates", type=int, default=100_000)
    p.add_argument("--updates-per-iteration", type=int, default=1000)
    p.add_argument("--time-budget", type=float, default=None, help="seconds; then checkpoint")
    p.add_argument("--eval-episodes", type=int, default=50)
    p.add_argument("--gpus", type=float, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="TMD training overrides, values parsed as JSON (e.g. alpha=0.03)",
    )
    return p.parse_args()


def overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> None:
    args = parse_args()
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset_dir = Path(args.data_dir).resolve() / args.dataset
    if not (dataset_dir / "metadata.json").exists():
        start = time.perf_counter()
        make_dataset(
            args.dataset,
            args.data_dir,
            episodes=args.episodes,
            seed=args.seed,
            workers=args.workers,
        )
        print(f"dataset generated in {time.perf_counter() - start:.1f}s", flush=True)
    ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    checkpoint = run_dir / "checkpoint"
    if (checkpoint / "rllib_checkpoint.json").exists():
        algo = TMD.from_checkpoint(str(checkpoint))
        print(f"resumed from {checkpoint}", flush=True)
    else:
        config = (
            TMDConfig()
            .offline_data(input_=str(dataset_dir))
            .training(updates_per_iteration=args.updates_per_iteration, **overrides(args.set))
            .learners(num_learners=0, num_gpus_per_learner=args.gpus)
            .debugging(seed=args.seed)
        )
        algo = config.build_algo()
    progress = ProgressLine(args.updates_per_iteration, total_updates=args.stop_updates)
    start, done, timed = time.perf_counter(), 0, []
    while done < args.stop_updates:
        t0 = time.perf_counter()
        result = algo.train()
        timed.append(time.perf_counter() - t0)
        done = int(result["num_updates_lifetime"])
        progress.update(result)
        if args.time_budget and time.perf_counter() - start > args.time_budget:
            break
    algo.save(str(checkpoint))
    steady = timed[1:] or timed  # the first iteration includes compilation/warm-up
    updates_per_s = args.updates_per_iteration * len(steady) / sum(steady)
    summary = {
        "dataset": args.dataset,
        "updates": done,
        "updates_per_s": round(updates_per_s, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "train_wall_s": round(time.perf_counter() - start, 1),
    }
    if done >= args.stop_updates:
        evaluation = algo.evaluate_ogbench(episodes_per_task=args.eval_episodes, progress=True)
        print(evaluation.format_table(), flush=True)
        summary["evaluation"] = evaluation.as_metrics()
    (run_dir / "results.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)
    algo.stop()


if __name__ == "__main__":
    main()
