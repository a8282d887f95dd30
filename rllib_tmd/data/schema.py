"""On-disk episode format (Parquet) and validation with clear, located error messages.

On-disk format (``format = "rllib-tmd-episodes"``, ``format_version = 1``)
==========================================================================

A dataset is a directory::

    <root>/<env_name>/              train split
        metadata.json
        episodes-00000.parquet
        episodes-00001.parquet
        ...
    <root>/<env_name>-val/          validation split: a sibling directory, same layout

(:func:`split_from_name` and :func:`val_path_for` implement this naming, also for OGBench's
``<env_name>.npz`` / ``<env_name>-val.npz`` pairs.)

Every Parquet shard holds **one row per state** (OGBench's "transitions"), in episode order:

==================  =======================================  ======================================
column              Arrow type                               meaning
==================  =======================================  ======================================
``episode_id``      int64                                    0, 1, 2, ... in file order; strictly
                                                             increasing from one episode to the next
``t``               int32                                    step within the episode: 0, 1, ..., T
``observations``    fixed_size_list<float32>[obs_dim]        state s_t
``actions``         fixed_size_list<float32>[act_dim]        a_t, in [-1, 1]; unused on the last row
``terminals``       float32                                  1.0 on the last row of each episode,
                                                             else 0.0 (OGBench's convention)
extras (optional)   fixed_size_list<T>[k] or T               carried through unchanged, e.g.
                                                             ``qpos``, ``qvel``, ``button_states``
==================  =======================================  ======================================

Row ``i`` with ``terminals[i] == 0`` is a transition ``(s_i, a_i, s_{i+1})``: its next state is the
next row. Every episode has at least 2 rows (one transition). Episodes never span shards, and
shards are in episode order (file names sort in that order). No column has nulls; observations,
actions and float extras are finite.

``metadata.json`` (written by :func:`rllib_tmd.data.convert.convert_npz`)::

    {"format": "rllib-tmd-episodes", "format_version": 1,
     "env_name": "pointmaze-medium-navigate-v0", "split": "train" | "val",
     "obs_dim": 2, "act_dim": 2,
     "num_episodes": 1000, "num_transitions": 1001000,      # rows (states), as OGBench counts
     "source_file": "pointmaze-medium-navigate-v0.npz", "source_sha256": "...",
     "extra_columns": {"qpos": {"dtype": "float32", "shape": [2]}, ...},   # shape per row
     "shards": [{"file": "episodes-00000.parquet", "rows": ..., "episodes": ...,
                 "first_episode_id": 0, "last_episode_id": 199}, ...]}

Validation
==========
Every problem raises :class:`DatasetError` (a ``ValueError``) whose message names the file and
the key (``.npz``) or column (Parquet) at fault, e.g.
``"/data/x/episodes-00002.parquet: column 'observations' has width 5, but metadata.json says
obs_dim=4"``. :func:`validate_arrays` checks in-memory arrays (contents); :func:`inspect_shard`
and :func:`validate_dataset_dir` check files from their footers (schema, row counts) without
reading the data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMAT_NAME = "rllib-tmd-episodes"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
SHARD_PREFIX = "episodes-"
SHARD_SUFFIX = ".parquet"
NPZ_SUFFIX = ".npz"
VAL_SUFFIX = "-val"
SPLITS = ("train", "val")

REQUIRED_KEYS = ("observations", "actions", "terminals")
INDEX_COLUMNS = ("episode_id", "t")
CORE_COLUMNS = ("episode_id", "t", "observations", "actions", "terminals")

# Rows per chunk when scanning big arrays (bounds the size of temporary boolean masks).
_SCAN_ROWS = 1 << 16


class DatasetError(ValueError):
    """A dataset file or array is missing, malformed or inconsistent; the message says where."""


def shard_name(index: int) -> str:
    """File name of shard ``index``: ``episodes-00000.parquet``."""
    return f"{SHARD_PREFIX}{index:05d}{SHARD_SUFFIX}"


def split_from_name(path: str | Path) -> tuple[str, str]:
    """``.../pointmaze-medium-navigate-v0-val.npz`` -> ``("pointmaze-medium-navigate-v0", "val")``.

    Works for ``.npz`` files and dataset directories (``<name>`` / ``<name>-val``).
    """
    name = Path(path).name
    if name.endswith(NPZ_SUFFIX):
        name = name[: -len(NPZ_SUFFIX)]
    if name.endswith(VAL_SUFFIX):
        return name[: -len(VAL_SUFFIX)], "val"
    return name, "train"


def val_path_for(path: str | Path) -> Path:
    """The validation split beside a train split: ``<name>-val/`` or ``<name>-val.npz``."""
    path = Path(path)
    if path.name.endswith(NPZ_SUFFIX):
        return path.with_name(path.name[: -len(NPZ_SUFFIX)] + VAL_SUFFIX + NPZ_SUFFIX)
    return path.with_name(path.name + VAL_SUFFIX)


# --------------------------------------------------------------------------------------------
# Arrow schema
# --------------------------------------------------------------------------------------------


def arrow_value_type(dtype: np.dtype) -> pa.DataType:
    """Arrow type of one element of a numpy dtype (bool, int, uint or float)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"dtype {dtype} is not numeric")
    return pa.from_numpy_dtype(dtype)


