"""Load a dataset (Parquet directory or OGBench ``.npz``) into validated in-memory arrays.

The default reader for Parquet goes through **Ray Data** (``ray.data.read_parquet``, with
bounded read concurrency and preserved order, so it cannot stall on small machines);
``engine="pyarrow"`` reads the shards directly (faster for small data, no Ray needed). Both
return identical arrays and validate them (:mod:`rllib_tmd.data.schema`).
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rllib_tmd.data.goals import EpisodeIndex
from rllib_tmd.data.schema import (
    CORE_COLUMNS,
    NPZ_SUFFIX,
    REQUIRED_KEYS,
    DatasetError,
    DatasetMetadata,
    ShardInfo,
    require_nonempty_file,
    shard_locator,
    split_from_name,
    val_path_for,
    validate_arrays,
    validate_dataset_dir,
    validate_split_pair,
)


@dataclass
class EpisodeArrays:
    """A whole dataset in memory, rows in episode order.

    ``observations [N, obs_dim]`` float32, ``actions [N, act_dim]`` float32, ``terminals [N]``
    float32 (1.0 on each episode's last row), ``metadata`` (the ``metadata.json`` fields, or
    what is known for an ``.npz``), ``extras`` (extra columns that were asked for).
    """

    observations: np.ndarray
    actions: np.ndarray
    terminals: np.ndarray
    metadata: dict = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_arrays(
        cls,
        observations: np.ndarray,
        actions: np.ndarray,
        terminals: np.ndarray,
        metadata: dict | None = None,
        source: str = "<arrays>",
    ) -> EpisodeArrays:
        """Validated construction from arrays (terminals are cast to float32)."""
        arrays = {"observations": observations, "actions": actions, "terminals": terminals}
        validate_arrays(arrays, source)
        terminals = np.asarray(terminals, dtype=np.float32)
        meta = {
            "obs_dim": observations.shape[1],
            "act_dim": actions.shape[1],
            "num_transitions": len(terminals),
            "num_episodes": int(np.count_nonzero(terminals)),
        }
        meta.update(metadata or {})
        return cls(observations, actions, terminals, meta)

    @property
    def num_rows(self) -> int:
        return len(self.terminals)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def num_episodes(self) -> int:
        return int(np.count_nonzero(self.terminals))

    def episode_index(self) -> EpisodeIndex:
        """Transition rows and their episodes' terminal rows (for the samplers)."""
        return EpisodeIndex.from_terminals(self.terminals)


# --------------------------------------------------------------------------------------------
# .npz
# --------------------------------------------------------------------------------------------


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip
_NPY_MAGIC = b"\x93NUMPY"


def require_zip_archive(path: Path) -> None:
    """Raise a ``DatasetError`` naming what ``path`` is when it is not a zip (``.npz``) archive.

    Without this, ``np.load`` reads a text file as a pickle and reports pickled data, and a
    ``.npy`` file as one bare array.
    """
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_ZIP_MAGICS):
        return
    if head.startswith(_NPY_MAGIC):
        what = "a single-array .npy file"
    elif head.isascii() and head.strip():
        what = f"text (it starts with {head!r})"
    else:
        what = f"an unknown format (first bytes {head!r})"
    raise DatasetError(
        f"{path}: not a .npz archive (a zip of arrays such as observations, actions, "
        f"terminals) but {what}"
    )


