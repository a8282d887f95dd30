"""Updates/s and peak GPU memory of TMD's update paths, per batch size, on one device.

Implementations (``impl`` in the results; config flags in ``IMPLS``):

* ``reference``   -- the plain PyTorch port: reference (torch) MRN, RLlib's ``Learner._update``
  per batch, full fp32 matmuls, no graph;
* ``fused``       -- the fast path standalone, as a CUDA learner runs by default: fused Triton
  MRN, lean update loop, forward + loss through ``torch.compile``, the whole update as one
  CUDA graph, fused Adam, TF32 matmuls (``learner.run_updates`` timed directly);
* ``fused_rllib`` -- the same fast path through RLlib: ``TMD.train()`` iterations with the
  local learner, counting updates;
* diagnostics (``--impls``): ``fused_fp32`` (fused without TF32), ``lean`` (fused MRN + lean
  loop, eager), ``rllib_fused`` (fused MRN through ``Learner._update``), ``fused_nocompile``
  (fused without ``torch.compile``), ``fused_serial`` (fused with the critic's and the actor's
  halves of the update one after the other on one CUDA stream), ``fused_autotune`` (fused,
  compiled with ``mode="max-autotune-no-cudagraphs"``) and ``fused_bf16`` (fused with the
  MLPs' hidden layers in bf16, ``mixed_precision="bf16"``).

Each (impl, B) cell builds a fresh learner (so peak memory is per cell), runs warm-up updates
(Triton compiles, graph capture), then times ``run_updates(n)`` calls (each ends with the one
host sync of its metrics) until ``--seconds`` have passed. Out-of-memory and other failures are
recorded, never fatal; an impl that ran out of memory is not tried at larger B; cells left when
``--budget-s`` is spent are recorded as skipped.

Numerics (``--check-updates``, CUDA): reference, fused_fp32, fused (TF32) and fused_bf16
learners from one seed draw the same batches; after N updates the loss terms of update N are
compared (relative difference per term), which measures TF32's and bf16's effect.

    python benchmarks/throughput.py                       # CUDA, B = 256 .. 8192
    python benchmarks/throughput.py --device cpu --sizes 64 --model tiny --seconds 0.5

Writes ``--out`` (default ``benchmarks/results/throughput.json``) and a Markdown table next to
it (``.md``), and prints the table.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZES = (256, 512, 1024, 2048, 4096, 8192)
_EAGER = {"cuda_graph": False, "fused_adam": False, "torch_compile_update": False}
IMPLS: dict[str, dict] = {
    "reference": {
        "fast_update": False,
        "quasimetric_impl": "torch",
        "matmul_precision": "highest",
        **_EAGER,
    },
    "rllib_fused": {"fast_update": False, "matmul_precision": "highest", **_EAGER},
    "lean": {"fast_update": True, "matmul_precision": "highest", **_EAGER},
    "fused_fp32": {"matmul_precision": "highest"},  # graph + compile + fused Adam, no TF32
    "fused": {},  # the defaults: graph + torch.compile + fused Adam + TF32 on CUDA
    "fused_nocompile": {"torch_compile_update": False},
    "fused_serial": {"parallel_update_branches": False},  # critic, then actor, on one stream
    "fused_autotune": {"torch_compile_mode": "max-autotune-no-cudagraphs"},
    "fused_bf16": {"mixed_precision": "bf16"},  # hidden layers bf16, latents/losses float32
}
NUMERICS_IMPLS = ("fused_fp32", "fused", "fused_bf16")  # compared with "reference"
THROUGH_RLLIB = {"fused_rllib": "fused"}  # timed through TMD.train() with these flags
DEFAULT_IMPLS = ("reference", "fused", "fused_rllib")
MODELS: dict[str, dict[str, Any]] = {
    "default": {},  # spec §1: ensemble 2, latent 512, 3x512 MLPs, MRN K=8
    "tiny": {
        "latent_dim": 32,
        "hidden_dims": (64, 64),
        "actor_hidden_dims": (64, 64),
        "quasimetric_components": 4,
    },
}
WARMUP_UPDATES = 8  # > the graph path's warm-up steps, so capture happens before timing
# the performance issue's targets at B = 512: standalone and through RLlib (updates/s)
TARGETS = {"fused": (512, 2000.0), "fused_rllib": (512, 1600.0)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument(
        "--impls", nargs="+", default=list(DEFAULT_IMPLS), choices=[*IMPLS, *THROUGH_RLLIB]
    )
    p.add_argument("--model", choices=list(MODELS), default="default")
    p.add_argument(
        "--dataset",
        default=None,
        help="an OGBench .npz or Parquet folder (default: a synthetic 2-D "
        "pointmaze-shaped .npz, 1,000 episodes x 1,001 steps)",
    )
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per cell")
    p.add_argument(
        "--budget-s",
        type=float,
        default=400.0,
        help="wall-clock budget; cells after it are recorded as skipped",
    )
    p.add_argument("--check-updates", type=int, default=100, help="numerics check length (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "throughput.json"))
    return p.parse_args(argv)


# ---- dataset and machine -----------------------------------------------------------------------
def synthetic_dataset(
    folder: Path, episodes: int = 1000, length: int = 1001, seed: int = 0
) -> Path:
    """OGBench-format ``.npz`` shaped like pointmaze (obs 2, act 2): bounded random walks."""
    path = folder / "pointmaze-synthetic-navigate-v0.npz"
    if path.is_file():
        return path
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, size=(episodes, length, 2)).astype(np.float32)
    starts = rng.uniform(-10, 10, size=(episodes, 1, 2)).astype(np.float32)
    observations = np.clip(starts + 0.1 * np.cumsum(actions, axis=1), -12, 12)
    terminals = np.zeros((episodes, length), np.float32)
    terminals[:, -1] = 1.0
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        observations=observations.reshape(-1, 2),
        actions=actions.reshape(-1, 2),
        terminals=terminals.reshape(-1),
    )
    return path


def machine_info(device: str, args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "model": args.model,
        "seconds_per_cell": args.seconds,
    }
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    try:
        import triton

        info["triton"] = triton.__version__
    except Exception:
        info["triton"] = None
    try:
        git = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=REPO, text=True, capture_output=True, check=False
        ).stdout.strip()
        info["commit"] = git("rev-parse", "HEAD")
        # a copied working tree (e.g. on a remote GPU machine) may carry stale git metadata
        info["tree_differs_from_commit"] = bool(git("status", "--porcelain", "--untracked=no"))
    except OSError:
        info["commit"] = None
    return info


# ---- building and timing -----------------------------------------------------------------------
def tmd_config(
    dataset: Path,
    batch_size: int,
    device: str,
    model: str,
    flags: dict,
    seed: int,
    updates_per_iteration: int = 1000,
) -> Any:
    from rllib_tmd import TMDConfig

    config = (
        TMDConfig()
        .offline_data(input_=str(dataset))
        .training(
            train_batch_size_per_learner=batch_size,
            ogbench_env="",
            updates_per_iteration=updates_per_iteration,
            **MODELS[model],
        )
        .learners(num_learners=0, num_gpus_per_learner=1 if device == "cuda" else 0)
        .debugging(seed=seed)
    )
    for key, value in flags.items():
        setattr(config, key, value)  # read with getattr by the learner (optional keys)
    return config


def ensure_ray() -> None:
    """A small local Ray: ``TMD.train`` needs it, and a CUDA learner's device lookup would
    otherwise start a default-sized one implicitly."""
    import ray

    if not ray.is_initialized():
        cpus = max(1, min(4, os.cpu_count() or 1))
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def reset_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None


def time_calls(call, updates_per_call: int, seconds: float, device: str) -> dict[str, float]:
    """Calls ``call()`` (``updates_per_call`` updates each) until ``seconds`` have passed."""
    sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 2:
            break
    sync(device)
    elapsed = time.perf_counter() - start
    updates = calls * updates_per_call
    return {
        "updates_per_s": updates / elapsed,
        "ms_per_update": 1e3 * elapsed / updates,
        "updates_timed": updates,
        "seconds": elapsed,
    }


def calibrate(run_updates, seconds: float) -> int:
    """Updates per timed call: about a quarter of ``seconds`` worth, from a short probe."""
    start = time.perf_counter()
    run_updates(4)
    rate = 4 / max(time.perf_counter() - start, 1e-6)
    return int(min(5000, max(4, rate * seconds / 4)))


def bench_learner(dataset: Path, impl: str, batch_size: int, args, device: str) -> dict:
    """One (impl, B) cell: build a learner, warm up, time ``run_updates``."""
    config = tmd_config(dataset, batch_size, device, args.model, IMPLS[impl], args.seed)
    config.validate()
    learner = config.build_learner()
    learner.run_updates(WARMUP_UPDATES)
    per_call = calibrate(learner.run_updates, args.seconds)
    result = time_calls(lambda: learner.run_updates(per_call), per_call, args.seconds, device)
    updater = getattr(learner, "_fast_updater", None)
    result.update(
        path=getattr(learner, "update_path", "rllib"),
        graph_error=getattr(updater, "graph_error", None),
    )
    return result


def bench_train(dataset: Path, impl: str, batch_size: int, rate: float, args, device: str) -> dict:
    """``TMD.train()`` with the local learner; iterations of ~``--seconds / 2`` each."""
    ensure_ray()
    n = int(min(5000, max(5, rate * args.seconds / 2)))
    flags = IMPLS[THROUGH_RLLIB[impl]]
    config = tmd_config(
        dataset, batch_size, device, args.model, flags, args.seed, updates_per_iteration=n
    )
    algo = config.build_algo()
    try:
        algo.train()  # warm-up iteration (Triton compile, graph capture)
        result = time_calls(algo.train, n, args.seconds, device)
        result.update(path=algo.learner_group._learner.update_path, updates_per_iteration=n)
        return result
    finally:
        algo.stop()


def last_update_terms(learner, updates: int) -> dict[str, float]:
    """Runs ``updates - 1`` updates, then one more; returns that last update's loss terms."""
    if updates > 1:
        learner.run_updates(updates - 1)
    result = learner.run_updates(1)["default_policy"]
    values = {k: float(v.peek()) for k, v in result.items() if hasattr(v, "peek")}
    return {k: v for k, v in values.items() if np.isfinite(v) and k != "num_trainable_parameters"}