def column_type(dtype: np.dtype, row_shape: Sequence[int]) -> pa.DataType:
    """Arrow type of a column whose rows have ``row_shape`` (``()`` or ``(k,)``)."""
    value_type = arrow_value_type(dtype)
    if len(row_shape) == 0:
        return value_type
    if len(row_shape) == 1:
        return pa.list_(value_type, int(row_shape[0]))
    raise TypeError(f"rows must be scalars or vectors, got row shape {tuple(row_shape)}")


def episode_schema(
    obs_dim: int,
    act_dim: int,
    extra_columns: Mapping[str, Mapping] | None = None,
) -> pa.Schema:
    """Arrow schema of one shard. ``extra_columns``: name -> ``{"dtype": str, "shape": [k]}``."""
    fields = [
        pa.field("episode_id", pa.int64(), nullable=False),
        pa.field("t", pa.int32(), nullable=False),
        pa.field("observations", pa.list_(pa.float32(), obs_dim), nullable=False),
        pa.field("actions", pa.list_(pa.float32(), act_dim), nullable=False),
        pa.field("terminals", pa.float32(), nullable=False),
    ]
    for name, spec in (extra_columns or {}).items():
        fields.append(
            pa.field(name, column_type(np.dtype(spec["dtype"]), spec["shape"]), nullable=False)
        )
    return pa.schema(fields)


