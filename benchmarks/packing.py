"""Several independent TMD runs on one GPU: aggregate updates/s when K learners share a card.

At B = 512 one TMD update keeps an H100 far from busy (its GEMMs are 512 x 512 tiles, most
other kernels last a few microseconds), so seeds packed side by side on one GPU may cost less
than K times one run. Each of K learners (own seed, own module, optimizer, sampler and CUDA
graph) is driven by its own host thread on its own CUDA stream, so the K graphs' kernels may
overlap on the device. Processes would not overlap without MPS (time slicing), hence threads.

    python benchmarks/packing.py --runs 1 2 4 8 --batch-size 512

For each K: aggregate updates/s, per-run updates/s, and the speed-up over K = 1. Writes
``--out`` (JSON) and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import (  # noqa: E402
    IMPLS,
    WARMUP_UPDATES,
    ensure_ray,
    machine_info,
    synthetic_dataset,
    tmd_config,
)


def build_learners(dataset: Path, count: int, args: argparse.Namespace) -> list:
    """``count`` learners with seeds ``seed .. seed + count - 1``, warmed up one at a time
    (graph capture uses one capture stream, so captures must not overlap)."""
    learners = []
    for k in range(count):
        config = tmd_config(
            dataset, args.batch_size, "cuda", args.model, IMPLS[args.impl], args.seed + k
        )
        config.validate()
        learner = config.build_learner()
        learner.run_updates(WARMUP_UPDATES)
        learners.append(learner)
    torch.cuda.synchronize()
    return learners


def run_side_by_side(learners: list, updates: int) -> float:
    """Every learner runs ``updates`` updates in its own thread and stream; wall seconds."""
    streams = [torch.cuda.Stream() for _ in learners]
    errors: list[BaseException] = []

    def work(learner, stream) -> None:
        try:
            with torch.cuda.stream(stream):
                learner.run_updates(updates)
            stream.synchronize()
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(learners, streams)]
    torch.cuda.synchronize()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    torch.cuda.synchronize()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--impl", choices=list(IMPLS), default="fused")
    p.add_argument("--model", default="default")
    p.add_argument("--updates", type=int, default=2000, help="timed updates per run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "packing.json"))
    args = p.parse_args()
    args.seconds = None  # machine_info's field for timed-cell length; not used here
    ensure_ray()
    dataset = synthetic_dataset(Path(tempfile.gettempdir()) / "rllib-tmd-bench")
    rows = []
    for count in args.runs:
        learners = build_learners(dataset, count, args)
        run_side_by_side(learners, 50)  # first threaded replays (allocator, streams)
        seconds = run_side_by_side(learners, args.updates)
        total = count * args.updates / seconds
        rows.append(
            {
                "runs": count,
                "batch": args.batch_size,
                "impl": args.impl,
                "aggregate_updates_per_s": total,
                "updates_per_s_per_run": total / count,
                "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
                "paths": sorted({learner.update_path for learner in learners}),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        del learners
        torch.cuda.empty_cache()
    base = rows[0]["aggregate_updates_per_s"] / rows[0]["runs"]
    for row in rows:
        row["aggregate_vs_one_run"] = row["aggregate_updates_per_s"] / base
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_info("cuda", args), "rows": rows}, indent=2))
    lines = [
        f"# Runs packed on one GPU ({torch.cuda.get_device_name()}, B={args.batch_size}, "
        f"{args.impl})",
        "",
        f"command: `python benchmarks/packing.py --runs {' '.join(map(str, args.runs))} "
        f"--batch-size {args.batch_size} --impl {args.impl}`",
        "",
        "| runs | aggregate updates/s | updates/s per run | vs one run | peak GiB |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['runs']} | {r['aggregate_updates_per_s']:.0f} | "
            f"{r['updates_per_s_per_run']:.0f} | {r['aggregate_vs_one_run']:.2f}x | "
            f"{r['peak_mem_gib']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
