"""Dataset folders as the rest of the package sees them: make one, describe one.

``make_dataset`` = generate the OGBench ``.npz`` pair with OGBench's recipe, then convert
both splits into Parquet episode folders ``<out>/<name>/`` and ``<out>/<name>-val/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rllib_tmd.data.schema import DatasetError, DatasetMetadata


def make_dataset(
    name: str,
    out_dir: str | Path,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Path]:
    """Writes ``<name>.npz``, ``<name>-val.npz`` and their Parquet folders under ``out_dir``.

    Returns ``{"train_npz", "val_npz", "train", "val"}`` paths (``train``/``val`` are the
    Parquet folders to pass to ``TMDConfig.offline_data(input_=...)``).
    """
    from rllib_tmd.data.convert import convert_ogbench_pair
    from rllib_tmd.data.generate import generate_dataset

    npz = generate_dataset(
        name, out_dir, episodes=episodes, seed=seed, workers=workers, progress=progress
    )
    train_dir, val_dir = convert_ogbench_pair(npz["train"], out_dir, overwrite=True)
    return {"train_npz": npz["train"], "val_npz": npz["val"], "train": train_dir, "val": val_dir}


def describe_dataset(path: str | Path) -> dict[str, Any]:
    """``{"env_name", "obs_dim", "act_dim"}`` of a Parquet folder or an OGBench ``.npz``,
    read from metadata or array headers only (cheap: no data is loaded)."""
    path = Path(path)
    if path.is_dir():
        meta = DatasetMetadata.read(path)
        return {"env_name": meta.env_name, "obs_dim": meta.obs_dim, "act_dim": meta.act_dim}
    if path.suffix == ".npz" and path.is_file():
        from rllib_tmd.data.episodes import split_from_name

        with np.load(path, mmap_mode="r") as arrays:
            for key in ("observations", "actions"):
                if key not in arrays.files:
                    raise DatasetError(f"{path}: missing key '{key}'")
            obs_shape, act_shape = arrays["observations"].shape, arrays["actions"].shape
        if len(obs_shape) != 2 or len(act_shape) != 2:
            raise DatasetError(f"{path}: 'observations' and 'actions' must be 2-D arrays")
        env_name, _ = split_from_name(path)
        return {"env_name": env_name, "obs_dim": obs_shape[1], "act_dim": act_shape[1]}
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset (a Parquet folder or an OGBench .npz)")
    raise DatasetError(f"{path}: expected a Parquet dataset directory or an OGBench .npz file")