# --------------------------------------------------------------------------------------------
# metadata.json
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetMetadata:
    """Contents of ``metadata.json`` (see the module docstring)."""

    env_name: str
    split: str
    obs_dim: int
    act_dim: int
    num_episodes: int
    num_transitions: int
    source_file: str | None = None
    source_sha256: str | None = None
    extra_columns: dict[str, dict] = field(default_factory=dict)
    shards: list[dict] = field(default_factory=list)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, raw: Mapping, source: str) -> DatasetMetadata:
        """Parse and check a metadata mapping; ``source`` names the file in errors."""
        required = ("env_name", "split", "obs_dim", "act_dim", "num_episodes", "num_transitions")
        missing = [k for k in required if k not in raw]
        if missing:
            raise DatasetError(f"{source}: missing field(s) {missing}")
        if raw.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise DatasetError(
                f"{source}: field 'format' is {raw['format']!r}, expected {FORMAT_NAME!r}"
            )
        version = raw.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise DatasetError(
                f"{source}: field 'format_version' is {version!r}; this version "
                f"of rllib_tmd reads format_version {FORMAT_VERSION}"
            )
        for key in ("obs_dim", "act_dim", "num_episodes", "num_transitions"):
            if not isinstance(raw[key], int) or raw[key] < 1:
                raise DatasetError(
                    f"{source}: field '{key}' must be a positive integer, got {raw[key]!r}"
                )
        if raw["split"] not in SPLITS:
            raise DatasetError(
                f"{source}: field 'split' is {raw['split']!r}, expected one of {SPLITS}"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @classmethod
    def read(cls, directory: str | Path) -> DatasetMetadata:
        path = Path(directory) / METADATA_FILE
        if not path.is_file():
            raise DatasetError(
                f"{directory}: no {METADATA_FILE} (not a converted dataset "
                "directory; create one with rllib_tmd.data.convert_npz)"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, str(path))


# --------------------------------------------------------------------------------------------
# In-memory arrays
# --------------------------------------------------------------------------------------------


RowLocator = Callable[[int], str]


def _first_row_where(array: np.ndarray, is_bad: Callable[[np.ndarray], np.ndarray]) -> int | None:
    """First row index for which ``is_bad(rows)`` is true in any column; scans in chunks."""
    for start in range(0, len(array), _SCAN_ROWS):
        chunk = array[start : start + _SCAN_ROWS]
        bad = is_bad(chunk)
        if bad.ndim > 1:
            bad = bad.reshape(len(chunk), -1).any(axis=1)
        hits = np.flatnonzero(bad)
        if hits.size:
            return start + int(hits[0])
    return None


def _nonfinite(chunk: np.ndarray) -> np.ndarray:
    return ~np.isfinite(chunk)


def _outside_unit_box(chunk: np.ndarray) -> np.ndarray:
    return (chunk < -1.0) | (chunk > 1.0)


def _check_float_matrix(
    arrays: Mapping[str, np.ndarray], name: str, where: str, kind: str
) -> np.ndarray:
    array = arrays[name]
    if not isinstance(array, np.ndarray):
        raise DatasetError(
            f"{where}: {kind} '{name}' is a {type(array).__name__}, expected a numpy array"
        )
    if array.dtype != np.float32:
        raise DatasetError(
            f"{where}: {kind} '{name}' has dtype {array.dtype}, expected float32"
            + (" (image observations are not supported)" if array.dtype == np.uint8 else "")
        )
    if array.ndim != 2:
        raise DatasetError(f"{where}: {kind} '{name}' has shape {array.shape}, expected [N, dim]")
    return array


def _check_width(
    array: np.ndarray, name: str, expected: int | None, expected_from: str, where: str, kind: str
) -> None:
    if expected is not None and array.shape[1] != expected:
        raise DatasetError(
            f"{where}: {kind} '{name}' has width {array.shape[1]}, but "
            f"{expected_from} says {expected}"
        )


def episode_starts(terminals: np.ndarray) -> np.ndarray:
    """Row index where each episode starts, ``[E]`` int64 (terminals must end with 1)."""
    ends = np.flatnonzero(terminals)
    return np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)


