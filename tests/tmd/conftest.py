"""A tiny generated pointmaze dataset shared by the TMD end-to-end tests."""

import pytest

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
