"""Throughput of the three batch-sampler paths on one full-size OGBench dataset.

Paths (see ``rllib_tmd/data/samplers.py``):

* ``numpy``   -- :class:`NumpySampler`, dataset in host memory, one core;
* ``gpu``     -- :class:`TorchSampler` with the dataset on CUDA; one ``sample`` call per batch
  (``k=1``) and one ``sample(k * B)`` call per ``k`` batches, i.e. ``k`` i.i.d. batches from one
  set of kernels (how the learner draws its batches in chunks). Skipped without CUDA (the
  same sampler is then timed on the CPU as ``torch-cpu``, for reference only);
* ``raydata`` -- :func:`ray_data_batches` streaming from Parquet (one read+relabel actor, bounded
  concurrency) on a local Ray with ``--ray-cpus`` CPUs.

For the in-memory samplers: warm-up calls, then ``--windows`` timed windows of ``--window-s``
seconds each; the table shows the median window (min..max in the JSON). For Ray Data, two
epochs are streamed per batch size: time to first batch (pipeline start -> first batch), the
streaming rate once batches flow (median over windows of 1/8 epoch, windows that straddle the
wait between epochs excluded), the gap between epochs, and the sustained rate over one
epoch period including that wait (both epochs come from one pipeline, see
``ray_data_batches(epochs_per_pipeline=...)``).

    python benchmarks/sampler.py                      # generates the dataset if missing
    python benchmarks/sampler.py --data-dir /data --out benchmarks/results

Writes ``<out>/sampler.json`` and ``<out>/sampler.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATASET = "pointmaze-medium-navigate-v0"

#: Targets of the performance issue, shown next to the measurements.
TARGETS = {
    "numpy": ("batches_per_s", 512, 2_000, ">= 2,000 batches/s on one core (B=512)"),
    "gpu": ("batches_per_s", 512, 20_000, ">= 20,000 batches/s at B=512 on one H100"),
    "raydata": ("transitions_per_s", None, 200_000, ">= 200,000 transitions/s on 2 cores"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--data-dir",
        default=os.path.join(tempfile.gettempdir(), "rllib-tmd-bench"),
        help="folder holding (or receiving) the generated dataset",
    )
    p.add_argument("--dataset", default=DATASET)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    p.add_argument(
        "--paths",
        nargs="+",
        default=["numpy", "gpu", "raydata"],
        choices=["numpy", "gpu", "raydata"],
    )
    p.add_argument("--k", type=int, default=16, help="batches per sample(k * B) call (gpu)")
    p.add_argument("--windows", type=int, default=5, help="timed windows per measurement")
    p.add_argument("--window-s", type=float, default=0.5, help="seconds per timed window")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before the windows")
    p.add_argument("--ray-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------
# Dataset and machine
# --------------------------------------------------------------------------------------------


def ensure_dataset(data_dir: Path, name: str) -> tuple[Path, float | None]:
    """Parquet train folder of ``name`` under ``data_dir``; generated (full size) if missing.

    Returns the folder and the generation time in seconds (None if it already existed).
    """
    folder = data_dir / name
    if (folder / "metadata.json").is_file():
        return folder, None
    from rllib_tmd.data.catalog import make_dataset

    print(f"generating {name} (full size) into {data_dir} ...", flush=True)
    start = time.perf_counter()
    paths = make_dataset(name, data_dir, workers=min(2, os.cpu_count() or 1), progress=False)
    return paths["train"], time.perf_counter() - start


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def timed_windows(
    call: Callable[[], None],
    windows: int,
    window_s: float,
    warmup: int,
    sync: Callable[[], None] = lambda: None,
) -> list[float]:
    """Calls per second in each of ``windows`` windows of at least ``window_s`` seconds.

    ``sync`` runs before a window's clock starts and before it stops (CUDA: the work queued in
    the window is finished inside it).
    """
    for _ in range(warmup):
        call()
    sync()
    rates = []
    for _ in range(windows):
        calls = 0
        start = time.perf_counter()
        while True:
            call()
            calls += 1
            if calls % 8 == 0 or calls < 8:
                sync()
                elapsed = time.perf_counter() - start
                if elapsed >= window_s:
                    break
        rates.append(calls / elapsed)
    return rates


def row(
    path: str, batch: int, device: str, rates: list[float], batches_per_call: int = 1, **extra
) -> dict:
    """One result row from per-window call rates."""
    per_window = [r * batches_per_call for r in rates]
    median = statistics.median(per_window)
    return {
        "path": path,
        "batch": batch,
        "device": device,
        "batches_per_call": batches_per_call,
        "batches_per_s": median,
        "transitions_per_s": median * batch,
        "batches_per_s_min": min(per_window),
        "batches_per_s_max": max(per_window),
        "windows": len(per_window),
        **extra,
    }


# --------------------------------------------------------------------------------------------
# In-memory samplers
# --------------------------------------------------------------------------------------------


def bench_numpy(episodes, args) -> list[dict]:
    from rllib_tmd.data.samplers import NumpySampler

    sampler = NumpySampler(episodes, seed=args.seed)
    rows = []
    for batch in args.batch_sizes:
        rates = timed_windows(
            lambda b=batch: sampler.sample(b), args.windows, args.window_s, args.warmup
        )
        rows.append(row("numpy", batch, "cpu", rates, threads=1))
    return rows


def bench_torch(episodes, args, device: str) -> list[dict]:
    """TorchSampler: one batch per call, and ``args.k`` batches per ``sample(k * B)`` call."""
    from rllib_tmd.data.samplers import TorchSampler

    sampler = TorchSampler(episodes, device=device, seed=args.seed)
    is_cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if is_cuda else (lambda: None)
    label = "gpu" if is_cuda else "torch-cpu"
    name = torch.cuda.get_device_name() if is_cuda else "cpu"
    rows = []
    for batch in args.batch_sizes:
        for k in sorted({1, args.k}):
            if k == 1:
                call = lambda b=batch: sampler.sample(b)  # noqa: E731
            else:
                call = lambda b=batch, k=k: sampler.sample(k * b)  # noqa: E731
            rates = timed_windows(call, args.windows, args.window_s, args.warmup, sync)
            rows.append(
                row(label, batch, name, rates, batches_per_call=k, threads=torch.get_num_threads())
            )
    return rows


# --------------------------------------------------------------------------------------------
# Ray Data streaming
# --------------------------------------------------------------------------------------------


def bench_raydata(folder: Path, transitions: int, args) -> list[dict]:
    import ray
    import ray.data

    from rllib_tmd.data.samplers import ray_data_batches

    if not ray.is_initialized():
        ray.init(
            num_cpus=args.ray_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    rows = []
    for batch in args.batch_sizes:
        per_epoch = transitions // batch  # drop_last=True
        start = time.perf_counter()
        stamps = []
        for _ in ray_data_batches(folder, batch_size=batch, seed=args.seed, num_epochs=2):
            stamps.append(time.perf_counter())
        stamps = np.asarray(stamps) - start
        # both epochs stream from one pipeline: batches run across the epoch boundary
        if len(stamps) != (2 * transitions) // batch:
            raise RuntimeError(f"expected {(2 * transitions) // batch} batches, got {len(stamps)}")
        first, second = stamps[:per_epoch], stamps[per_epoch : 2 * per_epoch]
        width = max(2, per_epoch // 8)
        rates = []
        for epoch in (first, second):  # windows of `width` batches inside one epoch
            for lo in range(0, len(epoch) - width, width):
                rates.append(width / (epoch[lo + width] - epoch[lo]))
        gap = float(second[0] - first[-1])
        period = float(second[0] - first[0])  # one epoch incl. the wait before the next
        rows.append(
            row(
                "raydata",
                batch,
                "cpu",
                rates,
                time_to_first_batch_s=float(first[0]),
                epoch_restart_s=gap,
                sustained_batches_per_s=per_epoch / period,
                sustained_transitions_per_s=per_epoch * batch / period,
                ray_cpus=args.ray_cpus,
            )
        )
        print(f"  raydata B={batch}: first batch {first[0]:.1f} s, restart {gap:.1f} s", flush=True)
    return rows


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def target_text(r: dict) -> str:
    key = "gpu" if r["path"] == "torch-cpu" else r["path"]
    metric, batch, value, text = TARGETS[key]
    if batch is not None and r["batch"] != batch:
        return ""
    if r["path"] == "torch-cpu":
        return f"(GPU target: {text})"
    verdict = lambda got: "MET" if got >= value else "not met"  # noqa: E731
    if r["path"] == "raydata":
        return (
            f"streaming {verdict(r[metric])}, sustained "
            f"{verdict(r['sustained_transitions_per_s'])}: {text}"
        )
    return f"{verdict(r[metric])}: {text}"


COLUMNS = (
    "path",
    "B",
    "batches/call",
    "batches/s",
    "transitions/s",
    "first batch (s)",
    "epoch restart (s)",
    "sustained transitions/s",
    "target",
)


def cells(r: dict) -> list[str]:
    """One table row as text, in ``COLUMNS`` order (Ray Data-only fields blank elsewhere)."""

    def opt(key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else ""

    return [
        r["path"],
        str(r["batch"]),
        str(r["batches_per_call"]),
        f"{r['batches_per_s']:,.0f}",
        f"{r['transitions_per_s']:,.0f}",
        opt("time_to_first_batch_s", ".1f"),
        opt("epoch_restart_s", ".1f"),
        opt("sustained_transitions_per_s", ",.0f"),
        target_text(r),
    ]


def markdown(result: dict) -> str:
    lines = [
        f"# Sampler throughput ({result['dataset']})",
        "",
        f"Machine: {result['cpu']} ({result['cpu_count']} CPUs), torch {result['torch']}, "
        f"CUDA device: {result['device']}. Date: {result['date']}. "
        f"Command: `{result['command']}`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in result["rows"]]
    lines += ["", *[f"- {note}" for note in result["notes"]], ""]
    return "\n".join(lines)


def print_table(rows: list[dict]) -> None:
    table = [list(COLUMNS), *[cells(r) for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    for n, line in enumerate(table):
        numbers = [c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        print("  ".join([*numbers, line[-1]]))
        if n == 0:
            print("-" * (sum(widths) + 2 * len(widths) + 6))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    began = time.perf_counter()
    load_before = os.getloadavg()
    torch.set_num_threads(1)  # "one core" for numpy; the CPU torch reference gets the same
    from rllib_tmd.data.episodes import read_episodes

    folder, gen_s = ensure_dataset(Path(args.data_dir), args.dataset)
    episodes = read_episodes(folder, engine="pyarrow")
    transitions = len(episodes.episode_index().rows)
    notes = []
    if gen_s is not None:
        notes.append(f"dataset generated by this run in {gen_s:.1f} s (make_dataset, 2 workers)")
    rows: list[dict] = []
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    if "numpy" in args.paths:
        print("numpy ...", flush=True)
        rows += bench_numpy(episodes, args)
    if "gpu" in args.paths:
        if torch.cuda.is_available():
            print("gpu ...", flush=True)
            rows += bench_torch(episodes, args, "cuda")
        else:
            print(
                "gpu: no CUDA device -> skipped; timing TorchSampler on the CPU instead", flush=True
            )
            notes.append(
                "gpu path skipped: no CUDA device. `torch-cpu` rows time the same "
                "TorchSampler on the CPU (1 thread) as a reference; they say nothing "
                "about GPU throughput."
            )
            rows += bench_torch(episodes, args, "cpu")
    if "raydata" in args.paths:
        print("raydata ...", flush=True)
        rows += bench_raydata(folder, transitions, args)
        notes.append(
            "raydata: batches/s = median over windows of 1/8 epoch while batches flow (after "
            "the first batch); 'sustained' = one epoch divided by the time from its first "
            "batch to the next epoch's first batch, i.e. including any wait between epochs "
            "(both epochs stream from one pipeline: the file list is read again by the same "
            "read/relabel actor, no restart). Time to first batch is from calling "
            "ray_data_batches on a running Ray instance. Ray Data cuts blocks of up to "
            "DataContext.target_max_block_size (128 MiB): a smaller dataset is read and "
            "relabelled as one block, so the first batch waits for the whole epoch and the "
            "streaming rate is the driver's batching/shuffle/torch conversion of ready data."
        )
    notes.append(
        f"in-memory paths: median of {args.windows} windows of {args.window_s} s "
        f"after {args.warmup} warm-up calls; min/max per row in sampler.json."
    )
    notes.append(
        "batches/call = k > 1: one TorchSampler.sample(k * B) call yields k i.i.d. batches "
        "(one set of kernels for k batches; the learner samples in such chunks)."
    )
    result = {
        "dataset": args.dataset,
        "dataset_rows": episodes.num_rows,
        "dataset_transitions": transitions,
        "device": device,
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/sampler.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "targets": {k: v[3] for k, v in TARGETS.items()},
        "rows": rows,
        "notes": notes,
        "seconds": 0.0,
    }
    result["command"] = result["command"].strip()
    result["seconds"] = round(time.perf_counter() - began, 1)
    result["loadavg_1min"] = {"start": load_before[0], "end": os.getloadavg()[0]}
    notes.append(
        f"1-min load average {load_before[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end "
        f"({os.cpu_count()} CPUs): other processes on the machine slow every path down."
    )
    print()
    print_table(rows)
    print(f"\ntotal {result['seconds']:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampler.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "sampler.md").write_text(markdown(result))
    print(f"wrote {out / 'sampler.json'} and {out / 'sampler.md'}")
    return result


if __name__ == "__main__":
    main()
