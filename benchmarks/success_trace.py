"""Success over training on the CPU: the quickstart's small TMD, evaluated every N updates.

    python benchmarks/success_trace.py --data datasets/pointmaze-medium-navigate-v0 \\
        --minutes 45 --every 5000 --out trace.json [--override zeta=0.1 ...]

Trains the CPU-sized TMD of ``rllib_tmd/quickstart.py`` (latent 64, 2x256 MLPs, batch 128;
``--override`` changes any training key) on a Parquet dataset folder for ``--minutes``, and
after every ``--every`` updates runs OGBench's evaluation (``--episodes`` per task) and, on
pointmaze, the critic's checks. Each evaluation is printed as a JSON line and the whole trace
is rewritten to ``--out`` (a run cut short keeps what it had): update count, minutes,
success per task and overall, stalled share, Spearman's rho with the BFS distance, the
contrastive loss and the actor's action MSE. A progress line per iteration goes to stderr.
On the 2-core machine the quickstart's sizes run ~90 updates/s between evaluations, compiled
(the first iteration compiles for ~30 s; `--override torch_compile_update=false`: ~60, eager).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def trace_point(algo: Any, result: dict[str, Any], episodes: int, t0: float) -> dict[str, Any]:
    """One evaluation of ``algo`` after the training ``result`` it just returned."""
    from rllib_tmd.tmd.tmd_learner import ACTOR_ACTION_MSE, CONTRASTIVE_LOSS

    evaluation = algo.evaluate_ogbench(episodes_per_task=episodes).as_metrics()
    learner = result["learners"]["default_policy"]
    return {
        "updates": int(result["num_updates_lifetime"]),
        "minutes": round((time.perf_counter() - t0) / 60.0, 2),
        **{k: v for k, v in evaluation.items() if k.startswith(("success/", "stalled/"))},
        **algo.critic_check(),
        CONTRASTIVE_LOSS: learner[CONTRASTIVE_LOSS],
        ACTOR_ACTION_MSE: learner[ACTOR_ACTION_MSE],
    }


def run(
    data: Path,
    minutes: float,
    every: int,
    episodes: int,
    overrides: dict[str, Any],
    out: Path,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Trains and evaluates until ``minutes`` have passed; returns the trace."""
    import ray

    from rllib_tmd.progress import ProgressLine
    from rllib_tmd.quickstart import build_quickstart_config

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    algo = build_quickstart_config(data, seed, **overrides).build_algo()
    t0, rows, next_eval = time.perf_counter(), [], every
    progress = ProgressLine(algo.config.updates_per_iteration, stream=sys.stderr)
    try:
        while time.perf_counter() - t0 < 60.0 * minutes:
            result = algo.train()
            progress.update(result)
            if result["num_updates_lifetime"] >= next_eval:
                next_eval += every
                rows.append(trace_point(algo, result, episodes, t0))
                print(json.dumps(rows[-1]), flush=True)
                out.write_text(json.dumps(rows, indent=1) + "\n")
    finally:
        algo.stop()
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    from rllib_tmd.experiments import apply_overrides

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="Parquet dataset folder")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--every", type=int, default=5000, help="updates between evaluations")
    p.add_argument("--episodes", type=int, default=10, help="per task")
    p.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0, help="the trial's seed")
    args = p.parse_args(argv)
    overrides = apply_overrides({"config": {}}, args.override)["config"]  # as train checks them
    if not args.data.is_dir():
        raise SystemExit(
            f"--data {args.data}: no such dataset folder; make one with\n"
            f"  rllib-tmd make-dataset {args.data.name} --out {args.data.parent}"
        )
    return run(args.data, args.minutes, args.every, args.episodes, overrides, args.out, args.seed)


if __name__ == "__main__":
    main()
