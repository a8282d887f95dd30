"""Bad inputs: every case raises DatasetError naming the file and the key/column."""

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rllib_tmd.data.convert import convert_npz
from rllib_tmd.data.episodes import read_episodes, read_train_val
from rllib_tmd.data.schema import DatasetError, episode_schema

from .toy_data import make_arrays, write_npz

LENGTHS = [4, 30, 6, 12, 50, 3, 20]


def _break_npz(arrays, case):
    if case == "missing key":
        del arrays["terminals"]
    elif case == "float64 observations":
        arrays["observations"] = arrays["observations"].astype(np.float64)
    elif case == "image observations":
        arrays["observations"] = np.zeros((len(arrays["actions"]), 4, 4, 3), np.uint8)
    elif case == "1-D observations":
        arrays["observations"] = arrays["observations"][:, 0]
    elif case == "NaN observation":
        arrays["observations"][17, 1] = np.nan
    elif case == "inf action":
        arrays["actions"][40, 0] = np.inf
    elif case == "action out of range":
        arrays["actions"][41, 1] = -1.01
    elif case == "no terminals":
        arrays["terminals"][:] = 0
    elif case == "unterminated last episode":
        arrays["terminals"][-1] = 0
    elif case == "one-row episode":
        arrays["terminals"][4] = 1  # row 3 ends episode 0, row 4 alone
    elif case == "terminal value 2":
        arrays["terminals"][2] = 2
    elif case == "short actions":
        arrays["actions"] = arrays["actions"][:-1]
    elif case == "no rows":
        for key in arrays:
            arrays[key] = arrays[key][:0]
    elif case == "NaN extra":
        arrays["qpos"][5, 0] = np.nan
    return arrays


NPZ_CASES = {
    "missing key": "missing key.*'terminals'",
    "float64 observations": "'observations' has dtype float64",
    "image observations": "'observations' has dtype uint8.*not supported",
    "1-D observations": "'observations' has shape",
    "NaN observation": "'observations' has NaN/inf at row 17",
    "inf action": "'actions' has NaN/inf at row 40",
    "action out of range": r"'actions' is outside \[-1, 1\] at row 41",
    "no terminals": "'terminals' has no terminal flags",
    "unterminated last episode": "'terminals': the last episode is not terminated",
    "one-row episode": "'terminals': episode 1 .* has 1 row",
    "terminal value 2": "'terminals' must be 0 or 1",
    "short actions": "'actions' has 124 rows but 'observations' has 125",
    "no rows": "'observations' has no rows",
    "NaN extra": "'qpos' has NaN/inf at row 5",
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_bad_npz(tmp_path, case):
    arrays = _break_npz(make_arrays(LENGTHS, extras=True), case)
    npz = write_npz(tmp_path / "toy-v0.npz", arrays)
    pattern = re.escape(str(npz)) + ".*" + NPZ_CASES[case]
    with pytest.raises(DatasetError, match=pattern):
        convert_npz(npz, tmp_path / "out")
    if case != "NaN extra":  # read_episodes loads only the keys it needs
        with pytest.raises(DatasetError, match=pattern):
            read_episodes(npz)


@pytest.mark.parametrize(
    "content", [b"", b"PK\x03\x04 not really a zip", None], ids=["empty", "garbage", "truncated"]
)
def test_unreadable_npz(tmp_path, content):
    npz = tmp_path / "toy-v0.npz"
    if content is None:
        write_npz(npz, make_arrays(LENGTHS))
        content = npz.read_bytes()[:300]
    npz.write_bytes(content)
    with pytest.raises(DatasetError, match=re.escape(str(npz))):
        read_episodes(npz)


@pytest.mark.parametrize(
    ("content", "named_as"),
    [
        (b"observations,actions\n0.1,0.2\n", "text"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'}", "single-array .npy"),
        (bytes(range(200, 256)), "unknown format"),
    ],
    ids=["text", "npy", "binary"],
)
def test_not_a_zip_says_what_it_is(tmp_path, content, named_as):
    """A file that is no zip at all gets told apart from a damaged .npz (numpy alone would say
    'pickled data' for the text file)."""
    npz = tmp_path / "toy-v0.npz"
    npz.write_bytes(content)
    for read in (read_episodes, lambda path: convert_npz(path, tmp_path / "out")):
        with pytest.raises(DatasetError, match=f"not a .npz archive .* but (an? )?{named_as}"):
            read(npz)


def test_npz_width_differs_from_env(tmp_path):
    npz = write_npz(tmp_path / "toy-v0.npz", make_arrays(LENGTHS))
    with pytest.raises(DatasetError, match="'observations' has width 3, but expected_obs_dim"):
        read_episodes(npz, expected_obs_dim=4)


# ------------------------------------------------------------------------------- Parquet


@pytest.fixture()
def dataset(tmp_path):
    """A converted dataset with 4+ shards; returns its directory."""
    npz = write_npz(tmp_path / "toy-v0.npz", make_arrays(LENGTHS))
    return convert_npz(npz, tmp_path / "toy-v0", shard_rows=30)


def _shard(directory, index):
    return sorted(directory.glob("*.parquet"))[index]


def _rewrite(path, column, values, arrow_type=None):
    table = pq.read_table(path)
    if values.ndim == 2:
        array = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])
    else:
        array = pa.array(values, type=arrow_type)
    index = table.schema.get_field_index(column)
    pq.write_table(table.set_column(index, column, array), path)


