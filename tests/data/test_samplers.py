"""Samplers: rllib_tmd/data/samplers.py (numpy, torch, Ray Data streaming)."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from rllib_tmd.data.convert import write_episode_shards
from rllib_tmd.data.goals import GoalConfig
from rllib_tmd.data.samplers import (
    BATCH_KEYS,
    EpisodeStreamRelabeler,
    GoalSampler,
    NumpySampler,
    TorchSampler,
    make_sampler,
    ray_data_batches,
)
from rllib_tmd.data.schema import DatasetError

from .toy_data import episode_and_step, ks_statistic, ks_threshold, make_arrays, make_episodes

LENGTHS = [2, 3, 7, 40, 120, 300, 25, 2, 90]
STITCH = GoalConfig(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)


@pytest.fixture(scope="module")
def episodes():
    return make_episodes(LENGTHS)


def _offsets(batch):
    """(value offset, actor offset, t, same-episode flags) from encoded observations."""
    episode, t = episode_and_step(batch["obs"])
    value_episode, value_t = episode_and_step(batch["value_goals"])
    actor_episode, actor_t = episode_and_step(batch["actor_goals"])
    return value_t - t, actor_t - t, t, (value_episode == episode, actor_episode == episode)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_batch_layout(episodes, kind):
    sampler = make_sampler(episodes, GoalConfig(), kind=kind, seed=0)
    assert isinstance(sampler, GoalSampler)
    batch = sampler.sample(256)
    assert tuple(batch) == BATCH_KEYS
    for key, value in batch.items():
        width = episodes.act_dim if key == "actions" else episodes.obs_dim
        assert value.shape == (256, width) and value.dtype == torch.float32, key
        assert value.device == torch.device("cpu")
    episode, t = episode_and_step(batch["obs"])
    next_episode, next_t = episode_and_step(batch["next_obs"])
    np.testing.assert_array_equal(next_episode, episode)
    np.testing.assert_array_equal(next_t, t + 1)
    rows = (np.cumsum(LENGTHS) - LENGTHS)[episode] + t
    np.testing.assert_array_equal(batch["obs"].numpy(), episodes.observations[rows])
    np.testing.assert_array_equal(batch["actions"].numpy(), episodes.actions[rows])


@pytest.mark.parametrize("cls", [NumpySampler, TorchSampler])
def test_deterministic_for_a_seed(episodes, cls):
    a, b, c = cls(episodes, seed=7), cls(episodes, seed=7), cls(episodes, seed=8)
    for _ in range(3):
        x, y, z = a.sample(64), b.sample(64), c.sample(64)
        assert all(torch.equal(x[k], y[k]) for k in BATCH_KEYS)
    assert not torch.equal(x["obs"], z["obs"])


@pytest.mark.parametrize("cls", [NumpySampler, TorchSampler])
def test_state_round_trip(episodes, cls):
    sampler = cls(episodes, seed=3)
    sampler.sample(16)
    state = sampler.get_state()
    first = sampler.sample(32)
    sampler.set_state(state)
    assert torch.equal(sampler.sample(32)["value_goals"], first["value_goals"])


@pytest.mark.parametrize(
    "config",
    [GoalConfig(), GoalConfig(value_geom_sample=False, actor_geom_sample=True)],
    ids=["default", "swapped"],
)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_goals_are_future_states_of_the_same_episode(episodes, config, kind):
    batch = make_sampler(episodes, config, kind=kind, seed=1).sample(4096)
    value_offset, actor_offset, _, (value_same, actor_same) = _offsets(batch)
    assert value_same.all() and actor_same.all()
    assert (value_offset >= 1).all() and (actor_offset >= 1).all()  # strictly after t


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_random_actor_goals_leave_the_episode_at_the_expected_rate(episodes, kind):
    lengths = np.array(LENGTHS)
    # P(other episode) = 0.5 * E[1 - L_e / N], episodes drawn in proportion to transitions.
    weights = (lengths - 1) / (lengths - 1).sum()
    expected = 0.5 * float(np.sum(weights * (1 - lengths / lengths.sum())))
    batch = make_sampler(episodes, STITCH, kind=kind, seed=2).sample(40_000)
    _, _, _, (value_same, actor_same) = _offsets(batch)
    assert value_same.all()
    assert abs((~actor_same).mean() - expected) < 0.01


def test_numpy_and_torch_samplers_agree_in_distribution(episodes):
    n = 40_000
    samples = {}
    for kind in ("numpy", "torch"):
        batch = make_sampler(episodes, STITCH, kind=kind, seed=11).sample(n)
        samples[kind] = _offsets(batch)
    threshold = ks_threshold(n, n)
    for i, name in enumerate(["value offset", "actor offset", "t"]):
        stat = ks_statistic(samples["numpy"][i], samples["torch"][i])
        assert stat < threshold, f"{name}: KS {stat:.4f} >= {threshold:.4f}"
    same = [samples[kind][3][1].mean() for kind in ("numpy", "torch")]
    assert abs(same[0] - same[1]) < 0.015


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_geometric_offset_mean_on_uncapped_episodes(kind):
    """Episodes of 4000 rows: from t < 1000, P(capped) = 0.99**3000 ~ 1e-13."""
    sampler = make_sampler(make_episodes([4000, 4000]), GoalConfig(), kind=kind, seed=5)
    batch = sampler.sample(200_000)
    value_offset, _, t, _ = _offsets(batch)
    early = value_offset[t < 1000]
    assert len(early) > 40_000
    # mean 100, std ~ 99.5; standard error < 0.5 here
    assert abs(early.mean() - 100.0) < 2.0


def test_relabeler_handles_blocks_that_split_episodes():
    arrays = make_arrays([5, 9, 2, 30, 4])
    table = _table(arrays)
    relabeler = EpisodeStreamRelabeler(GoalConfig(), seed=0)
    outputs = []
    for start, stop in [(0, 3), (3, 4), (4, 20), (20, 50)]:
        outputs.extend(relabeler(table.slice(start, stop - start)))
    obs = np.concatenate([o["obs"] for o in outputs])
    # every transition exactly once: 50 rows - 5 terminal rows
    assert len(obs) == 45 and len(np.unique(obs[:, :2], axis=0)) == 45
    for out in outputs:
        episode, t = episode_and_step(out["obs"])
        goal_episode, goal_t = episode_and_step(out["value_goals"])
        assert (goal_episode == episode).all() and (goal_t > t).all()
    relabeler = EpisodeStreamRelabeler(STITCH, seed=1)
    out = next(iter(relabeler(table)))
    goal_episode, _ = episode_and_step(out["actor_goals"])
    assert (goal_episode != episode_and_step(out["obs"])[0]).any()  # random goals of the block
    with pytest.raises(DatasetError, match="out of order"):
        relabeler = EpisodeStreamRelabeler(GoalConfig(), seed=0)
        list(relabeler(table.slice(0, 3)))
        list(relabeler(table.slice(10, 10)))


def _table(arrays):
    n = len(arrays["terminals"])
    starts = np.flatnonzero(np.r_[1, arrays["terminals"][:-1]])
    lengths = np.diff(np.r_[starts, n])
    return pa.table(
        {
            "episode_id": np.repeat(np.arange(len(starts)), lengths),
            "t": (np.arange(n) - np.repeat(starts, lengths)).astype(np.int32),
            "observations": pa.FixedSizeListArray.from_arrays(
                pa.array(arrays["observations"].ravel()), arrays["observations"].shape[1]
            ),
            "actions": pa.FixedSizeListArray.from_arrays(
                pa.array(arrays["actions"].ravel()), arrays["actions"].shape[1]
            ),
            "terminals": arrays["terminals"],
        }
    )


@pytest.fixture(scope="module")
def parquet_dataset(tmp_path_factory):
    arrays = make_arrays([2, 3, 60, 150, 40, 250, 9, 80, 300, 5, 100] * 3, seed=4)
    out = tmp_path_factory.mktemp("stream") / "toy-v0"
    return write_episode_shards(arrays, out, env_name="toy-v0", shard_rows=400), arrays


def test_ray_data_epochs_share_one_pipeline_and_each_is_exact(ray_session, parquet_dataset):
    path, arrays = parquet_dataset
    transitions = len(arrays["terminals"]) - int(arrays["terminals"].sum())
    batches = list(
        ray_data_batches(
            path,
            GoalConfig(),
            batch_size=500,
            seed=3,
            num_epochs=3,
            drop_last=False,
            epochs_per_pipeline=2,
        )
    )
    obs = torch.cat([b["obs"] for b in batches])[:, :2].numpy()
    assert len(obs) == 3 * transitions  # 2 epochs in the first pipeline, 1 in the next
    _, counts = np.unique(obs, axis=0, return_counts=True)
    assert len(counts) == transitions and (counts == 3).all()


def test_pipeline_epoch_split():
    from rllib_tmd.data.samplers import _pipeline_epochs

    assert list(_pipeline_epochs(5, 2)) == [2, 2, 1]
    assert list(_pipeline_epochs(1, 8)) == [1]
    forever = _pipeline_epochs(None, 4)
    assert [next(forever) for _ in range(3)] == [4, 4, 4]


def test_ray_data_stream_is_exact_deterministic_and_matches_numpy(ray_session, parquet_dataset):
    import ray.data

    path, arrays = parquet_dataset
    transitions = len(arrays["terminals"]) - int(arrays["terminals"].sum())
    context = ray.data.DataContext.get_current()
    old_block_size = context.target_max_block_size
    context.target_max_block_size = 16 * 1024  # force blocks that end inside episodes
    try:
        runs = [
            list(ray_data_batches(path, GoalConfig(), batch_size=500, seed=2, drop_last=False))
            for _ in range(2)
        ]
    finally:
        context.target_max_block_size = old_block_size
    first, second = runs
    assert all(
        torch.equal(x[k], y[k]) for x, y in zip(first, second, strict=True) for k in BATCH_KEYS
    )
    batch = {k: torch.cat([b[k] for b in first]) for k in BATCH_KEYS}
    assert batch["obs"].dtype == torch.float32 and batch["actions"].shape[1] == 2
    # every transition exactly once per epoch, never crossing an episode
    assert len(batch["obs"]) == transitions
    assert len(np.unique(batch["obs"][:, :2].numpy(), axis=0)) == transitions
    value_offset, actor_offset, t, (value_same, actor_same) = _offsets(batch)
    assert value_same.all() and actor_same.all()
    assert (value_offset >= 1).all() and (actor_offset >= 1).all()
    # same distribution as the in-memory sampler
    reference = NumpySampler(make_episodes_from(arrays), GoalConfig(), seed=0).sample(40_000)
    ref_value, ref_actor, ref_t, _ = _offsets(reference)
    threshold = ks_threshold(len(t), 40_000)
    for name, ours, ref in (
        ("value offset", value_offset, ref_value),
        ("actor offset", actor_offset, ref_actor),
        ("t", t, ref_t),
    ):
        assert ks_statistic(ours, ref) < threshold, name


def make_episodes_from(arrays):
    from rllib_tmd.data.episodes import EpisodeArrays

    return EpisodeArrays.from_arrays(arrays["observations"], arrays["actions"], arrays["terminals"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_sampler_on_cuda(episodes):
    sampler = TorchSampler(episodes, STITCH, device="cuda", seed=4)
    batch = sampler.sample(40_000)
    assert all(v.is_cuda and v.dtype == torch.float32 for v in batch.values())
    again = TorchSampler(episodes, STITCH, device="cuda", seed=4).sample(40_000)
    assert all(torch.equal(batch[k], again[k]) for k in BATCH_KEYS)
    ours = _offsets({k: v.cpu() for k, v in batch.items()})
    reference = _offsets(NumpySampler(episodes, STITCH, seed=4).sample(40_000))
    assert ours[3][0].all() and (ours[0] >= 1).all()
    for i in range(3):
        assert ks_statistic(ours[i], reference[i]) < ks_threshold(40_000, 40_000)


def test_make_sampler_rejects_unknown_kind(episodes):
    with pytest.raises(ValueError, match="kind"):
        make_sampler(episodes, kind="jax")
