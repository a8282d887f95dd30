"""Updates/s of TMD's single-learner update paths, per batch size, on one device.

Modes (config attributes set on a ``TMDConfig``; see ``rllib_tmd/tmd/torch/fast_update.py``):

* ``rllib``   -- RLlib's ``Learner._update`` per batch (``fast_update=False``);
* ``lean``    -- the lean eager loop (``fast_update=True``, the single-learner default);
* ``graph``   -- lean + the whole update as one CUDA graph (``cuda_graph=True``);
* ``train``   -- ``TMD.train()`` end to end (local learner, one iteration ~``--seconds`` long)
  with whichever of rllib/lean/graph was fastest at that batch size;
* optional: ``graph_fused`` (+ ``fused_adam``), ``compile`` (``torch_compile_update``),
  ``compile_graph`` (both).

Each (mode, B) cell builds a fresh learner (so peak memory is per cell), runs warm-up updates
(Triton compiles, graph capture), then times ``run_updates(n)`` calls (each ends with the one
host sync of its metrics) until ``--seconds`` have passed. Out-of-memory and other failures are
recorded, never fatal; a mode that ran out of memory is not tried at larger B; cells left when
``--budget-s`` is spent are recorded as skipped. A ``graph`` cell whose capture failed (so it
ran eagerly) says so in ``path``/``graph_error``.

    python benchmarks/learner_step.py                       # CUDA, B = 256 .. 8192
    python benchmarks/learner_step.py --device cpu --sizes 64 --model tiny --seconds 0.5

Writes ``--out`` (default ``benchmarks/results/learner_step.json``) and prints a table.
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
MODE_FLAGS: dict[str, dict[str, bool]] = {
    "rllib": {"fast_update": False},
    "lean": {"fast_update": True},
    "graph": {"fast_update": True, "cuda_graph": True},
    "graph_fused": {"fast_update": True, "cuda_graph": True, "fused_adam": True},
    "compile": {"fast_update": True, "torch_compile_update": True},
    "compile_graph": {"fast_update": True, "torch_compile_update": True, "cuda_graph": True},
}
DEFAULT_MODES = ("rllib", "lean", "graph", "train")
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
TARGET = (512, 1600.0)  # the performance issue's target: >= 1,600 updates/s at B = 512


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available"
    )
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument(
        "--modes", nargs="+", default=list(DEFAULT_MODES), choices=[*MODE_FLAGS, "train"]
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
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls (default: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "learner_step.json"))
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
        "tf32": bool(args.tf32),
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
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, text=True, capture_output=True, check=False
        ).stdout.strip()
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


def bench_learner(dataset: Path, mode: str, batch_size: int, args, device: str) -> dict:
    """One (learner mode, B) cell: build, warm up, time ``run_updates``."""
    config = tmd_config(dataset, batch_size, device, args.model, MODE_FLAGS[mode], args.seed)
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
    if "graph" in mode and "graph" not in result["path"]:
        result["status"] = "fallback"
    return result


def bench_train(
    dataset: Path, batch_size: int, best_mode: str, rate: float, args, device: str
) -> dict:
    """``TMD.train()`` with the local learner; iterations of ~``--seconds / 2`` each."""
    ensure_ray()
    n = int(min(5000, max(5, rate * args.seconds / 2)))
    config = tmd_config(
        dataset,
        batch_size,
        device,
        args.model,
        MODE_FLAGS[best_mode],
        args.seed,
        updates_per_iteration=n,
    )
    algo = config.build_algo()
    try:
        algo.train()  # warm-up iteration (Triton compile, graph capture)
        result = time_calls(algo.train, n, args.seconds, device)
        result.update(
            path=algo.learner_group._learner.update_path, via=best_mode, updates_per_iteration=n
        )
        return result
    finally:
        algo.stop()


def graph_check(dataset: Path, args, device: str, batch_size: int = 256, updates: int = 20) -> dict:
    """Numerics of the graph path on this device: lean vs graph learners from one seed (same
    batches) after ``updates`` updates; max relative loss-term and parameter differences."""
    learners, histories = [], []
    for mode in ("lean", "graph"):
        config = tmd_config(dataset, batch_size, device, args.model, MODE_FLAGS[mode], args.seed)
        config.validate()
        learner = config.build_learner()
        results = [learner.run_updates(updates // 2) for _ in range(2)]
        histories.append(
            [
                [v.peek() for v in r["default_policy"].values() if hasattr(v, "peek")]
                for r in results
            ]
        )
        learners.append(learner)
    (lean, graph), (h_lean, h_graph) = learners, histories
    loss_rel = max(
        abs(a - b) / max(abs(a), 1e-6) for ra, rb in zip(h_lean, h_graph) for a, b in zip(ra, rb)
    )
    lean_params = lean.module["default_policy"].state_dict()
    graph_params = graph.module["default_policy"].state_dict()
    param_diff = max((lean_params[k] - graph_params[k]).abs().max().item() for k in lean_params)
    return {
        "batch_size": batch_size,
        "updates": updates,
        "path": graph.update_path,
        "graph_error": graph._fast_updater.graph_error,
        "max_rel_metric_diff": float(loss_rel),
        "max_abs_param_diff": param_diff,
    }


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
def best_learner_mode(rows: list[dict], batch_size: int) -> tuple[str, float] | None:
    """Fastest successful learner mode at ``batch_size``: (mode, updates/s)."""
    ok = [
        r
        for r in rows
        if r["batch_size"] == batch_size and r["mode"] != "train" and r["status"] == "ok"
    ]
    if not ok:
        return None
    best = max(ok, key=lambda r: r["updates_per_s"])
    return best["mode"], best["updates_per_s"]


def run_all(args: argparse.Namespace, device: str, dataset: Path) -> list[dict]:
    rows: list[dict] = []
    deadline = time.perf_counter() + args.budget_s
    oom_modes: set[str] = set()
    learner_modes = [m for m in args.modes if m != "train"]
    for batch_size in sorted(args.sizes):
        for mode in [*learner_modes, *(["train"] if "train" in args.modes else [])]:
            row: dict[str, Any] = {"mode": mode, "batch_size": batch_size}
            if time.perf_counter() > deadline:
                row["status"] = "skipped (time budget)"
            elif mode in oom_modes:
                row["status"] = "skipped (OOM at a smaller B)"
            elif mode == "train":
                best = best_learner_mode(rows, batch_size)
                if best is None:
                    row["status"] = "skipped (no learner mode succeeded)"
                else:
                    row.update(
                        run_cell(
                            lambda b=batch_size, best=best: bench_train(
                                dataset, b, best[0], best[1], args, device
                            ),
                            device,
                        )
                    )
            else:
                row.update(
                    run_cell(
                        lambda b=batch_size, m=mode: bench_learner(dataset, m, b, args, device),
                        device,
                    )
                )
            if row["status"] == "oom":
                oom_modes.add(mode)
            rows.append(row)
            print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    head = f"B={row['batch_size']:>5} {row['mode']:<14}"
    if row["status"] not in ("ok", "fallback"):
        return f"{head} {row['status']}" + (f"  {row.get('error', '')}" if "error" in row else "")
    mem = f"{row['peak_mem_gib']:.2f} GiB" if row.get("peak_mem_gib") is not None else "-"
    note = f"  [{row['status']}: {row.get('graph_error')}]" if row["status"] == "fallback" else ""
    return (
        f"{head} {row['updates_per_s']:>9.1f} upd/s  {row['ms_per_update']:>8.3f} ms  "
        f"peak {mem}  path={row.get('path')}{note}"
    )


def table(rows: list[dict], modes: list[str], sizes: list[int]) -> str:
    """Markdown table: one row per B, one column per mode (updates/s, peak GiB)."""
    lines = ["| B | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for b in sorted(sizes):
        cells = []
        for mode in modes:
            row = next((r for r in rows if r["batch_size"] == b and r["mode"] == mode), None)
            if row is None:
                cells.append("")
            elif row["status"] in ("ok", "fallback"):
                mem = row.get("peak_mem_gib")
                mem_text = f" ({mem:.1f} GiB)" if mem is not None else ""
                flag = "*" if row["status"] == "fallback" else ""
                cells.append(f"{row['updates_per_s']:.0f}{flag}{mem_text}")
            else:
                cells.append(row["status"].split(" ")[0].upper())
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available")
    torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
    torch.backends.cudnn.allow_tf32 = bool(args.tf32)
    logging.basicConfig(level=logging.WARNING)
    dataset = (
        Path(args.dataset)
        if args.dataset
        else synthetic_dataset(Path(tempfile.gettempdir()) / "rllib-tmd-bench", seed=args.seed)
    )
    if device == "cuda" or "train" in args.modes:
        ensure_ray()
    start = time.perf_counter()
    check = None
    if device == "cuda" and any("graph" in m for m in args.modes):
        check = run_cell(lambda: graph_check(dataset, args, device), device)
        print(f"graph vs lean numerics: {check}", flush=True)
    rows = run_all(args, device, dataset)
    result = {
        "machine": machine_info(device, args),
        "dataset": str(dataset),
        "sizes": sorted(args.sizes),
        "modes": args.modes,
        "target": {"batch_size": TARGET[0], "updates_per_s": TARGET[1]},
        "graph_check": check,
        "total_s": time.perf_counter() - start,
        "results": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(rows, args.modes, args.sizes))
    print(f"\n(* = CUDA graph capture failed, ran eager)  wrote {out}  in {result['total_s']:.0f}s")
    return result


if __name__ == "__main__":
    main()
