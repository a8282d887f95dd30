"""Shared fixtures: one Ray session for the whole test run (ray.init is slow), and the same
random draws for a test however the run is ordered or filtered."""

import os
import random
import zlib

import numpy as np
import pytest
import torch
from hypothesis import settings

os.environ.setdefault("RAY_DEDUP_LOGS", "0")

# Property tests draw the same examples on every run: a CI failure is reproducible locally.
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(autouse=True)
def seeded_global_rngs(request):
    """Seed torch, NumPy and ``random`` from the test's id before each test, so unseeded
    draws in a test do not depend on which tests ran before it."""
    seed = zlib.crc32(request.node.nodeid.encode())
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
