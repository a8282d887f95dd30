"""OGBench ``.npz`` <-> sharded Parquet episodes (format: :mod:`rllib_tmd.data.schema`).

``convert_npz`` validates the arrays, then writes episode-aligned shards one at a time (each
shard is built from views of the loaded arrays, so at most one shard is copied beside the
dataset), into a temporary sibling directory that is renamed into place once the shards and
``metadata.json`` are written and re-checked. ``parquet_to_arrays`` reads it back; the round trip
is bit-exact.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rllib_tmd.data.episodes import load_npz, read_parquet_columns
from rllib_tmd.data.schema import (
    INDEX_COLUMNS,
    REQUIRED_KEYS,
    DatasetError,
    DatasetMetadata,
    episode_schema,
    episode_starts,
    shard_name,
    split_from_name,
    val_path_for,
    validate_arrays,
    validate_dataset_dir,
    validate_split_pair,
)

DEFAULT_SHARD_ROWS = 100_000


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def plan_shards(terminals: np.ndarray, shard_rows: int) -> list[tuple[int, int]]:
    """Episode-aligned ``[start, stop)`` row ranges of at most ``shard_rows`` rows each.

    Whole episodes are packed greedily; an episode longer than ``shard_rows`` gets a shard of
    its own.
    """
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be >= 1, got {shard_rows}")
    stops = np.flatnonzero(terminals) + 1
    ranges, start, previous = [], 0, 0
    for stop in stops.tolist():
        if stop - start > shard_rows and previous > start:
            ranges.append((start, previous))
            start = previous
        previous = stop
    ranges.append((start, previous))
    return ranges


def _fixed_size_column(values: np.ndarray) -> pa.Array:
    """``[n]`` -> primitive Arrow array, ``[n, k]`` -> fixed_size_list (zero-copy when possible)."""
    values = np.ascontiguousarray(values)
    if values.ndim == 1:
        return pa.array(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _episode_index_columns(
    terminals: np.ndarray, start: int, stop: int, first_episode_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """``episode_id [n]`` int64 and ``t [n]`` int32 for rows ``[start, stop)``."""
    local = terminals[start:stop]
    starts = episode_starts(local)
    lengths = np.diff(np.append(starts, len(local)))
    episode_id = np.repeat(np.arange(first_episode_id, first_episode_id + len(starts)), lengths)
    steps = (np.arange(len(local)) - np.repeat(starts, lengths)).astype(np.int32)
    return episode_id.astype(np.int64), steps


def extra_column_specs(arrays: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """``{name: {"dtype": str, "shape": [k] or []}}`` for every non-core array."""
    return {
        name: {"dtype": np.asarray(a).dtype.name, "shape": list(np.asarray(a).shape[1:])}
        for name, a in arrays.items()
        if name not in REQUIRED_KEYS + INDEX_COLUMNS
    }


def write_episode_shards(
    arrays: Mapping[str, np.ndarray],
    out_dir: str | Path,
    *,
    env_name: str,
    split: str = "train",
    shard_rows: int = DEFAULT_SHARD_ROWS,
    source_file: str | None = None,
    source_sha256: str | None = None,
    overwrite: bool = False,
    source: str = "<arrays>",
    expected_obs_dim: int | None = None,
) -> Path:
    """Write validated OGBench-layout arrays as a Parquet dataset directory; returns it.

    ``arrays``: ``observations [N, obs_dim]`` float32, ``actions [N, act_dim]`` float32,
    ``terminals [N]`` and optional extras ``[N]`` / ``[N, k]`` (any numeric dtype, kept as is).
    """
    validate_arrays(
        arrays,
        source,
        kind="key",
        expected_obs_dim=expected_obs_dim,
        expected_from="expected_obs_dim",
    )
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True)")
    terminals = np.asarray(arrays["terminals"])
    extras = extra_column_specs(arrays)
    obs_dim, act_dim = arrays["observations"].shape[1], arrays["actions"].shape[1]
    schema = episode_schema(obs_dim, act_dim, extras)
    tmp_dir = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    try:
        shards, next_episode = [], 0
        for index, (start, stop) in enumerate(plan_shards(terminals, shard_rows)):
            episode_id, steps = _episode_index_columns(terminals, start, stop, next_episode)
            columns = {
                "episode_id": episode_id,
                "t": steps,
                "observations": arrays["observations"][start:stop],
                "actions": arrays["actions"][start:stop],
                "terminals": terminals[start:stop].astype(np.float32, copy=False),
            }
            columns.update({name: arrays[name][start:stop] for name in extras})
            table = pa.Table.from_arrays(
                [_fixed_size_column(columns[f.name]) for f in schema], schema=schema
            )
            pq.write_table(table, tmp_dir / shard_name(index))
            shards.append(
                {
                    "file": shard_name(index),
                    "rows": stop - start,
                    "episodes": int(episode_id[-1] - episode_id[0] + 1),
                    "first_episode_id": int(episode_id[0]),
                    "last_episode_id": int(episode_id[-1]),
                }
            )
            next_episode = int(episode_id[-1]) + 1
        metadata = DatasetMetadata(
            env_name=env_name,
            split=split,
            obs_dim=obs_dim,
            act_dim=act_dim,
            num_episodes=next_episode,
            num_transitions=len(terminals),
            source_file=source_file,
            source_sha256=source_sha256,
            extra_columns=extras,
            shards=shards,
        )
        metadata.write(tmp_dir)
        validate_dataset_dir(tmp_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp_dir.rename(out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir


def convert_npz(
    npz_path: str | Path,
    out_dir: str | Path,
    env_name: str | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    *,
    expected_obs_dim: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert an OGBench ``.npz`` into a Parquet dataset directory ``out_dir``; returns it.

    ``env_name`` defaults from the file name (``pointmaze-medium-navigate-v0.npz``); a
    ``-val.npz`` file is recorded as split ``"val"``. Keys ``observations``, ``actions``,
    ``terminals`` are required; ``qpos``, ``qvel``, ``button_states`` (any other ``[N, ...]``
    numeric key) are carried through.
    """
    npz_path = Path(npz_path)
    default_name, split = split_from_name(npz_path)
    return write_episode_shards(
        load_npz(npz_path),
        out_dir,
        env_name=env_name or default_name,
        split=split,
        shard_rows=shard_rows,
        source_file=npz_path.name,
        source_sha256=file_sha256(npz_path),
        overwrite=overwrite,
        source=str(npz_path),
        expected_obs_dim=expected_obs_dim,
    )


