"""Scene generator (OGBench manipspace oracles): recipe, format, offline loading, determinism."""

import dataclasses
import urllib.request

import numpy as np
import ogbench
import pytest

import rllib_tmd.data.generate.manipspace as manipspace
from rllib_tmd.data.generate import generate_dataset
from rllib_tmd.data.generate.common import episode_seed
from rllib_tmd.data.generate.manipspace import (
    MANIPSPACE_RECIPES,
    ManipspaceContext,
    collect_manipspace,
    rollout_manip_episode,
    scene_episode_is_healthy,
)


@pytest.fixture
def short_episodes(monkeypatch):
    """Scene recipes with 100-step episodes and a fresh context cache (tests only)."""
    for name, recipe in MANIPSPACE_RECIPES.items():
        short = dataclasses.replace(recipe, episode_length=100)
        monkeypatch.setitem(MANIPSPACE_RECIPES, name, short)
    monkeypatch.setattr(manipspace, "_CONTEXTS", {})


def test_recipes_match_ogbench_commands():
    """Flags of data_gen_scripts/commands.sh plus the script's defaults."""
    play, noisy = MANIPSPACE_RECIPES["scene-play-v0"], MANIPSPACE_RECIPES["scene-noisy-v0"]
    for recipe in (play, noisy):
        assert recipe.env_name == "scene-v0"
        assert (recipe.num_episodes, recipe.episode_length) == (1000, 1001)
        assert (recipe.noise, recipe.noise_smoothing, recipe.min_norm) == (0.1, 0.5, 0.4)
    assert (play.dataset_type, play.p_random_action) == ("play", 0.0)
    assert (noisy.dataset_type, noisy.p_random_action) == ("noisy", 0.1)


def test_health_check_rejects_lost_cubes():
    qpos = np.zeros((5, 25))
    assert scene_episode_is_healthy(qpos)
    qpos[2, 15] = 0.3  # cube far right
    assert not scene_episode_is_healthy(qpos)
    qpos[2, 15] = -0.35  # far left: fine only at drawer height
    qpos[2, 16] = 0.07
    assert scene_episode_is_healthy(qpos)
    qpos[2, 16] = 0.02
    assert not scene_episode_is_healthy(qpos)


@pytest.mark.parametrize("name", ["scene-play-v0", "scene-noisy-v0"])
def test_episodes_are_deterministic_and_history_free(name, short_episodes):
    """An episode depends only on its seed: not on earlier episodes in the same process."""
    warm = ManipspaceContext(name)
    rollout_manip_episode(warm, episode_seed(2, "train", 0))
    after_other = rollout_manip_episode(warm, episode_seed(2, "train", 2))
    state = np.random.get_state()[1].copy()
    # (2, train, 2) switches task while the env still holds targets from earlier episodes.
    fresh = rollout_manip_episode(ManipspaceContext(name), episode_seed(2, "train", 2))
    assert np.array_equal(np.random.get_state()[1], state)  # global RNG left untouched
    assert all(np.array_equal(after_other[k], fresh[k]) for k in fresh)
    other_seed = rollout_manip_episode(warm, episode_seed(1, "train", 1))
    assert not np.array_equal(other_seed["actions"], fresh["actions"])


@pytest.mark.slow
def test_output_is_independent_of_workers(short_episodes):
    one = collect_manipspace("scene-noisy-v0", episodes=3, seed=2, workers=1, progress=False)
    two = collect_manipspace("scene-noisy-v0", episodes=3, seed=2, workers=2, progress=False)
    assert all(np.array_equal(one[s][k], two[s][k]) for s in one for k in one[s])


@pytest.mark.slow
def test_written_files_match_ogbench_format_and_load_offline(tmp_path, monkeypatch):
    name = "scene-play-v0"
    paths = generate_dataset(name, tmp_path, episodes=1, seed=0, progress=False)
    expected = {
        "observations": (np.float32, 40),
        "actions": (np.float32, 5),
        "terminals": (np.bool_, None),
        "qpos": (np.float32, 25),
        "qvel": (np.float32, 24),
        "button_states": (np.int64, 2),
    }
    for split in ("train", "val"):
        data = np.load(paths[split])
        assert list(data.keys()) == list(expected)
        for key, (dtype, dim) in expected.items():
            assert data[key].dtype == dtype, key
            assert data[key].shape == ((1001,) if dim is None else (1001, dim)), key
        assert np.flatnonzero(data["terminals"]).tolist() == [1000]
        assert np.abs(data["actions"]).max() <= 1.0
        assert scene_episode_is_healthy(data["qpos"])
        # Observations are the state before each step: consecutive rows are consecutive states.
        assert np.abs(np.diff(data["qpos"], axis=0)).max() < 1.0

    def no_network(*args, **kwargs):
        raise AssertionError("ogbench tried to download a dataset")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    _, train, val = ogbench.make_env_and_datasets(name, dataset_dir=str(tmp_path), add_info=True)
    assert train["observations"].shape == (1000, 40)
    assert train["button_states"].shape == (1000, 2)
    assert val["actions"].shape == (1000, 5)
