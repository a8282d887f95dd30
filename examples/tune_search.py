"""Grid search over TMD's zeta x alpha on one dataset with Ray Tune.

Prints one row per trial and the best configuration by final OGBench success.

    python examples/tune_search.py --dataset datasets/pointmaze-teleport-stitch-v0 \
        --zetas 0.01 0.05 0.1 --alphas 0.03 0.1 --stop-updates 100000 --gpus-per-trial 1

``--smoke`` shrinks the networks and the run so the whole search takes about a minute on a
CPU (this is what CI runs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

SMOKE = {
    "latent_dim": 32,
    "hidden_dims": [64],
    "actor_hidden_dims": [64],
    "quasimetric_components": 4,
    "train_batch_size_per_learner": 64,
    "updates_per_iteration": 10,
    "eval_episodes_per_task": 1,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", required=True, help="Parquet dataset folder")
    p.add_argument("--zetas", type=float, nargs="+", default=[0.01, 0.05, 0.1])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.03, 0.1])
    p.add_argument("--stop-updates", type=int, default=100_000)
    p.add_argument("--gpus-per-trial", type=float, default=0)
    p.add_argument("--output", default="runs")
    p.add_argument("--smoke", action="store_true", help="tiny networks and run (CI)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    import ray
    from ray import tune

    import rllib_tmd  # noqa: F401  (registers TMD with Tune)
    from rllib_tmd.csv_logger import WideningCSVLoggerCallback

    args = parse_args(argv)
    config = {
        "input_": str(Path(args.dataset).resolve()),
        "zeta": tune.grid_search(args.zetas),
        "alpha": tune.grid_search(args.alphas),
        "num_gpus_per_learner": args.gpus_per_trial,
        "evaluation_interval": 1 if args.smoke else 100,
        **(SMOKE if args.smoke else {}),
    }
    stop = {"num_updates_lifetime": 20 if args.smoke else args.stop_updates}
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    trials = tune.run_experiments(
        {
            "tmd-zeta-alpha": {
                "run": "TMD",
                "config": config,
                "stop": stop,
                "storage_path": str(Path(args.output).resolve()),
            }
        },
        callbacks=[WideningCSVLoggerCallback()],  # keeps the evaluation columns in progress.csv
        verbose=0,
    )
    rows = []
    for trial in trials:
        result = trial.last_result or {}
        success = result.get("evaluation", {}).get("ogbench", {}).get("success/overall")
        rows.append(
            {
                "zeta": trial.config["zeta"],
                "alpha": trial.config["alpha"],
                "updates": int(result.get("num_updates_lifetime", 0)),
                "success": success,
            }
        )
    print("| zeta | alpha | updates | success % |\n|---|---|---|---|")
    for row in rows:
        pct = "-" if row["success"] is None else f"{100 * row['success']:.1f}"
        print(f"| {row['zeta']} | {row['alpha']} | {row['updates']} | {pct} |")
    scored = [r for r in rows if r["success"] is not None]
    if scored:
        best = max(scored, key=lambda r: r["success"])
        print(
            f"best: zeta={best['zeta']} alpha={best['alpha']} success={100 * best['success']:.1f}%"
        )
    return rows


if __name__ == "__main__":
    main()
