"""Shared fixtures: one Ray session for the whole test run (ray.init is slow)."""

import os

import pytest

os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray


@pytest.fixture(scope="session")
def tiny_pointmaze_root(tmp_path_factory):
    """A folder with `datasets/pointmaze-medium-navigate-v0` (12 episodes), as the tuned
    examples expect relative to the working directory."""
    from rllib_tmd.data.catalog import make_dataset

    root = tmp_path_factory.mktemp("workdir")
    make_dataset(
        "pointmaze-medium-navigate-v0", root / "datasets", episodes=12, seed=0, progress=False
    )
    return root