def numerics_check(dataset: Path, args, device: str, batch_size: int = 512) -> dict:
    """Loss terms of update N from one seed (same batches): reference vs fused (fp32, TF32
    and bf16 hidden layers). Relative difference per term, and the largest, against the
    reference."""
    terms = {}
    for impl in ("reference", *NUMERICS_IMPLS):
        config = tmd_config(dataset, batch_size, device, args.model, IMPLS[impl], args.seed)
        config.validate()
        terms[impl] = last_update_terms(config.build_learner(), args.check_updates)
        reset_memory(device)
    ref = terms["reference"]
    out: dict[str, Any] = {"batch_size": batch_size, "updates": args.check_updates, "terms": terms}
    for impl in NUMERICS_IMPLS:
        rel = {k: abs(terms[impl][k] - v) / max(abs(v), 1e-6) for k, v in ref.items()}
        out[f"rel_diff_{impl}"] = rel
        out[f"max_rel_diff_{impl}"] = max(rel.values())
    return out


def run_cell(fn, device: str) -> dict:
    """Runs one cell; OOM and other failures become a status instead of an exception."""
    reset_memory(device)
    start = time.perf_counter()
    try:
        result = {"status": "ok", **fn()}
    except torch.cuda.OutOfMemoryError as err:
        result = {"status": "oom", "error": str(err).splitlines()[0][:300]}
    except Exception as err:  # recorded; the benchmark goes on
        oom = "out of memory" in str(err).lower()
        result = {
            "status": "oom" if oom else "error",
            "error": f"{type(err).__name__}: {str(err)[:500]}",
        }
    result["peak_mem_gib"] = peak_memory_gib(device)
    result["wall_s"] = time.perf_counter() - start
    reset_memory(device)
    return result


