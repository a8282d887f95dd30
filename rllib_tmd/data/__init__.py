"""Everything between a file and a training batch.

- :mod:`~rllib_tmd.data.schema`: the on-disk Parquet episode format and its validation.
- :mod:`~rllib_tmd.data.convert`: OGBench ``.npz`` <-> Parquet.
- :mod:`~rllib_tmd.data.episodes`: load a dataset into validated :class:`EpisodeArrays`.
- :mod:`~rllib_tmd.data.goals`: goal relabelling (spec §4), the one implementation.
- :mod:`~rllib_tmd.data.samplers`: numpy, torch (GPU-resident) and Ray Data batch samplers.
"""

from rllib_tmd.data.convert import (
    convert_npz,
    convert_ogbench_pair,
    parquet_to_arrays,
    write_episode_shards,
)
from rllib_tmd.data.episodes import EpisodeArrays, read_episodes, read_train_val
from rllib_tmd.data.goals import GoalConfig
from rllib_tmd.data.samplers import (
    BATCH_KEYS,
    GoalSampler,
    NumpySampler,
    TorchSampler,
    make_sampler,
    ray_data_batches,
)
from rllib_tmd.data.schema import DatasetError, DatasetMetadata

__all__ = [
    "BATCH_KEYS",
    "DatasetError",
    "DatasetMetadata",
    "EpisodeArrays",
    "GoalConfig",
    "GoalSampler",
    "NumpySampler",
    "TorchSampler",
    "convert_npz",
    "convert_ogbench_pair",
    "make_sampler",
    "parquet_to_arrays",
    "ray_data_batches",
    "read_episodes",
    "read_train_val",
    "write_episode_shards",
]