def validate_arrays(
    arrays: Mapping[str, np.ndarray],
    source: str,
    *,
    kind: str = "key",
    expected_obs_dim: int | None = None,
    expected_act_dim: int | None = None,
    expected_from: str = "the expected shape",
    locate: RowLocator | None = None,
) -> None:
    """Check one dataset held as arrays; raise :class:`DatasetError` naming ``source`` and key.

    ``arrays``: ``observations [N, obs_dim] float32``, ``actions [N, act_dim] float32``,
    ``terminals [N]`` (0/1, any numeric dtype), optional ``episode_id [N]`` / ``t [N]`` (then
    checked for contiguity) and extras ``[N, ...]``. ``kind`` is the word for a field in
    messages ("key" for .npz, "column" for Parquet); ``locate(row)`` names where a row lives
    (default: "row r").
    """
    where = source
    locate = locate or (lambda row: f"row {row}")
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DatasetError(
            f"{where}: missing {kind}(s) {missing} "
            f"(required: {list(REQUIRED_KEYS)}, present: {sorted(arrays)})"
        )
    observations = _check_float_matrix(arrays, "observations", where, kind)
    actions = _check_float_matrix(arrays, "actions", where, kind)
    terminals = np.asarray(arrays["terminals"])
    if terminals.ndim != 1 or terminals.dtype.kind not in "biuf":
        raise DatasetError(
            f"{where}: {kind} 'terminals' has shape {terminals.shape} and dtype "
            f"{terminals.dtype}, expected a numeric [N] array"
        )
    num_rows = len(observations)
    if num_rows == 0:
        raise DatasetError(f"{where}: {kind} 'observations' has no rows (empty dataset)")
    for name in arrays:
        if len(arrays[name]) != num_rows:
            raise DatasetError(
                f"{where}: {kind} '{name}' has {len(arrays[name])} rows but "
                f"'observations' has {num_rows}"
            )
    _check_width(observations, "observations", expected_obs_dim, expected_from, where, kind)
    _check_width(actions, "actions", expected_act_dim, expected_from, where, kind)

    for name, array in (("observations", observations), ("actions", actions)):
        row = _first_row_where(array, _nonfinite)
        if row is not None:
            raise DatasetError(f"{where}: {kind} '{name}' has NaN/inf at {locate(row)}")
    row = _first_row_where(actions, _outside_unit_box)
    if row is not None:
        raise DatasetError(
            f"{where}: {kind} 'actions' is outside [-1, 1] at {locate(row)}: "
            f"{actions[row].tolist()}"
        )
    _check_terminals(terminals, where, kind, locate)
    if "episode_id" in arrays or "t" in arrays:
        _check_episode_index(arrays, terminals, where, kind, locate)
    for name, array in arrays.items():
        if name in REQUIRED_KEYS or name in INDEX_COLUMNS:
            continue
        _check_extra(name, np.asarray(array), where, kind, locate)


def _check_terminals(terminals: np.ndarray, where: str, kind: str, locate: RowLocator) -> None:
    row = _first_row_where(terminals, lambda c: (c != 0) & (c != 1))
    if row is not None:
        raise DatasetError(
            f"{where}: {kind} 'terminals' must be 0 or 1, found {terminals[row]} at {locate(row)}"
        )
    ends = np.flatnonzero(terminals)
    if ends.size == 0:
        raise DatasetError(
            f"{where}: {kind} 'terminals' has no terminal flags (1.0 must mark "
            "the last row of every episode)"
        )
    if ends[-1] != len(terminals) - 1:
        raise DatasetError(
            f"{where}: {kind} 'terminals': the last episode is not terminated "
            f"(last terminal at {locate(int(ends[-1]))}, but there are "
            f"{len(terminals)} rows)"
        )
    lengths = np.diff(ends, prepend=-1)
    short = np.flatnonzero(lengths < 2)
    if short.size:
        episode = int(short[0])
        start = int(ends[episode] - lengths[episode] + 1)
        raise DatasetError(
            f"{where}: {kind} 'terminals': episode {episode} (starting at "
            f"{locate(start)}) has {int(lengths[episode])} row; every episode "
            "needs at least 2 rows (one transition)"
        )


def _check_episode_index(
    arrays: Mapping[str, np.ndarray],
    terminals: np.ndarray,
    where: str,
    kind: str,
    locate: RowLocator,
) -> None:
    for name in INDEX_COLUMNS:
        if name not in arrays:
            raise DatasetError(f"{where}: missing {kind} '{name}'")
        if np.asarray(arrays[name]).dtype.kind not in "iu":
            raise DatasetError(
                f"{where}: {kind} '{name}' has dtype "
                f"{np.asarray(arrays[name]).dtype}, expected an integer type"
            )
    episode_id = np.asarray(arrays["episode_id"])
    steps = np.asarray(arrays["t"])
    starts = episode_starts(terminals)
    lengths = np.diff(np.append(starts, len(terminals)))
    expected_t = np.arange(len(terminals)) - np.repeat(starts, lengths)
    row = _first_row_where(np.stack([steps, expected_t], axis=1), lambda c: c[:, 0] != c[:, 1])
    if row is not None:
        raise DatasetError(
            f"{where}: {kind} 't' is not contiguous: expected t={expected_t[row]}"
            f" (episodes run t = 0..T and end at a terminal) but found "
            f"t={steps[row]} at {locate(row)}"
        )
    same_episode = np.repeat(episode_id[starts], lengths)
    row = _first_row_where(
        np.stack([episode_id, same_episode], axis=1), lambda c: c[:, 0] != c[:, 1]
    )
    if row is not None:
        raise DatasetError(
            f"{where}: {kind} 'episode_id' changes inside an episode "
            f"(terminals say otherwise) at {locate(row)}"
        )
    if len(starts) > 1:
        step = np.diff(episode_id[starts])
        bad = np.flatnonzero(step <= 0)
        if bad.size:
            row = int(starts[bad[0] + 1])
            raise DatasetError(
                f"{where}: {kind} 'episode_id' must increase from one episode "
                f"to the next; found {episode_id[row]} after "
                f"{episode_id[starts[bad[0]]]} at {locate(row)}"
            )