# ---- main ------------------------------------------------------------------------------------
def learner_rate(rows: list[dict], impl: str, batch_size: int) -> float | None:
    """updates/s of ``impl`` at ``batch_size`` if that cell succeeded."""
    row = next(
        (r for r in rows if r["impl"] == impl and r["batch"] == batch_size and r["status"] == "ok"),
        None,
    )
    return None if row is None else row["updates_per_s"]


def run_all(args: argparse.Namespace, device: str, dataset: Path) -> list[dict]:
    rows: list[dict] = []
    deadline = time.perf_counter() + args.budget_s
    failed: set[str] = set()
    order = [i for i in args.impls if i in IMPLS] + [i for i in args.impls if i in THROUGH_RLLIB]
    for batch_size in sorted(args.sizes):
        for impl in order:
            row: dict[str, Any] = {"impl": impl, "batch": batch_size}
            base = THROUGH_RLLIB.get(impl)
            if time.perf_counter() > deadline:
                row["status"] = "skipped (time budget)"
            elif impl in failed:
                row["status"] = "skipped (OOM at a smaller B)"
            elif base is not None:
                rate = learner_rate(rows, base, batch_size) or 100.0
                row.update(
                    run_cell(
                        lambda b=batch_size, i=impl, r=rate: bench_train(
                            dataset, i, b, r, args, device
                        ),
                        device,
                    )
                )
            else:
                row.update(
                    run_cell(
                        lambda b=batch_size, i=impl: bench_learner(dataset, i, b, args, device),
                        device,
                    )
                )
            if row["status"] == "oom":
                failed.add(impl)
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    head = f"B={row['batch']:>5} {row['impl']:<14}"
    if row["status"] != "ok":
        return f"{head} {row['status']}" + (f"  {row.get('error', '')}" if "error" in row else "")
    mem = f"{row['peak_mem_gib']:.2f} GiB" if row.get("peak_mem_gib") is not None else "-"
    return (
        f"{head} {row['updates_per_s']:>9.1f} upd/s  {row['ms_per_update']:>8.3f} ms  "
        f"peak {mem}  path={row.get('path')}"
    )