def _column(path, column):
    values = pq.read_table(path).column(column).combine_chunks()
    if pa.types.is_fixed_size_list(values.type):
        return values.flatten().to_numpy().reshape(len(values), -1).copy()
    return values.to_numpy().copy()


def _read(directory, **kwargs):
    return read_episodes(directory, engine="pyarrow", **kwargs)


def test_empty_directory(tmp_path):
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path)) + ": no Parquet files"):
        _read(tmp_path)


def test_missing_metadata(dataset):
    (dataset / "metadata.json").unlink()
    with pytest.raises(DatasetError, match="no metadata.json"):
        _read(dataset)


def test_corrupt_metadata(dataset):
    (dataset / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match="metadata.json: not valid JSON"):
        _read(dataset)


@pytest.mark.parametrize(
    "content", [b"", b"PAR1 garbage garbage PAR1", None], ids=["empty", "garbage", "truncated"]
)
def test_unreadable_shard(dataset, content):
    shard = _shard(dataset, 2)
    shard.write_bytes(shard.read_bytes()[:-40] if content is None else content)
    with pytest.raises(DatasetError, match=re.escape(str(shard))):
        _read(dataset)


def test_zero_row_shard(dataset):
    shard = _shard(dataset, 1)
    pq.write_table(pq.read_table(shard).slice(0, 0), shard)
    with pytest.raises(DatasetError, match=re.escape(str(shard)) + ": file has no rows"):
        _read(dataset)


def test_missing_column(dataset):
    shard = _shard(dataset, 1)
    pq.write_table(pq.read_table(shard).drop_columns(["terminals"]), shard)
    with pytest.raises(DatasetError, match=re.escape(str(shard)) + ": missing column 'terminals'"):
        _read(dataset)


def test_wrong_column_dtype(dataset):
    shard = _shard(dataset, 0)
    _rewrite(shard, "terminals", _column(shard, "terminals").astype(np.float64))
    with pytest.raises(DatasetError, match="column 'terminals' has type double, expected float"):
        _read(dataset)


def test_observation_width_differs_from_metadata(dataset):
    shard = _shard(dataset, 3)
    obs = _column(shard, "observations")
    _rewrite(shard, "observations", np.concatenate([obs, obs[:, :1]], axis=1))
    with pytest.raises(
        DatasetError,
        match=re.escape(str(shard)) + ": column 'observations' "
        "has type .*width 4, but metadata.json says obs_dim=3",
    ):
        _read(dataset)


