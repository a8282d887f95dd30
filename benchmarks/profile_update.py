"""Where one TMD update spends its GPU time: torch.profiler over the lean eager loop.

    python benchmarks/profile_update.py --batch-size 512 --out profile.txt

Prints (and writes) the kernels sorted by total CUDA time for ``--updates`` updates after a
warm-up, plus the per-update total and the per-update GPU busy time (the union of the kernels'
intervals: less than the total where kernels overlap, e.g. on the parallel branches' streams).
Diagnostic only; the numbers to report come from ``benchmarks/throughput.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from throughput import IMPLS, ensure_ray, synthetic_dataset, tmd_config  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--mode", default="fused", choices=list(IMPLS))
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--rows", type=int, default=35)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    ensure_ray()
    dataset = synthetic_dataset(Path(tempfile.gettempdir()) / "rllib-tmd-bench")
    config = tmd_config(dataset, args.batch_size, "cuda", "default", IMPLS[args.mode], 0)
    for pair in args.set:
        key, _, value = pair.partition("=")
        setattr(config, key, yaml.safe_load(value))  # as `--override` parses values
    config.validate()
    learner = config.build_learner()
    learner.run_updates(10)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        learner.run_updates(args.updates)
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_device_time_total", row_limit=args.rows)
    events = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    total_us = sum(e.self_device_time_total for e in events)
    busy_us = busy_time_us(prof)
    summary = (
        f"B={args.batch_size} mode={args.mode} set={args.set}: "
        f"{total_us / args.updates / 1e3:.3f} ms of kernel time per update, GPU busy "
        f"{busy_us / args.updates / 1e3:.3f} ms per update"
    )
    text = f"{summary}\n{table}\n{summary}\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


def busy_time_us(prof: torch.profiler.profile) -> float:
    """Length of the union of every CUDA kernel's ``[start, end]`` interval, in us."""
    spans = sorted(
        (e.time_range.start, e.time_range.end)
        for e in prof.events()
        if e.device_type == torch.autograd.DeviceType.CUDA
    )
    busy, reach = 0.0, float("-inf")
    for start, end in spans:
        if end > reach:
            busy += end - max(start, reach)
            reach = end
    return busy


if __name__ == "__main__":
    main()