def table(rows: list[dict], impls: list[str], sizes: list[int]) -> str:
    """Markdown: one row per B, one column per impl (updates/s (peak GiB)), plus the ratio of
    ``fused`` and ``fused_rllib`` to ``reference``."""
    ratio_cols = [i for i in ("fused", "fused_rllib") if i in impls and "reference" in impls]
    head = impls + [f"{i} / reference" for i in ratio_cols]
    lines = ["| B | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
    for b in sorted(sizes):
        cells = []
        for impl in impls:
            row = next((r for r in rows if r["batch"] == b and r["impl"] == impl), None)
            if row is None:
                cells.append("")
            elif row["status"] == "ok":
                mem = row.get("peak_mem_gib")
                mem_text = f" ({mem:.2f} GiB)" if mem is not None else ""
                cells.append(f"{row['updates_per_s']:.0f}{mem_text}")
            else:
                cells.append(row["status"].split(" ")[0].upper())
        ref = learner_rate(rows, "reference", b)
        for impl in ratio_cols:
            rate = learner_rate(rows, impl, b)
            cells.append(f"{rate / ref:.1f}x" if rate and ref else "")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available")
    logging.basicConfig(level=logging.WARNING)
    dataset = (
        Path(args.dataset)
        if args.dataset
        else synthetic_dataset(Path(tempfile.gettempdir()) / "rllib-tmd-bench", seed=args.seed)
    )
    ensure_ray()
    start = time.perf_counter()
    check = None
    if args.check_updates > 0:
        check = run_cell(lambda: numerics_check(dataset, args, device), device)
        print(f"numerics after {args.check_updates} updates: {check}", flush=True)
    rows = run_all(args, device, dataset)
    result = {
        "machine": machine_info(device, args),
        "dataset": str(dataset),
        "sizes": sorted(args.sizes),
        "impls": args.impls,
        "targets": {k: {"batch": b, "updates_per_s": r} for k, (b, r) in TARGETS.items()},
        "numerics": check,
        "total_s": time.perf_counter() - start,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    text = table(rows, args.impls, args.sizes)
    device_name = result["machine"].get("gpu", device)
    out.with_suffix(".md").write_text(
        f"# TMD update throughput ({device_name}, model {args.model})\n\n"
        "updates/s (peak GPU memory); command: `python benchmarks/throughput.py`\n\n"
        f"{text}\n"
    )
    print()
    print(text)
    print(f"\nwrote {out} and {out.with_suffix('.md')} in {result['total_s']:.0f}s")
    return result


if __name__ == "__main__":
    main()