def _check_extra(name: str, array: np.ndarray, where: str, kind: str, locate: RowLocator) -> None:
    if array.dtype.kind not in "biuf" or array.ndim not in (1, 2):
        raise DatasetError(
            f"{where}: {kind} '{name}' has dtype {array.dtype} and shape "
            f"{array.shape}; extra {kind}s must be numeric [N] or [N, k]"
        )
    if array.dtype.kind == "f":
        row = _first_row_where(array, _nonfinite)
        if row is not None:
            raise DatasetError(f"{where}: {kind} '{name}' has NaN/inf at {locate(row)}")


# --------------------------------------------------------------------------------------------
# Parquet files and directories (footer-level checks)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardInfo:
    """What a shard's footer says: path, rows, episode id range (None if no statistics)."""

    path: Path
    num_rows: int
    first_episode_id: int | None
    last_episode_id: int | None


def _describe_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_fixed_size_list(arrow_type):
        return f"fixed_size_list<{arrow_type.value_type}>[{arrow_type.list_size}]"
    return str(arrow_type)


def _types_match(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Type equality that ignores list child field names ("item" vs Parquet's "element")."""
    if pa.types.is_fixed_size_list(expected):
        return (
            pa.types.is_fixed_size_list(actual)
            and actual.list_size == expected.list_size
            and actual.value_type == expected.value_type
        )
    return actual == expected


def check_shard_schema(schema: pa.Schema, expected: pa.Schema, source: str) -> None:
    """Raise if ``schema`` lacks a column of ``expected`` or has it with another type/width."""
    for wanted in expected:
        index = schema.get_field_index(wanted.name)
        if index < 0:
            raise DatasetError(
                f"{source}: missing column '{wanted.name}' (columns present: {schema.names})"
            )
        actual = schema.field(index).type
        if not _types_match(actual, wanted.type):
            detail = ""
            if (
                pa.types.is_fixed_size_list(actual)
                and pa.types.is_fixed_size_list(wanted.type)
                and actual.value_type == wanted.type.value_type
            ):
                dim = {"observations": "obs_dim", "actions": "act_dim"}.get(wanted.name, "width")
                detail = (
                    f" (width {actual.list_size}, but metadata.json says "
                    f"{dim}={wanted.type.list_size})"
                )
            raise DatasetError(
                f"{source}: column '{wanted.name}' has type "
                f"{_describe_type(actual)}, expected "
                f"{_describe_type(wanted.type)}{detail}"
            )


def _episode_id_range(meta: pq.FileMetaData) -> tuple[int | None, int | None]:
    """Min and max of ``episode_id`` from row-group statistics (None when absent)."""
    column = meta.schema.names.index("episode_id") if "episode_id" in meta.schema.names else -1
    if column < 0:
        return None, None
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None, None
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows), max(highs)) if lows else (None, None)


