"""Data-parallel scaling of TMD training: updates/s and samples/s with 1, 2, ... GPU learners.

Each row builds ``TMD`` with ``num_learners = gpus`` (one GPU each, DDP across them; every
learner samples its own batches of ``--batch-per-gpu`` from its own GPU-resident copy of the
data), runs one warm-up iteration, then times ``TMD.train()`` iterations for ``--seconds``.
``updates_per_s`` counts synchronous DDP steps; ``samples_per_s = updates_per_s * gpus *
batch_per_gpu``; ``efficiency`` = samples/s over ``gpus`` x the 1-GPU row of the same variant.

Variants per GPU count: ``fast`` (the default config: on one GPU the update is one CUDA
graph; with N learners two graphs around one eager gradient all-reduce) and, with
``--same-path``, ``eager`` (cuda_graph off everywhere, isolating the cost of the all-reduce
from the graphs).
``--global-negatives`` adds rows with the contrastive loss over all learners' state-actions.

    python benchmarks/scaling.py --gpus 1 2 --batch-per-gpu 512 --same-path --global-negatives

Writes ``--out`` (default ``benchmarks/results/scaling.json``) and ``.md``; prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import MODELS, machine_info, synthetic_dataset  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch-per-gpu", type=int, default=512)
    p.add_argument("--model", choices=list(MODELS), default="default")
    p.add_argument("--seconds", type=float, default=15.0, help="timed seconds per row")
    p.add_argument("--updates-per-iteration", type=int, default=500)
    p.add_argument("--same-path", action="store_true", help="also rows with cuda_graph off")
    p.add_argument("--global-negatives", action="store_true", help="also global-negative rows")
    p.add_argument("--cpu", action="store_true", help="CPU learners (gloo), for a smoke test")
    p.add_argument("--dataset", default=None, help="default: synthetic pointmaze-shaped .npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scaling.json"))
    return p.parse_args(argv)


VARIANTS: dict[str, dict[str, Any]] = {
    "fast": {},
    "eager": {"cuda_graph": False},
    "global_negatives": {"global_negatives": True},
}


def build(args, dataset: Path, gpus: int, flags: dict[str, Any]):
    from rllib_tmd import TMDConfig

    config = (
        TMDConfig()
        .offline_data(input_=str(dataset))
        .training(
            train_batch_size_per_learner=args.batch_per_gpu,
            updates_per_iteration=args.updates_per_iteration,
            ogbench_env="",
            **MODELS[args.model],
            **flags,
        )
        .learners(
            num_learners=gpus,
            num_gpus_per_learner=0 if args.cpu else 1,
            num_cpus_per_learner=1,
        )
        .debugging(seed=args.seed)
    )
    return config.build_algo()


def measure(args, dataset: Path, gpus: int, variant: str) -> dict[str, Any]:
    algo = build(args, dataset, gpus, VARIANTS[variant])
    try:
        algo.train()  # warm-up: Triton compiles, graph capture, NCCL/gloo setup
        iterations, start = 0, time.perf_counter()
        while True:
            algo.train()
            iterations += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.seconds and iterations >= 2:
                break
        paths = [r.get() for r in algo.learner_group.foreach_learner(lambda lr: lr.update_path)]
        graph_errors = [
            r.get()
            for r in algo.learner_group.foreach_learner(
                lambda lr: getattr(getattr(lr, "_fast_updater", None), "graph_error", None)
            )
        ]
    finally:
        algo.stop()
    updates_per_s = iterations * args.updates_per_iteration / elapsed
    return {
        "gpus": gpus,
        "variant": variant,
        "batch_per_gpu": args.batch_per_gpu,
        "updates_per_s": updates_per_s,
        "samples_per_s": updates_per_s * gpus * args.batch_per_gpu,
        "update_path": sorted(set(paths)),
        "graph_error": next((e for e in graph_errors if e), None),
        "graph_errors_by_learner": graph_errors,
        "timed_s": elapsed,
        "status": "ok",
    }


def add_efficiency(rows: list[dict]) -> None:
    """``efficiency`` = samples/s / (gpus x samples/s of the 1-GPU row of the same variant)."""
    for row in rows:
        base = next(
            (
                r
                for r in rows
                if r["variant"] == row["variant"] and r["gpus"] == 1 and r["status"] == "ok"
            ),
            None,
        )
        if row["status"] == "ok" and base is not None:
            row["efficiency"] = row["samples_per_s"] / (row["gpus"] * base["samples_per_s"])
            row["speedup"] = row["samples_per_s"] / base["samples_per_s"]


def table(rows: list[dict]) -> str:
    lines = [
        "| variant | GPUs | batch/GPU | updates/s | samples/s | speedup | efficiency | path |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['variant']} | {r['gpus']} | {r['batch_per_gpu']} | "
                         f"{r['status']} | | | | |")  # fmt: skip
            continue
        lines.append(
            f"| {r['variant']} | {r['gpus']} | {r['batch_per_gpu']} | {r['updates_per_s']:.1f} | "
            f"{r['samples_per_s']:,.0f} | {r.get('speedup', 0):.2f}x | "
            f"{r.get('efficiency', 0):.2f} | {'/'.join(r['update_path'])} |"
        )
    return "\n".join(lines)


def write_results(args, available: int, rows: list[dict], total_s: float) -> dict:
    """Speedups/efficiencies filled in, then ``--out`` (JSON) and its ``.md`` written."""
    for row in rows:  # global-negative rows compare with the 1-GPU fast row
        if row["variant"] == "global_negatives" and row["status"] == "ok":
            base = next((r for r in rows if r["variant"] == "fast" and r["gpus"] == 1), None)
            if base and base["status"] == "ok":
                row["speedup"] = row["samples_per_s"] / base["samples_per_s"]
                row["efficiency"] = row["speedup"] / row["gpus"]
    add_efficiency([r for r in rows if r["variant"] != "global_negatives"])
    info = machine_info("cpu" if args.cpu else "cuda", argparse.Namespace(**vars(args)))
    result = {
        "device": info.get("gpu", "cpu"),
        "gpus_available": available,
        "machine": info,
        "target": "samples/s on 2 GPUs >= 1.8x one GPU (fast path)",
        "total_s": total_s,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(
        f"# TMD data-parallel scaling ({result['device']}, model {args.model})\n\n"
        f"command: `python benchmarks/scaling.py {' '.join(sys.argv[1:])}`\n\n{table(rows)}\n"
    )
    return result


def main(argv: list[str] | None = None) -> dict:
    import ray

    args = parse_args(argv)
    available = 0 if args.cpu else torch.cuda.device_count()
    dataset = (
        Path(args.dataset)
        if args.dataset
        else synthetic_dataset(Path(tempfile.gettempdir()) / "rllib-tmd-bench", seed=args.seed)
    )
    cpus = max(args.gpus) + 2
    ray.init(num_cpus=cpus, num_gpus=available, include_dashboard=False, log_to_driver=False)
    variants = ["fast", *(["eager"] if args.same_path else [])]
    variants += ["global_negatives"] if args.global_negatives else []
    rows: list[dict] = []
    start = time.perf_counter()
    for variant in variants:
        for gpus in sorted(args.gpus):
            if variant == "global_negatives" and gpus == 1:
                continue  # identical to "fast" on one learner
            if not args.cpu and gpus > available:
                row = {"gpus": gpus, "variant": variant, "batch_per_gpu": args.batch_per_gpu}
                rows.append({**row, "status": f"skipped ({available} GPUs here)"})
                continue
            try:
                row = measure(args, dataset, gpus, variant)
            except Exception as err:  # recorded, the benchmark goes on
                row = {
                    "gpus": gpus,
                    "variant": variant,
                    "batch_per_gpu": args.batch_per_gpu,
                    "status": f"error: {type(err).__name__}: {str(err)[:300]}",
                }
            rows.append(row)
            print(json.dumps(row), flush=True)
            write_results(args, available, rows, time.perf_counter() - start)  # partial
    result = write_results(args, available, rows, time.perf_counter() - start)
    text = table(result["rows"])
    print(text)
    ray.shutdown()
    return result


if __name__ == "__main__":
    main()
