"""Tile-size sweep of the fused MRN kernels at TMD's default shape (CUDA).

    python benchmarks/mrn_kernel_sweep.py --batch 512 --out benchmarks/results/mrn_kernel_sweep.json

Times the forward (with argmax saved, as in training) over forward configs, then forward +
backward over backward configs with the best forward, each as the sum of its GPU kernels'
time (profiler); checks every config's gradients against the package default. Prints the
fastest configs and writes all rows. Used to choose ``MRNKernelConfig``'s defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rllib_tmd.quasimetric.fused.mrn_triton import (  # noqa: E402
    DEFAULT_CONFIG,
    MRNKernelConfig,
    mrn_pairwise_triton,
)


def run(x, y, g, cfg: MRNKernelConfig, max_dim: int, k: int, backward: bool):
    out = mrn_pairwise_triton(x, y, num_components=k, max_dim=max_dim, config=cfg)
    if backward:
        return torch.autograd.grad(out, (x, y), g)
    return (out,)


def kernel_ms(fn, repeats: int = 20) -> float:
    """GPU kernel time per call of ``fn`` (sum over its kernels, from the profiler): host
    overhead (autograd, launches) is left out, as it is inside the training step's graph."""
    fn()
    torch.cuda.synchronize()
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    return sum(e.self_device_time_total for e in events) / repeats / 1e3


def time_config(x, y, g, cfg, max_dim, k, backward, reference) -> dict:
    row = {"config": dataclasses.asdict(cfg), "backward": backward}
    try:
        got = run(x, y, g, cfg, max_dim, k, backward)
        row["max_abs_diff"] = max(float((a - b).abs().max()) for a, b in zip(got, reference))
        row["ms"] = kernel_ms(lambda: run(x, y, g, cfg, max_dim, k, backward))
    except Exception as err:  # a config the compiler rejects (registers, shared memory)
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--ensemble", type=int, default=2)
    p.add_argument("--latent-dim", type=int, default=512)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--out", default=str(REPO / "benchmarks/results/mrn_kernel_sweep.json"))
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    k, b = args.components, args.batch
    max_dim = args.latent_dim // k // 2
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(args.ensemble, b, args.latent_dim, device="cuda", generator=gen)
    y = torch.randn(args.ensemble, b, args.latent_dim, device="cuda", generator=gen)
    x.requires_grad_()
    y.requires_grad_()
    g = torch.randn(args.ensemble, b, b, device="cuda", generator=gen)
    rows = []
    ref_fwd = run(x, y, g, DEFAULT_CONFIG, max_dim, k, False)
    fwd_grid = itertools.product((64, 128), (32, 64, 128), (4, 8), (None, 1, 2, 4))
    for bb, bc, warps, split in fwd_grid:
        cfg = dataclasses.replace(
            DEFAULT_CONFIG, block_b=bb, block_c=bc, num_warps=warps, k_split=split
        )
        rows.append(time_config(x, y, g, cfg, max_dim, k, False, ref_fwd))
        print(json.dumps(rows[-1]), flush=True)
    ok = [r for r in rows if "ms" in r and r["max_abs_diff"] < 1e-4]
    best_fwd = min(ok, key=lambda r: r["ms"])["config"]
    base = MRNKernelConfig(**best_fwd)
    ref_bwd = run(x, y, g, DEFAULT_CONFIG, max_dim, k, True)
    bwd_grid = itertools.product((16, 32, 64), (32, 64), (4, 8), (None, 2, 4, 8), (0, 8))
    for other, own, warps, split, sub in bwd_grid:
        cfg = dataclasses.replace(
            base,
            bwd_block_other=other,
            bwd_block_own=own,
            bwd_num_warps=warps,
            bwd_split=split,
            bwd_sub_rows=sub,
        )
        rows.append(time_config(x, y, g, cfg, max_dim, k, True, ref_bwd))
        print(json.dumps(rows[-1]), flush=True)
    default_fwd = time_config(x, y, g, DEFAULT_CONFIG, max_dim, k, False, ref_fwd)
    default_bwd = time_config(x, y, g, DEFAULT_CONFIG, max_dim, k, True, ref_bwd)
    ok_bwd = [r for r in rows if r["backward"] and "ms" in r and r["max_abs_diff"] < 1e-3]
    top = sorted(ok_bwd, key=lambda r: r["ms"])[:5]
    summary = {
        "device": torch.cuda.get_device_name(),
        "shape": {"E": args.ensemble, "B": b, "D": args.latent_dim, "K": k},
        "default_forward_ms": default_fwd.get("ms"),
        "default_forward_backward_ms": default_bwd.get("ms"),
        "best_forward": min(ok, key=lambda r: r["ms"]),
        "best_forward_backward": top,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
