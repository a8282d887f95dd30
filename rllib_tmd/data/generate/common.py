"""Helpers shared by all dataset generators: split sizes, per-episode seeding, chunked
(optionally multi-process) collection and npz writing."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

#: Split codes mixed into per-episode seeds so train and val episodes never share a stream.
SPLIT_CODES = {"train": 0, "val": 1}

#: ``(split, first_episode, stop_episode) -> {key: rows}``; rows of consecutive episodes, each
#: ``[(stop - first) * episode_length, ...]``. Must be picklable (e.g. a ``functools.partial`` of a
#: module-level function) when ``workers > 1``.
ChunkFn = Callable[[str, int, int], dict[str, np.ndarray]]


def val_episode_count(train_episodes: int) -> int:
    """Validation episodes for ``train_episodes`` training episodes.

    OGBench's generation scripts collect ``num_episodes // 10`` extra episodes for the ``-val``
    file; we keep that ratio and never go below one episode.
    """
    return max(1, train_episodes // 10)


def split_counts(official_episodes: int, episodes: int | None) -> dict[str, int]:
    """``{"train": n, "val": max(1, n // 10)}`` with ``n = episodes`` or the official count."""
    train = official_episodes if episodes is None else int(episodes)
    if train < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    return {"train": train, "val": val_episode_count(train)}


def episode_seed(seed: int, split: str, episode: int) -> np.random.SeedSequence:
    """Seed material for one episode, keyed by ``(seed, split, episode)``.

    Keying by the episode index (instead of drawing from one long stream) makes the output
    identical for any number of worker processes and any chunking of the episodes.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence([seed, SPLIT_CODES[split], episode])


def episode_rng(seed: int, split: str, episode: int) -> np.random.Generator:
    """Independent generator for one episode (see ``episode_seed``)."""
    return np.random.default_rng(episode_seed(seed, split, episode))


def episode_terminals(num_episodes: int, episode_length: int) -> np.ndarray:
    """Terminal flags, bool [num_episodes * episode_length], True on each episode's last row.

    OGBench's generation scripts store ``terminals`` as ``bool`` (``ogbench.load_dataset`` casts it
    to float32 on load), so we write the same dtype as the official files.
    """
    terminals = np.zeros(num_episodes * episode_length, dtype=bool)
    terminals[episode_length - 1 :: episode_length] = True
    return terminals


def collect_splits(
    run_chunk: ChunkFn,
    counts: Mapping[str, int],
    episode_length: int,
    workers: int = 1,
    progress: bool = True,
    desc: str | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Run all episodes of every split in chunks; returns ``{split: arrays}`` in OGBench key order
    (``observations``, ``actions``, ``terminals``, then the chunk's other keys)."""
    total = sum(counts.values())
    size = max(1, min(64, total // (max(1, workers) * 16)))
    tasks = [(split, a, min(a + size, n)) for split, n in counts.items() for a in range(0, n, size)]
    results: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    with tqdm(total=total, desc=desc, unit="ep", file=sys.stderr, disable=not progress) as bar:
        if workers <= 1:
            for split, a, b in tasks:
                results[split, a] = run_chunk(split, a, b)
                bar.update(b - a)
        else:
            _run_in_pool(run_chunk, tasks, workers, results, bar)

    out = {}
    for split, n in counts.items():
        parts = [results[s, a] for s, a, _ in tasks if s == split]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        ordered = {k: arrays.pop(k) for k in ("observations", "actions")}
        ordered["terminals"] = episode_terminals(n, episode_length)
        out[split] = {**ordered, **arrays}
    return out


def _start_method() -> str:
    """``fork`` on Linux, ``spawn`` elsewhere.

    Forked workers inherit the already-imported modules; a spawned worker re-imports ``rllib_tmd``
    (ray, torch: several seconds each). Workers only run numpy and MuJoCo code, so forking a parent
    that has imported (not used) torch or ray is safe.
    """
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _run_in_pool(
    run_chunk: ChunkFn,
    tasks: list[tuple[str, int, int]],
    workers: int,
    results: dict[tuple[str, int], dict[str, np.ndarray]],
    bar: tqdm,
) -> None:
    """Run ``tasks`` on ``workers`` processes, filling ``results[(split, start)]``."""
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(run_chunk, s, a, b): (s, a, b) for s, a, b in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                split, a, b = pending.pop(future)
                results[split, a] = future.result()
                bar.update(b - a)


def dataset_paths(out_dir: str | os.PathLike, name: str) -> dict[str, Path]:
    """``{"train": <out_dir>/<name>.npz, "val": <out_dir>/<name>-val.npz}``."""
    out = Path(out_dir)
    return {"train": out / f"{name}.npz", "val": out / f"{name}-val.npz"}


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as a compressed ``.npz`` (as OGBench's scripts do), atomically.

    The file appears under its final name only once it is complete, so an interrupted run never
    leaves a truncated dataset that ``ogbench.make_env_and_datasets`` would happily load.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return path


def write_splits(
    name: str, out_dir: str | os.PathLike, data: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, Path]:
    """Write ``data["train"]`` / ``data["val"]`` to ``<name>.npz`` / ``<name>-val.npz``."""
    paths = dataset_paths(out_dir, name)
    for split, path in paths.items():
        write_npz(path, data[split])
    return paths


def collect_recipe(
    recipe: object,
    run_chunk: Callable,
    name: str,
    episodes: int | None,
    seed: int,
    workers: int,
    progress: bool,
) -> dict[str, dict[str, np.ndarray]]:
    """``{"train": arrays, "val": arrays}`` for a recipe with ``num_episodes`` and
    ``episode_length``; ``run_chunk(name, seed, ...)`` generates a chunk of episodes."""
    counts = split_counts(recipe.num_episodes, episodes)
    episode_seed(seed, "train", 0)  # validates the seed before any work starts
    return collect_splits(
        partial(run_chunk, name, seed),
        counts,
        recipe.episode_length,
        workers=workers,
        progress=progress,
        desc=name,
    )