def convert_ogbench_pair(
    npz_path: str | Path,
    out_root: str | Path,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    *,
    overwrite: bool = False,
) -> tuple[Path, Path | None]:
    """Convert ``<name>.npz`` and its ``<name>-val.npz`` sibling (if present) into
    ``<out_root>/<name>/`` and ``<out_root>/<name>-val/``; their dims must agree. An unreadable
    sibling is reported before either directory is written."""
    npz_path = Path(npz_path)
    name, _ = split_from_name(npz_path)
    val_npz = val_path_for(npz_path)
    if val_npz.is_file():  # a broken sibling fails before anything is written
        load_npz(val_npz)
    train_dir = convert_npz(
        npz_path, Path(out_root) / name, shard_rows=shard_rows, overwrite=overwrite
    )
    if not val_npz.is_file():
        return train_dir, None
    val_dir = convert_npz(
        val_npz, val_path_for(train_dir), env_name=name, shard_rows=shard_rows, overwrite=overwrite
    )
    validate_split_pair(
        DatasetMetadata.read(train_dir), DatasetMetadata.read(val_dir), str(train_dir), str(val_dir)
    )
    return train_dir, val_dir


def parquet_to_arrays(
    directory: str | Path, *, include_index: bool = False
) -> dict[str, np.ndarray]:
    """A Parquet dataset directory back as OGBench-layout arrays (validated, pyarrow reader).

    Returns ``observations``, ``actions``, ``terminals`` (float32) and every extra column with
    its original dtype and shape; ``episode_id`` and ``t`` too if ``include_index``.
    """
    metadata = DatasetMetadata.read(directory)
    columns, _ = read_parquet_columns(directory, list(metadata.extra_columns), engine="pyarrow")
    if not include_index:
        for name in INDEX_COLUMNS:
            columns.pop(name)
    return columns


__all__ = [
    "DEFAULT_SHARD_ROWS",
    "DatasetError",
    "convert_npz",
    "convert_ogbench_pair",
    "parquet_to_arrays",
    "plan_shards",
    "write_episode_shards",
]
