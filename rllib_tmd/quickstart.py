"""The quickstart job: make a small pointmaze dataset, train TMD on a local Ray for a few
minutes on the CPU, evaluate on OGBench's 5 tasks, print a success table and how well the
learned distance orders the maze's cells (its rank correlation with the walking distance).

Run as ``rllib-tmd quickstart`` (see ``--help``). Everything it writes goes under ``--out``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rllib_tmd.progress import ProgressLine
from rllib_tmd.tmd import TMDConfig

# A CPU-sized TMD: same losses and defaults, smaller networks and batch. On the 2-core CPU
# machine batch 128 runs 27-38 updates/s (batch 256: ~10, the B x B distances dominate). Three
# 4-minute runs: 7,800 / 8,900 / 6,600 updates, success 0.38 / 0.20 / 0.32 over 5 tasks x 10
# episodes (the run stops on time, so the update count varies); batch 256: 2,250 and 0.02.
CPU_QUICKSTART_TRAINING: dict[str, Any] = {
    "latent_dim": 64,
    "hidden_dims": (256, 256),
    "actor_hidden_dims": (256, 256),
    "train_batch_size_per_learner": 128,
    "alpha": 0.03,  # pointmaze value of the paper (spec, paper_numbers.md)
    "updates_per_iteration": 100,
    # torch.compile of forward + loss on the CPU too: ~30 s to compile, then ~1.5x the
    # updates/s of eager (87-91 vs ~61 on the 2-core machine): in 4 minutes 19,100 updates
    # against 14,600 eager (session 16).
    # A machine where compiling fails runs eager (fast_update.CompiledTermsFn).
    "torch_compile_update": True,
}


def ensure_dataset(name: str, data_dir: Path, episodes: int, seed: int) -> Path:
    """Parquet dataset folder for ``name`` under ``data_dir``, generated if missing."""
    from rllib_tmd.data.catalog import make_dataset

    parquet_dir = data_dir / name
    if not (parquet_dir / "metadata.json").exists():
        print(f"Generating {name} ({episodes} episodes) into {data_dir} ...", flush=True)
        make_dataset(name, data_dir, episodes=episodes, seed=seed)
    return parquet_dir


def build_quickstart_config(dataset_dir: Path, seed: int, **overrides: Any) -> TMDConfig:
    """The quickstart's TMDConfig: CPU-sized networks, one local learner."""
    return (
        TMDConfig()
        .offline_data(input_=str(dataset_dir))
        .training(**{**CPU_QUICKSTART_TRAINING, **overrides})
        .learners(num_learners=0)
        .debugging(seed=seed)
    )


def run_quickstart(
    out_dir: str = "runs/quickstart",
    dataset: str = "pointmaze-medium-navigate-v0",
    episodes: int = 100,
    minutes: float = 4.0,
    eval_episodes: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Runs the whole job; returns the evaluation metrics and where things were written."""
    import ray

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dataset_dir = ensure_dataset(dataset, out / "datasets", episodes, seed)
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = build_quickstart_config(dataset_dir, seed).build_algo()
    progress = ProgressLine(algo.config.updates_per_iteration)
    print(
        f"Training for {minutes:g} minutes; the first iteration compiles the update "
        "(~30 s on 2 cores), the progress line follows.",
        flush=True,
    )
    deadline = time.perf_counter() + 60.0 * minutes
    history = []
    while time.perf_counter() < deadline:
        result = algo.train()
        progress.update(result)
        history.append(result)
    checkpoint = algo.save(str(out / "checkpoint")).checkpoint.path
    print(f"Evaluating on 5 tasks x {eval_episodes} episodes ...", flush=True)
    evaluation = algo.evaluate_ogbench(episodes_per_task=eval_episodes, record_paths=5)
    print(evaluation.format_table())
    maze_map = algo.maze_map(evaluation, out / "maze_map.png")
    metrics = {
        "dataset": dataset,
        "updates": history[-1]["num_updates_lifetime"] if history else 0,
        "train_seconds": 60.0 * minutes,
        "evaluation": evaluation.as_metrics(),
        "checkpoint": str(checkpoint),
        "maze_map": str(maze_map),
    }
    metrics.update(algo.critic_check())
    print_critic_check(metrics)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(
        f"Checkpoint: {checkpoint}\nMetrics:    {out / 'metrics.json'}\n"
        f"Maze map:   {maze_map} (policy paths over the learned distance to each goal)",
        flush=True,
    )
    algo.stop()
    return metrics


def print_critic_check(metrics: dict[str, Any]) -> None:
    """Prints the critic's checks, when ``TMD.critic_check`` gave them."""
    from rllib_tmd.envs.maze_distances import DESCENT_KEY, METRIC_KEY

    if METRIC_KEY in metrics:
        print(
            f"Critic: Spearman's rho between the learned distance d(s, g) and the maze's "
            f"walking distance over all pairs of cells: {metrics[METRIC_KEY]:.2f} "
            "(1 = same order, 0 = unrelated)",
            flush=True,
        )
    tasks = sorted(k for k in metrics if k.startswith(f"{DESCENT_KEY}/task"))
    if tasks:
        reached = [k.rsplit("task", 1)[1] for k in tasks if metrics[k] == 1.0]
        print(
            f"Critic: walking downhill on the learned distance, cell by cell, reaches the goal "
            f"of {len(reached)} of {len(tasks)} tasks ({', '.join(reached) or 'none'})",
            flush=True,
        )