def test_obs_dim_differs_from_env(dataset):
    with pytest.raises(
        DatasetError, match="metadata.json: field 'obs_dim' is 3, but the environment expects 5"
    ):
        _read(dataset, expected_obs_dim=5)


def test_row_count_differs_from_metadata(dataset):
    _shard(dataset, 1).unlink()
    with pytest.raises(DatasetError, match="metadata.json: field 'num_transitions'"):
        _read(dataset)


def test_non_contiguous_t(dataset):
    shard = _shard(dataset, 2)
    steps = _column(shard, "t")
    steps[3] += 1
    _rewrite(shard, "t", steps, pa.int32())
    pattern = "column 't' is not contiguous.*" + re.escape(str(shard))
    with pytest.raises(DatasetError, match=pattern):
        _read(dataset)


def test_unterminated_last_episode(dataset):
    shard = _shard(dataset, -1)
    terminals = _column(shard, "terminals")
    terminals[-1] = 0
    _rewrite(shard, "terminals", terminals, pa.float32())
    with pytest.raises(DatasetError, match="last episode is not terminated"):
        _read(dataset)


def test_action_out_of_range_names_the_shard(dataset):
    shard = _shard(dataset, 1)
    actions = _column(shard, "actions")
    actions[2, 0] = 3.0
    _rewrite(shard, "actions", actions)
    with pytest.raises(
        DatasetError, match=r"column 'actions' is outside \[-1, 1\] at " + re.escape(str(shard))
    ):
        _read(dataset)


def test_nan_names_the_shard_through_ray_data(ray_session, dataset):
    shard = _shard(dataset, 2)
    obs = _column(shard, "observations")
    obs[4, 2] = np.nan
    _rewrite(shard, "observations", obs)
    with pytest.raises(
        DatasetError, match="column 'observations' has NaN/inf at " + re.escape(str(shard))
    ):
        read_episodes(dataset)  # default engine: Ray Data


def test_mismatched_train_val_dims(tmp_path):
    train = convert_npz(
        write_npz(tmp_path / "toy-v0.npz", make_arrays(LENGTHS)), tmp_path / "toy-v0"
    )
    val_npz = write_npz(tmp_path / "toy-v0-val.npz", make_arrays([5, 5], obs_dim=4))
    val = convert_npz(val_npz, tmp_path / "toy-v0-val")
    with pytest.raises(
        DatasetError, match=re.escape(str(val)) + ": field 'obs_dim' is 4, but the train split"
    ):
        read_train_val(train, engine="pyarrow")
    with pytest.raises(DatasetError, match="toy-v0-val.npz: field 'obs_dim' is 4"):
        read_train_val(tmp_path / "toy-v0.npz")


def test_metadata_field_checks(dataset):
    raw = json.loads((dataset / "metadata.json").read_text())
    raw["split"] = "test"
    (dataset / "metadata.json").write_text(json.dumps(raw))
    with pytest.raises(DatasetError, match="field 'split' is 'test'"):
        _read(dataset)


def test_episode_schema_types():
    schema = episode_schema(
        3, 2, {"qpos": {"dtype": "float64", "shape": [4]}, "flag": {"dtype": "bool", "shape": []}}
    )
    assert schema.field("observations").type == pa.list_(pa.float32(), 3)
    assert schema.field("qpos").type == pa.list_(pa.float64(), 4)
    assert schema.field("flag").type == pa.bool_()
    assert schema.names[:5] == ["episode_id", "t", "observations", "actions", "terminals"]


def test_directory_is_not_a_dataset_file(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match="expected a Parquet dataset directory or an OGBench"):
        read_episodes(tmp_path / "x.txt")
    with pytest.raises(DatasetError, match="no such file"):
        read_episodes(tmp_path / "missing")