def load_npz(path: str | Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Arrays of an OGBench ``.npz`` (all keys, or ``keys``); errors name the file and key."""
    path = require_nonempty_file(path)
    require_zip_archive(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files) if keys is None else list(keys)
            missing = [k for k in names if k not in npz.files]
            if missing:
                raise DatasetError(
                    f"{path}: missing key(s) {missing} (present: {sorted(npz.files)})"
                )
            arrays = {}
            for key in names:
                try:
                    arrays[key] = npz[key]
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                    raise DatasetError(
                        f"{path}: key '{key}' cannot be read (truncated or corrupt file?): {err}"
                    ) from err
    except DatasetError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(
            f"{path}: not a readable .npz file (truncated or corrupt?): {err}"
        ) from err
    return arrays


def _read_npz(
    path: Path, expected_obs_dim: int | None, extra_columns: Sequence[str]
) -> EpisodeArrays:
    arrays = load_npz(path, keys=[*REQUIRED_KEYS, *extra_columns])
    validate_arrays(
        arrays,
        str(path),
        kind="key",
        expected_obs_dim=expected_obs_dim,
        expected_from="expected_obs_dim",
    )
    env_name, split = split_from_name(path)
    terminals = arrays["terminals"].astype(np.float32, copy=False)
    metadata = {
        "env_name": env_name,
        "split": split,
        "source_file": path.name,
        "obs_dim": arrays["observations"].shape[1],
        "act_dim": arrays["actions"].shape[1],
        "num_episodes": int(np.count_nonzero(terminals)),
        "num_transitions": len(terminals),
    }
    extras = {k: arrays[k] for k in extra_columns}
    return EpisodeArrays(arrays["observations"], arrays["actions"], terminals, metadata, extras)


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------


def _row_spec(name: str, metadata: DatasetMetadata) -> tuple[np.dtype, tuple[int, ...]]:
    """Numpy dtype and per-row shape of a column."""
    fixed = {
        "episode_id": (np.int64, ()),
        "t": (np.int32, ()),
        "observations": (np.float32, (metadata.obs_dim,)),
        "actions": (np.float32, (metadata.act_dim,)),
        "terminals": (np.float32, ()),
    }
    if name in fixed:
        dtype, shape = fixed[name]
        return np.dtype(dtype), shape
    if name not in metadata.extra_columns:
        raise DatasetError(
            f"column '{name}' is not in this dataset (extra columns: "
            f"{sorted(metadata.extra_columns)})"
        )
    spec = metadata.extra_columns[name]
    return np.dtype(spec["dtype"]), tuple(spec["shape"])


def allocate_columns(columns: Sequence[str], metadata: DatasetMetadata) -> dict[str, np.ndarray]:
    """Empty ``[N, ...]`` arrays for ``columns`` (filled shard by shard: one copy in memory)."""
    out = {}
    for name in columns:
        dtype, shape = _row_spec(name, metadata)
        out[name] = np.empty((metadata.num_transitions, *shape), dtype=dtype)
    return out


def column_to_numpy(column: pa.ChunkedArray | pa.Array, name: str, source: str) -> np.ndarray:
    """A (fixed-size-list) Arrow column as a numpy ``[n]`` / ``[n, k]`` array; rejects nulls."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        raise DatasetError(f"{source}: column '{name}' has {array.null_count} null value(s)")
    if pa.types.is_fixed_size_list(array.type):
        flat = array.flatten()
        if flat.null_count:
            raise DatasetError(f"{source}: column '{name}' has null elements")
        return flat.to_numpy(zero_copy_only=False).reshape(len(array), array.type.list_size)
    return array.to_numpy(zero_copy_only=False)


def fill_from_table(
    out: Mapping[str, np.ndarray], table: pa.Table, offset: int, source: str
) -> int:
    """Copy ``table``'s rows into ``out[name][offset:]``; returns the new offset."""
    stop = offset + table.num_rows
    for name, target in out.items():
        if stop > len(target):
            raise DatasetError(
                f"{source}: more rows than metadata.json's num_transitions ({len(target)})"
            )
        target[offset:stop] = column_to_numpy(table.column(name), name, source)
    return stop


def _read_with_pyarrow(infos: Sequence[ShardInfo], out: Mapping[str, np.ndarray]) -> int:
    offset = 0
    for info in infos:
        try:
            table = pq.read_table(info.path, columns=list(out))
        except (pa.ArrowException, OSError) as err:
            raise DatasetError(
                f"{info.path}: cannot read data (truncated or corrupt?): {err}"
            ) from err
        offset = fill_from_table(out, table, offset, str(info.path))
    return offset


def free_ray_cpus() -> float | None:
    """CPUs free in the connected Ray cluster right now (None when Ray is not initialized).

    Ray Data's file listing and sampling tasks each need one whole free CPU, whatever
    ``num_cpus`` the read is given: with every CPU held (e.g. by learner actors) a read
    waits forever. Readers check this first.
    """
    import ray

    if not ray.is_initialized():
        return None
    return float(ray.available_resources().get("CPU", 0.0))


def _read_with_ray(
    directory: Path,
    infos: Sequence[ShardInfo],
    out: Mapping[str, np.ndarray],
    concurrency: int,
) -> int:
    import ray.data

    dataset = ray.data.read_parquet(
        str(directory), concurrency=concurrency, file_extensions=["parquet"]
    ).select_columns(list(out))
    dataset.context.execution_options.preserve_order = True
    offset = 0
    try:
        for table in dataset.iter_batches(
            batch_size=None, batch_format="pyarrow", prefetch_batches=1
        ):
            offset = fill_from_table(out, table, offset, str(directory))
    except DatasetError:
        raise
    except Exception as err:  # Ray wraps reader errors; find the culprit file with pyarrow
        _read_with_pyarrow(infos, out)
        raise DatasetError(f"{directory}: Ray Data failed to read the dataset: {err}") from err
    return offset


def _sort_if_needed(arrays: dict[str, np.ndarray]) -> None:
    """Put rows in (episode_id, t) order in place if the reader did not keep file order."""
    id_step = np.diff(arrays["episode_id"])
    ordered = np.all((id_step > 0) | ((id_step == 0) & (np.diff(arrays["t"]) > 0)))
    if not ordered:
        steps, episode_id = arrays["t"], arrays["episode_id"]
        order = np.lexsort((steps, episode_id))
        for name in arrays:
            arrays[name] = arrays[name][order]


def read_parquet_columns(
    directory: str | Path,
    columns: Sequence[str] | None = None,
    *,
    engine: str = "ray",
    expected_obs_dim: int | None = None,
    concurrency: int = 2,
) -> tuple[dict[str, np.ndarray], DatasetMetadata]:
    """Validated numpy columns (all core columns + ``columns``) of a Parquet dataset directory.

    ``engine``: ``"ray"`` (Ray Data ``read_parquet``, ``concurrency`` read tasks at most; falls
    back to pyarrow with a warning when the Ray cluster has no free CPU, where Ray Data would
    hang) or ``"pyarrow"``. Rows come back in (episode_id, t) order.
    """
    directory = Path(directory)
    metadata, infos = validate_dataset_dir(directory, expected_obs_dim=expected_obs_dim)
    names = list(dict.fromkeys([*CORE_COLUMNS, *(columns or ())]))
    out = allocate_columns(names, metadata)
    free = free_ray_cpus() if engine == "ray" else None
    if free is not None and free < 1.0:
        warnings.warn(
            f"{directory}: no free CPU in the Ray cluster, so Ray Data would wait "
            "forever; reading with pyarrow instead",
            RuntimeWarning,
            stacklevel=2,
        )
        engine = "pyarrow"
    if engine == "ray":
        rows = _read_with_ray(directory, infos, out, concurrency)
    elif engine == "pyarrow":
        rows = _read_with_pyarrow(infos, out)
    else:
        raise ValueError(f"engine must be 'ray' or 'pyarrow', got {engine!r}")
    if rows != metadata.num_transitions:
        raise DatasetError(
            f"{directory}: read {rows} rows, but metadata.json says "
            f"num_transitions={metadata.num_transitions}"
        )
    _sort_if_needed(out)
    validate_arrays(
        out, str(directory), kind="column", locate=shard_locator(infos, out["episode_id"])
    )
    return out, metadata


def read_episodes(
    path: str | Path,
    expected_obs_dim: int | None = None,
    *,
    engine: str = "ray",
    extra_columns: Sequence[str] = (),
    concurrency: int = 2,
) -> EpisodeArrays:
    """Load and validate a dataset: a Parquet dataset directory or an OGBench ``.npz`` file.

    ``expected_obs_dim``: the environment's observation size (checked against the data).
    ``engine``: for directories, ``"ray"`` (default, Ray Data) or ``"pyarrow"``.
    ``extra_columns``: extra columns/keys to load into ``EpisodeArrays.extras``.
    """
    path = Path(path)
    if path.is_dir():
        columns, metadata = read_parquet_columns(
            path,
            extra_columns,
            engine=engine,
            expected_obs_dim=expected_obs_dim,
            concurrency=concurrency,
        )
        extras = {k: columns[k] for k in extra_columns}
        return EpisodeArrays(
            columns["observations"],
            columns["actions"],
            columns["terminals"],
            metadata.to_dict(),
            extras,
        )
    if path.suffix == NPZ_SUFFIX:
        return _read_npz(path, expected_obs_dim, extra_columns)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    raise DatasetError(f"{path}: expected a Parquet dataset directory or an OGBench .npz file")


def read_train_val(
    path: str | Path,
    expected_obs_dim: int | None = None,
    *,
    engine: str = "ray",
    concurrency: int = 2,
) -> tuple[EpisodeArrays, EpisodeArrays | None]:
    """Train split at ``path`` and its validation sibling (None if absent); dims must agree."""
    train = read_episodes(path, expected_obs_dim, engine=engine, concurrency=concurrency)
    val_path = val_path_for(path)
    if not val_path.exists():
        return train, None
    val = read_episodes(val_path, expected_obs_dim, engine=engine, concurrency=concurrency)
    validate_split_pair(
        _as_metadata(train, path), _as_metadata(val, val_path), str(path), str(val_path)
    )
    return train, val


def _as_metadata(episodes: EpisodeArrays, path: Path) -> DatasetMetadata:
    raw = {k: v for k, v in episodes.metadata.items() if k in DatasetMetadata.__dataclass_fields__}
    raw.setdefault("env_name", split_from_name(path)[0])
    raw.setdefault("split", split_from_name(path)[1])
    return DatasetMetadata.from_dict(raw, str(path))
