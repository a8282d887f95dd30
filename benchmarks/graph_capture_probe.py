"""Diagnostic: does the data-parallel lean update capture as CUDA graphs outside Ray?

Each variant starts ``--world`` processes with ``torch.distributed`` (NCCL on GPUs, gloo with
``--cpu``), every GPU visible to every process (as under Ray Train), rank ``r`` on ``cuda:r``.
Each builds a TMD learner with ``num_learners = world`` (so it runs the data-parallel lean
path) directly, without Ray, runs a few updates and reports its update path, the capture
error if any, and its updates/s. Variants:

* ``default``: as the product runs it.
* ``local_sync``: the gradient sync replaced by a local no-op of the same shape (no NCCL
  call anywhere), isolating the collective from the device placement.
* ``relaxed``: capture with ``capture_error_mode="relaxed"``.
* ``global``: capture with ``capture_error_mode="global"``.

    python benchmarks/graph_capture_probe.py --world 2 --variants default local_sync relaxed

Prints one JSON line per rank and variant; ``--out`` collects them.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import synthetic_dataset, tmd_config  # noqa: E402

VARIANTS = ("default", "local_sync", "relaxed", "global")


def patch_capture_mode(mode: str) -> None:
    """Makes ``fast_update.record_graph`` capture with ``mode``."""
    from rllib_tmd.tmd.torch import fast_update

    fast_update.record_graph = functools.partial(fast_update.record_graph, capture_error_mode=mode)


def keep_capture_tracebacks(row: dict) -> None:
    """Puts the traceback of a failed warm-up/capture into ``row["capture_traceback"]``."""
    from rllib_tmd.tmd.torch import fast_update

    disable = fast_update.FastUpdater._disable_graph

    def recording_disable(self, reason: str) -> None:
        row["capture_traceback"] = traceback.format_exc()[-3000:]
        disable(self, reason)

    fast_update.FastUpdater._disable_graph = recording_disable


def local_sync(grads: list[torch.Tensor]) -> None:
    """Same shape of work as the all-reduce average, without any collective."""
    for g in grads:
        g.mul_(1.0)


def worker(rank: int, args: argparse.Namespace, variant: str, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    row: dict = {"variant": variant, "rank": rank, "world": args.world}
    try:
        backend = "gloo" if args.cpu else "nccl"
        if not args.cpu:
            torch.cuda.set_device(rank)
        dist.init_process_group(backend, rank=rank, world_size=args.world)
        if variant in ("relaxed", "global"):
            patch_capture_mode(variant)
        keep_capture_tracebacks(row)
        device = "cpu" if args.cpu else "cuda"
        config = tmd_config(Path(args.dataset), args.batch, device, args.model, {}, args.seed)
        config.learners(
            num_learners=args.world if args.world > 1 else 0,
            num_gpus_per_learner=0 if args.cpu else 1,
            local_gpu_idx=0 if args.cpu else rank,
        )
        config.validate()  # fills the spaces from the dataset
        learner = config.build_learner()
        if variant == "local_sync":
            learner._fast_updater.step.grad_sync = local_sync
        learner.run_updates(8)  # warm-up + capture
        if not args.cpu:
            torch.cuda.synchronize()
        start = time.perf_counter()
        learner.run_updates(args.updates)
        if not args.cpu:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        updater = learner._fast_updater
        row.update(
            device=str(learner._device),
            path=learner.update_path,
            graph_error=getattr(updater, "graph_error", None),
            updates_per_s=args.updates / elapsed,
        )
    except Exception as err:  # reported, not raised: the other variants go on
        row.update(error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc()[-2000:])
    queue.put(row)
    if dist.is_initialized():
        dist.destroy_process_group()


def run_variant(args: argparse.Namespace, variant: str, port: int) -> list[dict]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(r, args, variant, port, queue)) for r in range(args.world)
    ]
    for p in procs:
        p.start()
    rows = []
    for _ in procs:
        try:
            rows.append(queue.get(timeout=args.timeout))
        except Exception:  # a hung rank
            rows.append({"variant": variant, "error": f"no result within {args.timeout} s"})
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    return sorted(rows, key=lambda r: r.get("rank", -1))


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--model", default="default")
    p.add_argument("--updates", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--dataset", default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.dataset is None:
        root = Path(tempfile.gettempdir()) / "rllib-tmd-bench"
        args.dataset = str(synthetic_dataset(root, seed=args.seed))
    rows = []
    for i, variant in enumerate(args.variants):
        for row in run_variant(args, variant, 29500 + i):
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.out:
                Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
