"""GPU check of the fused pairwise MRN or IQE kernels against the plain-torch reference.

``--head`` picks the head (MRN: every ``--variants``; IQE: the component lengths plus the
torch maxmean with alpha = 0.5). For each batch size B (C = B, E members, latent D, K
components) it reports the relative error of the fused forward and of both input gradients
against the reference (computed in float64 on upcast inputs when that fits), and times
forward and forward+backward of both paths with ``triton.testing.do_bench`` (median, ms). A
path that runs out of memory is recorded as "OOM".

    python benchmarks/quasimetric_kernels.py --out benchmarks/results
    python benchmarks/quasimetric_kernels.py --sizes 512 2048 --configs 64x64x4 128x64x8
    python benchmarks/quasimetric_kernels.py --head iqe --sizes 256 512 1024 --check-max-b 1024
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import types

import torch

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)


def _import_package_root() -> None:
    """Import rllib_tmd; without its heavy dependencies (ray), load only the subpackages."""
    try:
        import rllib_tmd  # noqa: F401
    except ImportError as err:
        print(f"note: 'import rllib_tmd' failed ({err}); loading rllib_tmd.quasimetric alone")
        stub = types.ModuleType("rllib_tmd")
        stub.__path__ = [os.path.join(REPO, "rllib_tmd")]
        sys.modules["rllib_tmd"] = stub


_import_package_root()

from rllib_tmd.quasimetric.iqe import IQE, iqe_components_pairwise  # noqa: E402
from rllib_tmd.quasimetric.mrn import mrn_pairwise_reference, split_widths  # noqa: E402

OOM = "OOM"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--head", choices=["mrn", "iqe"], default="mrn")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096, 8192])
    p.add_argument("--ensemble", type=int, default=2)
    p.add_argument("--latent-dim", type=int, default=512)
    p.add_argument("--components", type=int, default=8)
    p.add_argument("--variants", nargs="+", default=["max+l2", "max"], help="MRN only")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument(
        "--configs",
        nargs="+",
        default=None,
        help="fused kernel configs BBxBCxWARPS (default: the package default)",
    )
    p.add_argument("--check-max-b", type=int, default=2048, help="largest B checked in float64")
    p.add_argument("--skip-reference-above", type=int, default=8192)
    p.add_argument("--rep-ms", type=int, default=200)
    p.add_argument("--out", default=None, help="folder for quasimetric_kernels.json")
    return p.parse_args(argv)


def config_class():
    """The kernel config dataclass of the chosen head."""
    if ARGS.head == "iqe":
        from rllib_tmd.quasimetric.fused.iqe_triton import IQEKernelConfig

        return IQEKernelConfig
    from rllib_tmd.quasimetric.fused.mrn_triton import MRNKernelConfig

    return MRNKernelConfig


def parse_config(text: str):
    bb, bc, warps = (int(v) for v in text.lower().split("x"))
    return config_class()(block_b=bb, block_c=bc, num_warps=warps)


def head_paths(variant: str):
    """(reference, make_fused): reference and make_fused(config) map (x, y) -> [E, B, C]."""
    d, k = ARGS.latent_dim, ARGS.components
    if ARGS.head == "iqe":
        from rllib_tmd.quasimetric.fused.iqe_triton import iqe_components_triton

        maxmean = IQE(d, num_components=k, impl="torch").cuda()._maxmean

        def reference(a, c):
            return maxmean(iqe_components_pairwise(a, c, k))

        def make_fused(cfg):
            return lambda a, c: maxmean(iqe_components_triton(a, c, num_components=k, config=cfg))

        return reference, make_fused
    from rllib_tmd.quasimetric.fused.mrn_triton import mrn_pairwise_triton

    max_dim, _ = split_widths(d, k, variant)

    def reference(a, c):
        return mrn_pairwise_reference(a, c, k, max_dim)

    def make_fused(cfg):
        return lambda a, c: mrn_pairwise_triton(a, c, num_components=k, max_dim=max_dim, config=cfg)

    return reference, make_fused


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def fwd_bwd(fn, x, y, g):
    out = fn(x, y)
    dx, dy = torch.autograd.grad(out, (x, y), g)
    return out, dx, dy


def bench(fn) -> float | str:
    from triton.testing import do_bench

    try:
        torch.cuda.synchronize()
        return float(do_bench(fn, warmup=25, rep=ARGS.rep_ms, return_mode="median"))
    except torch.OutOfMemoryError:
        return OOM
    finally:
        torch.cuda.empty_cache()


def peak_mib(fn) -> float | str:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    try:
        fn()
        torch.cuda.synchronize()
    except torch.OutOfMemoryError:
        return OOM
    finally:
        torch.cuda.empty_cache()
    return round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)


def check_errors(b: int, ref_fn, fused_fn, x, y, g) -> dict:
    """Relative errors of the fused path against the float64 reference."""
    if b > ARGS.check_max_b:
        return {"check": "skipped (B > --check-max-b)"}
    try:
        x64 = x.detach().double().requires_grad_()
        y64 = y.detach().double().requires_grad_()
        ref = fwd_bwd(ref_fn, x64, y64, g.double())
        got = fwd_bwd(fused_fn, x, y, g)
        torch.cuda.synchronize()
        return {
            "rel_err_out": rel_err(got[0], ref[0]),
            "rel_err_dx": rel_err(got[1], ref[1]),
            "rel_err_dy": rel_err(got[2], ref[2]),
            "all_finite": bool(all(torch.isfinite(t).all() for t in got)),
        }
    except torch.OutOfMemoryError:
        return {"check": OOM}
    finally:
        torch.cuda.empty_cache()


def run_size(b: int, variant: str, configs) -> list[dict]:
    dtype = getattr(torch, ARGS.dtype)
    e, d = ARGS.ensemble, ARGS.latent_dim
    reference, make_fused = head_paths(variant)
    gen = torch.Generator(device="cuda").manual_seed(b)
    x = torch.randn(e, b, d, device="cuda", generator=gen).to(dtype).requires_grad_()
    y = torch.randn(e, b, d, device="cuda", generator=gen).to(dtype).requires_grad_()
    g = torch.randn(e, b, b, device="cuda", generator=gen).to(dtype)
    rows = []
    ref_row = {"B": b, "variant": variant, "impl": "torch"}
    if b <= ARGS.skip_reference_above:
        with torch.no_grad():
            ref_row["fwd_ms"] = bench(lambda: reference(x, y))
        ref_row["fwd_bwd_ms"] = bench(lambda: fwd_bwd(reference, x, y, g))
        ref_row["peak_mib_fwd_bwd"] = peak_mib(lambda: fwd_bwd(reference, x, y, g))
    else:
        ref_row["fwd_ms"] = ref_row["fwd_bwd_ms"] = "skipped"
    rows.append(ref_row)
    for cfg in configs:
        fused = make_fused(cfg)
        row = {"B": b, "variant": variant, "impl": "triton", "config": cfg_name(cfg)}
        row.update(check_errors(b, reference, fused, x, y, g))
        with torch.no_grad():
            row["fwd_ms"] = bench(lambda fused=fused: fused(x, y))
        row["fwd_bwd_ms"] = bench(lambda fused=fused: fwd_bwd(fused, x, y, g))
        row["peak_mib_fwd_bwd"] = peak_mib(lambda fused=fused: fwd_bwd(fused, x, y, g))
        rows.append(row)
    return rows


def cfg_name(cfg) -> str:
    return f"{cfg.block_b}x{cfg.block_c}x{cfg.num_warps}"


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if (v == 0 or abs(v) < 1e-2) else f"{v:.3f}"
    return str(v)


def print_table(rows: list[dict]) -> None:
    cols = ["B", "variant", "impl", "config", "fwd_ms", "fwd_bwd_ms", "peak_mib_fwd_bwd",
            "rel_err_out", "rel_err_dx", "rel_err_dy"]  # fmt: skip
    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(fmt(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)), flush=True)


def main(argv: list[str] | None = None) -> int:
    global ARGS
    ARGS = parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA device", file=sys.stderr)
        return 1
    import triton

    configs = [parse_config(c) for c in ARGS.configs] if ARGS.configs else [config_class()()]
    rows: list[dict] = []
    start = time.time()
    for variant in ARGS.variants if ARGS.head == "mrn" else ["iqe"]:
        for b in ARGS.sizes:
            new = run_size(b, variant, configs)
            print_table(new)
            rows.extend(new)
    meta = {
        "head": ARGS.head,
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "dtype": ARGS.dtype,
        "E": ARGS.ensemble,
        "D": ARGS.latent_dim,
        "K": ARGS.components,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "seconds": round(time.time() - start, 1),
    }
    print("\nsummary")
    print_table(rows)
    if ARGS.out:
        os.makedirs(ARGS.out, exist_ok=True)
        name = "quasimetric_kernels.json" if ARGS.head == "mrn" else "quasimetric_kernels_iqe.json"
        path = os.path.join(ARGS.out, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1, default=str)
        print(f"wrote {path}")
    return 0 if all(math.isfinite(r.get("rel_err_out", 0.0)) for r in rows) else 1


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())
