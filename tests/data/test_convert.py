"""OGBench .npz <-> Parquet conversion: rllib_tmd/data/convert.py."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from rllib_tmd.data.convert import (
    convert_npz,
    convert_ogbench_pair,
    parquet_to_arrays,
    plan_shards,
    write_episode_shards,
)
from rllib_tmd.data.schema import DatasetError, DatasetMetadata

from .toy_data import make_arrays, write_npz

LENGTHS = [2, 3, 50, 7, 120, 2, 33, 64, 9, 200, 4]


def test_npz_to_parquet_to_arrays_is_bit_exact(tmp_path):
    arrays = make_arrays(LENGTHS, obs_dim=5, act_dim=3, extras=True)
    arrays["observations"][7, 2] = -0.0  # signed zero and denormals survive
    arrays["observations"][8, 2] = np.float32(1e-45)
    npz = write_npz(tmp_path / "toy-medium-navigate-v0.npz", arrays)
    out = convert_npz(npz, tmp_path / "toy", shard_rows=100)
    back = parquet_to_arrays(out)
    assert set(back) == set(arrays)
    for key, original in arrays.items():
        assert back[key].dtype == original.dtype and back[key].shape == original.shape, key
        assert back[key].tobytes() == original.tobytes(), key


def test_shards_are_episode_aligned_and_described(tmp_path):
    arrays = make_arrays(LENGTHS, extras=True)
    npz = write_npz(tmp_path / "toy-medium-navigate-v0.npz", arrays)
    out = convert_npz(npz, tmp_path / "toy", shard_rows=100)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["env_name"] == "toy-medium-navigate-v0" and metadata["split"] == "train"
    assert metadata["obs_dim"] == 3 and metadata["act_dim"] == 2
    assert metadata["num_episodes"] == len(LENGTHS)
    assert metadata["num_transitions"] == sum(LENGTHS)
    assert metadata["source_file"] == npz.name and len(metadata["source_sha256"]) == 64
    assert metadata["extra_columns"]["button_states"] == {"dtype": "int64", "shape": [3]}
    files = sorted(p.name for p in out.glob("*.parquet"))
    assert files == [s["file"] for s in metadata["shards"]] and len(files) > 3
    for shard in metadata["shards"]:
        table = pq.read_table(out / shard["file"])
        assert table.num_rows == shard["rows"]
        assert table.column("t")[0].as_py() == 0  # starts an episode
        assert table.column("terminals")[-1].as_py() == 1.0  # ends one
        assert table.schema.field("observations").type.list_size == 3
    assert not list(tmp_path.glob(".toy*"))  # temporary directory cleaned up


def test_val_split_and_env_name_from_file_name(tmp_path):
    train = write_npz(tmp_path / "toy-stitch-v0.npz", make_arrays(LENGTHS))
    write_npz(tmp_path / "toy-stitch-v0-val.npz", make_arrays([5, 6], seed=1))
    train_dir, val_dir = convert_ogbench_pair(train, tmp_path / "datasets")
    assert train_dir.name == "toy-stitch-v0" and val_dir.name == "toy-stitch-v0-val"
    val = DatasetMetadata.read(val_dir)
    assert val.split == "val" and val.env_name == "toy-stitch-v0" and val.num_episodes == 2
    renamed = convert_npz(train, tmp_path / "other", env_name="custom")
    assert DatasetMetadata.read(renamed).env_name == "custom"


def test_broken_val_sibling_fails_before_anything_is_written(tmp_path):
    train = write_npz(tmp_path / "toy-stitch-v0.npz", make_arrays(LENGTHS))
    (tmp_path / "toy-stitch-v0-val.npz").write_text("not an archive\n")
    with pytest.raises(DatasetError, match="toy-stitch-v0-val.npz: not a .npz archive"):
        convert_ogbench_pair(train, tmp_path / "datasets")
    assert not (tmp_path / "datasets").exists()


def test_refuses_to_overwrite_unless_asked(tmp_path):
    npz = write_npz(tmp_path / "toy-v0.npz", make_arrays(LENGTHS))
    out = convert_npz(npz, tmp_path / "toy")
    with pytest.raises(FileExistsError):
        convert_npz(npz, out)
    convert_npz(npz, out, overwrite=True, shard_rows=50)
    assert len(list(out.glob("*.parquet"))) > 1


def test_invalid_input_writes_nothing(tmp_path):
    arrays = make_arrays(LENGTHS)
    arrays["actions"][3, 0] = 1.5
    npz = write_npz(tmp_path / "toy-v0.npz", arrays)
    with pytest.raises(DatasetError, match="actions"):
        convert_npz(npz, tmp_path / "toy")
    assert not (tmp_path / "toy").exists()


def test_plan_shards_packs_whole_episodes():
    terminals = np.zeros(sum(LENGTHS), dtype=np.float32)
    terminals[np.cumsum(LENGTHS) - 1] = 1
    ranges = plan_shards(terminals, shard_rows=100)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(terminals)
    ends = set(np.cumsum(LENGTHS).tolist())
    for (_, stop), (next_start, _) in zip(ranges, ranges[1:], strict=False):
        assert stop == next_start and stop in ends
    for start, stop in ranges:  # over the budget only when one episode is that long
        assert stop - start <= 100 or stop - start in LENGTHS
    assert plan_shards(terminals, shard_rows=10**9) == [(0, len(terminals))]


def test_write_episode_shards_from_arrays(tmp_path):
    arrays = make_arrays([3, 4])
    out = write_episode_shards(arrays, tmp_path / "gen-v0", env_name="gen-v0", shard_rows=3)
    assert DatasetMetadata.read(out).num_episodes == 2
    assert len(list(out.glob("*.parquet"))) == 2
