"""Loading datasets: rllib_tmd/data/episodes.py."""

import time

import numpy as np
import pytest

from rllib_tmd.data.convert import convert_ogbench_pair
from rllib_tmd.data.episodes import EpisodeArrays, read_episodes, read_train_val
from rllib_tmd.data.schema import DatasetError

from .toy_data import make_arrays, write_npz

LENGTHS = [3, 40, 2, 75, 11, 130, 6]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    arrays = make_arrays(LENGTHS, extras=True)
    npz = write_npz(root / "toy-navigate-v0.npz", arrays)
    write_npz(root / "toy-navigate-v0-val.npz", make_arrays([4, 9], seed=3))
    train_dir, val_dir = convert_ogbench_pair(npz, root / "datasets", shard_rows=60)
    return arrays, npz, train_dir, val_dir


def _assert_same(episodes, arrays):
    for key in ("observations", "actions", "terminals"):
        assert getattr(episodes, key).dtype == np.float32
        np.testing.assert_array_equal(getattr(episodes, key), arrays[key])


def test_ray_data_pyarrow_and_npz_readers_agree(ray_session, converted):
    arrays, npz, train_dir, _ = converted
    through_ray = read_episodes(train_dir, expected_obs_dim=3)
    _assert_same(through_ray, arrays)
    _assert_same(read_episodes(train_dir, engine="pyarrow"), arrays)
    _assert_same(read_episodes(npz), arrays)
    assert through_ray.metadata["env_name"] == "toy-navigate-v0"
    assert through_ray.metadata["num_transitions"] == sum(LENGTHS)
    assert (through_ray.num_rows, through_ray.obs_dim, through_ray.act_dim) == (sum(LENGTHS), 3, 2)
    assert through_ray.num_episodes == len(LENGTHS)
    index = through_ray.episode_index()
    assert len(index.rows) == sum(LENGTHS) - len(LENGTHS)


def test_ray_reader_does_not_hang_when_every_cpu_is_taken(ray_session, converted):
    """Ray Data's listing task needs a free CPU; the reader falls back to pyarrow instead."""
    import ray

    @ray.remote(num_cpus=1)
    class Holder:
        def ready(self):
            return True

    total = int(ray.cluster_resources()["CPU"])
    holders = [Holder.remote() for _ in range(total)]
    try:
        ray.get([h.ready.remote() for h in holders], timeout=60)
        with pytest.warns(RuntimeWarning, match="no free CPU"):
            episodes = read_episodes(converted[2])
        _assert_same(episodes, converted[0])
    finally:
        for holder in holders:
            ray.kill(holder)
        deadline = time.monotonic() + 30
        while ray.available_resources().get("CPU", 0) < total and time.monotonic() < deadline:
            time.sleep(0.1)


def test_extra_columns_on_request(converted):
    arrays, npz, train_dir, _ = converted
    for source in (train_dir, npz):
        episodes = read_episodes(source, engine="pyarrow", extra_columns=["qvel", "button_states"])
        for key in ("qvel", "button_states"):
            assert episodes.extras[key].dtype == arrays[key].dtype
            np.testing.assert_array_equal(episodes.extras[key], arrays[key])
    with pytest.raises(DatasetError, match="'nope'"):
        read_episodes(train_dir, engine="pyarrow", extra_columns=["nope"])


def test_read_train_val(converted):
    _, npz, train_dir, val_dir = converted
    train, val = read_train_val(train_dir, engine="pyarrow")
    assert train.metadata["split"] == "train" and val.metadata["split"] == "val"
    assert val.num_episodes == 2
    train, val = read_train_val(npz)
    assert val.metadata["split"] == "val" and val.num_rows == 13


def test_from_arrays_validates():
    arrays = make_arrays([3, 4])
    episodes = EpisodeArrays.from_arrays(
        arrays["observations"], arrays["actions"], arrays["terminals"].astype(bool)
    )
    assert episodes.terminals.dtype == np.float32 and episodes.num_episodes == 2
    with pytest.raises(DatasetError, match="<arrays>: key 'actions'"):
        EpisodeArrays.from_arrays(
            arrays["observations"], arrays["actions"] * 3, arrays["terminals"]
        )


def test_unknown_engine(converted):
    with pytest.raises(ValueError, match="engine"):
        read_episodes(converted[2], engine="spark")