def require_nonempty_file(path: str | Path) -> Path:
    """``path`` as a Path; a missing or zero-byte file is a DatasetError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: file is empty (0 bytes)")
    return path


def inspect_shard(path: str | Path, expected: pa.Schema | None = None) -> ShardInfo:
    """Open a shard's footer, check it is a non-empty Parquet file with the expected schema."""
    path = require_nonempty_file(path)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(
            f"{path}: not a readable Parquet file (truncated or corrupt?): {err}"
        ) from err
    meta = parquet.metadata
    if meta.num_rows == 0:
        raise DatasetError(f"{path}: file has no rows")
    if expected is not None:
        check_shard_schema(parquet.schema_arrow, expected, str(path))
    first, last = _episode_id_range(meta)
    return ShardInfo(path, meta.num_rows, first, last)


def list_shards(directory: str | Path) -> list[Path]:
    """Sorted shard paths in ``directory``; raise naming the directory if there are none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"{directory}: not a directory")
    shards = sorted(p for p in directory.iterdir() if p.name.endswith(SHARD_SUFFIX) and p.is_file())
    if not shards:
        raise DatasetError(
            f"{directory}: no Parquet files ({SHARD_PREFIX}NNNNN{SHARD_SUFFIX}) in this directory"
        )
    return shards


def validate_dataset_dir(
    directory: str | Path,
    *,
    expected_obs_dim: int | None = None,
    expected_act_dim: int | None = None,
) -> tuple[DatasetMetadata, list[ShardInfo]]:
    """Footer-level check of a dataset directory; returns its metadata and shard infos.

    Checks: metadata.json present and well formed, dims equal to the expected env dims, at
    least one shard, every shard readable, non-empty and of the schema metadata.json implies,
    total rows equal ``num_transitions``, episode ids of consecutive shards increasing.
    """
    directory = Path(directory)
    shards = list_shards(directory)
    metadata = DatasetMetadata.read(directory)
    meta_path = directory / METADATA_FILE
    for name, value, expected in (
        ("obs_dim", metadata.obs_dim, expected_obs_dim),
        ("act_dim", metadata.act_dim, expected_act_dim),
    ):
        if expected is not None and value != expected:
            raise DatasetError(
                f"{meta_path}: field '{name}' is {value}, but the environment expects {expected}"
            )
    schema = episode_schema(metadata.obs_dim, metadata.act_dim, metadata.extra_columns)
    infos = [inspect_shard(path, schema) for path in shards]
    total = sum(info.num_rows for info in infos)
    if total != metadata.num_transitions:
        raise DatasetError(
            f"{meta_path}: field 'num_transitions' is {metadata.num_transitions},"
            f" but the {len(infos)} Parquet file(s) hold {total} rows"
        )
    for before, after in zip(infos, infos[1:], strict=False):
        if None in (before.last_episode_id, after.first_episode_id):
            continue
        if after.first_episode_id <= before.last_episode_id:
            raise DatasetError(
                f"{after.path}: column 'episode_id' starts at "
                f"{after.first_episode_id}, not after {before.path.name}'s last "
                f"episode {before.last_episode_id} (episodes must not span or "
                "repeat across shards)"
            )
    return metadata, infos


def shard_locator(infos: Sequence[ShardInfo], episode_id: np.ndarray) -> RowLocator:
    """A :data:`RowLocator` naming the shard of a row through its ``episode_id``."""

    def locate(row: int) -> str:
        episode = int(episode_id[row])
        for info in infos:
            if info.first_episode_id is not None and (
                info.first_episode_id <= episode <= info.last_episode_id
            ):
                return f"{info.path} (episode_id {episode})"
        return f"row {row} (episode_id {episode})"

    return locate


def validate_split_pair(
    train: DatasetMetadata, val: DatasetMetadata, train_source: str, val_source: str
) -> None:
    """Train and validation splits must agree on obs_dim, act_dim and env."""
    for name in ("obs_dim", "act_dim"):
        a, b = getattr(train, name), getattr(val, name)
        if a != b:
            raise DatasetError(
                f"{val_source}: field '{name}' is {b}, but the train split "
                f"{train_source} has {name}={a}"
            )
    if val.split != "val":
        raise DatasetError(f"{val_source}: field 'split' is {val.split!r}, expected 'val'")
