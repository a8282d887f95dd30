"""A tiny generated pointmaze dataset shared by the TMD end-to-end tests, the config that
trains on it, and a Tune-like trial folder for the tools that read trained runs."""

import json
from pathlib import Path
from typing import Any

import pytest

from rllib_tmd import TMDConfig
from rllib_tmd.data.catalog import make_dataset

TINY_TRAINING = {
    "latent_dim": 32,
    "hidden_dims": (64, 64),
    "actor_hidden_dims": (64, 64),
    "quasimetric_components": 4,
    "train_batch_size_per_learner": 64,
    "updates_per_iteration": 5,
    "eval_episodes_per_task": 1,
}


@pytest.fixture(scope="session")
def tiny_pointmaze(tmp_path_factory):
    """Parquet folder of a 12-episode pointmaze-medium-navigate dataset."""
    out = tmp_path_factory.mktemp("datasets")
    return make_dataset("pointmaze-medium-navigate-v0", out, episodes=12, seed=0, progress=False)


def tiny_config(data: Any, seed: int | None = None, **training: Any) -> TMDConfig:
    """TMD on the dataset ``data`` (a Parquet folder or ``.npz``) with :data:`TINY_TRAINING`
    (``training`` on top) and, when given, a seed."""
    config = TMDConfig().offline_data(input_=str(data)).training(**{**TINY_TRAINING, **training})
    return config if seed is None else config.debugging(seed=seed)


def fake_trial(algo: Any, root: Path, seed: int, **params: Any) -> Path:
    """A Tune-like trial folder under ``root/tmd-pointmaze-medium-navigate/``: two checkpoints
    of ``algo`` and ``params.json`` with the seed, the env and ``params``."""
    trial = root / "tmd-pointmaze-medium-navigate" / f"TMD_00000_0_seed={seed}"
    for k in range(2):
        algo.save(str(trial / f"checkpoint_{k:06d}"))
    params = {"seed": seed, "ogbench_env": algo.config.ogbench_env, **params}
    (trial / "params.json").write_text(json.dumps(params))
    return trial
