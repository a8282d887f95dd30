"""Manipulation generators (OGBench manipspace oracles: cube, scene, puzzle): recipe, format,
offline loading, determinism."""

import dataclasses
import urllib.request
from types import SimpleNamespace

import numpy as np
import ogbench
import pytest
from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

import rllib_tmd.data.generate.manipspace as manipspace
from rllib_tmd.cli import main
from rllib_tmd.data.convert import parquet_to_arrays
from rllib_tmd.data.generate import generate_dataset
from rllib_tmd.data.generate.common import episode_seed
from rllib_tmd.data.generate.manipspace import (
    MANIPSPACE_RECIPES,
    ManipspaceContext,
    collect_manipspace,
    draw_p_stack,
    episode_is_healthy,
    make_oracles,
    rollout_manip_episode,
    scene_episode_is_healthy,
)

#: ``generate_manipspace.py`` flags per dataset in OGBench's ``commands.sh``:
#: (env, dataset type, p_random_action); all 1,000 episodes of 1,001 steps.
OGBENCH_COMMANDS = {
    "cube-single-play-v0": ("cube-single-v0", "play", 0.0),
    "cube-single-noisy-v0": ("cube-single-v0", "noisy", 0.1),
    "cube-double-play-v0": ("cube-double-v0", "play", 0.0),
    "scene-play-v0": ("scene-v0", "play", 0.0),
    "scene-noisy-v0": ("scene-v0", "noisy", 0.1),
    "puzzle-3x3-play-v0": ("puzzle-3x3-v0", "play", 0.0),
    "puzzle-3x3-noisy-v0": ("puzzle-3x3-v0", "noisy", 0.2),
}
NAMES = list(OGBENCH_COMMANDS)

#: Per env: (observation dim, qpos dim, qvel dim, button count or None) of the official files.
ENV_DIMS = {
    "cube-single-v0": (28, 21, 20, None),
    "cube-double-v0": (37, 28, 26, None),
    "scene-v0": (40, 25, 24, 2),
    "puzzle-3x3-v0": (55, 23, 23, 9),
}
SHORT = 100  # episode length in the short_episodes fixture


@pytest.fixture
def short_episodes(monkeypatch):
    """Manipspace recipes with 100-step episodes and a fresh context cache (tests only)."""
    for name, recipe in MANIPSPACE_RECIPES.items():
        short = dataclasses.replace(recipe, episode_length=SHORT)
        monkeypatch.setitem(MANIPSPACE_RECIPES, name, short)
    monkeypatch.setattr(manipspace, "_CONTEXTS", {})


@pytest.fixture
def offline(monkeypatch):
    """Fail any attempt of ogbench to download a dataset."""

    def no_network(*args, **kwargs):
        raise AssertionError("ogbench tried to download a dataset")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def expected_keys(name: str) -> dict[str, tuple[type, int | None]]:
    """OGBench's key order, dtypes and row widths for dataset ``name``."""
    obs, nq, nv, buttons = ENV_DIMS[MANIPSPACE_RECIPES[name].env_name]
    keys = {
        "observations": (np.float32, obs),
        "actions": (np.float32, 5),
        "terminals": (np.bool_, None),
        "qpos": (np.float32, nq),
        "qvel": (np.float32, nv),
    }
    if buttons is not None:
        keys["button_states"] = (np.int64, buttons)
    return keys


def test_recipes_match_ogbench_commands():
    """Flags of data_gen_scripts/commands.sh plus the script's defaults."""
    assert set(MANIPSPACE_RECIPES) == set(OGBENCH_COMMANDS)
    for name, (env_name, dataset_type, p_random) in OGBENCH_COMMANDS.items():
        recipe = MANIPSPACE_RECIPES[name]
        assert (recipe.env_name, recipe.dataset_type) == (env_name, dataset_type), name
        assert recipe.p_random_action == p_random, name
        assert (recipe.num_episodes, recipe.episode_length) == (1000, 1001), name
        assert (recipe.noise, recipe.noise_smoothing, recipe.min_norm) == (0.1, 0.5, 0.4), name


def _oracles(name):
    """The recipe's oracles, built on a stand-in env (constructors only read the timestep)."""
    env = SimpleNamespace(unwrapped=SimpleNamespace(_control_timestep=0.05))
    return make_oracles(env, MANIPSPACE_RECIPES[name])


def test_oracles_per_family_match_the_script():
    """Cube: cube oracle only; scene: 4 tasks, cube Markov oracle with max_step=100; puzzle:
    button oracle with the gripper always closed."""
    assert {k: type(v) for k, v in _oracles("cube-single-play-v0").items()} == {
        "cube": CubePlanOracle
    }
    cube_markov = _oracles("cube-single-noisy-v0")["cube"]
    assert type(cube_markov) is CubeMarkovOracle and cube_markov._min_norm == 0.4
    scene = _oracles("scene-noisy-v0")
    assert set(scene) == {"cube", "button", "drawer", "window"}
    assert scene["cube"]._max_step == 100 and not scene["button"]._gripper_always_closed
    puzzle = {"puzzle-3x3-play-v0": ButtonPlanOracle, "puzzle-3x3-noisy-v0": ButtonMarkovOracle}
    for name, cls in puzzle.items():
        oracles = _oracles(name)
        assert list(oracles) == ["button"] and type(oracles["button"]) is cls
        assert oracles["button"]._gripper_always_closed
    assert _oracles("puzzle-3x3-play-v0")["button"]._noise == 0.1


def test_p_stack_per_env():
    """One cube: 0 without an RNG draw; two cubes: U(0, 0.25) per episode; scene/puzzle: 0.5."""
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    assert draw_p_stack(MANIPSPACE_RECIPES["cube-single-play-v0"]) == 0.0
    assert draw_p_stack(MANIPSPACE_RECIPES["scene-play-v0"]) == 0.5
    assert draw_p_stack(MANIPSPACE_RECIPES["puzzle-3x3-noisy-v0"]) == 0.5
    assert np.array_equal(np.random.get_state()[1], state)
    draws = [draw_p_stack(MANIPSPACE_RECIPES["cube-double-play-v0"]) for _ in range(200)]
    assert 0.0 <= min(draws) < 0.02 and 0.23 < max(draws) <= 0.25


def test_health_check_rejects_lost_cubes():
    qpos = np.zeros((5, 25))
    assert scene_episode_is_healthy(qpos)
    qpos[2, 15] = 0.3  # cube far right
    assert not scene_episode_is_healthy(qpos)
    assert not episode_is_healthy(MANIPSPACE_RECIPES["scene-play-v0"], qpos)
    # Only the scene script checks health; cube and puzzle keep every episode.
    assert episode_is_healthy(MANIPSPACE_RECIPES["cube-single-play-v0"], qpos)
    assert episode_is_healthy(MANIPSPACE_RECIPES["puzzle-3x3-play-v0"], qpos)
    qpos[2, 15] = -0.35  # far left: fine only at drawer height
    qpos[2, 16] = 0.07
    assert scene_episode_is_healthy(qpos)
    qpos[2, 16] = 0.02
    assert not scene_episode_is_healthy(qpos)


@pytest.mark.parametrize("name", NAMES)
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
@pytest.mark.parametrize("name", ["scene-noisy-v0", "cube-double-play-v0", "puzzle-3x3-noisy-v0"])
def test_output_is_independent_of_workers(name, short_episodes):
    one = collect_manipspace(name, episodes=3, seed=2, workers=1, progress=False)
    two = collect_manipspace(name, episodes=3, seed=2, workers=2, progress=False)
    assert all(np.array_equal(one[s][k], two[s][k]) for s in one for k in one[s])


def check_split(name: str, data, episodes: int, length: int) -> None:
    """Keys, dtypes, shapes, action range and episode ends of one generated split."""
    expected = expected_keys(name)
    assert list(data.keys()) == list(expected)
    rows = episodes * length
    for key, (dtype, dim) in expected.items():
        assert data[key].dtype == dtype, key
        assert data[key].shape == ((rows,) if dim is None else (rows, dim)), key
    ends = np.arange(length - 1, rows, length)
    assert np.flatnonzero(data["terminals"]).tolist() == ends.tolist()
    assert np.abs(data["actions"]).max() <= 1.0
    assert episode_is_healthy(MANIPSPACE_RECIPES[name], data["qpos"])
    # Observations are the state before each step: rows within an episode are consecutive states.
    within = np.ones(rows - 1, dtype=bool)
    within[ends[:-1]] = False
    assert np.abs(np.diff(data["qpos"], axis=0)[within]).max() < 1.0


@pytest.mark.parametrize("name", NAMES)
def test_written_files_match_ogbench_format_and_load_offline(
    name, tmp_path, short_episodes, offline
):
    paths = generate_dataset(name, tmp_path, episodes=2, seed=0, progress=False)
    for split, episodes in (("train", 2), ("val", 1)):
        check_split(name, np.load(paths[split]), episodes, SHORT)

    _, train, val = ogbench.make_env_and_datasets(name, dataset_dir=str(tmp_path), add_info=True)
    obs_dim, *_, buttons = ENV_DIMS[MANIPSPACE_RECIPES[name].env_name]
    assert train["observations"].shape == (2 * (SHORT - 1), obs_dim)
    assert val["actions"].shape == (SHORT - 1, 5)
    assert ("button_states" in train) == (buttons is not None)


@pytest.mark.slow
def test_full_length_episode_loads_offline(tmp_path, offline):
    """Official length (1,001 rows per episode), one train and one val episode."""
    name = "cube-single-noisy-v0"
    paths = generate_dataset(name, tmp_path, episodes=1, seed=0, progress=False)
    for split in ("train", "val"):
        check_split(name, np.load(paths[split]), 1, 1001)
    _, train, val = ogbench.make_env_and_datasets(name, dataset_dir=str(tmp_path))
    assert train["observations"].shape == (1000, 28) and val["actions"].shape == (1000, 5)


def test_make_dataset_command_writes_npz_and_parquet(tmp_path, short_episodes, capsys):
    """``rllib-tmd make-dataset`` for a puzzle dataset: Parquet carries ``button_states``."""
    name = "puzzle-3x3-noisy-v0"
    args = ["make-dataset", name, "--out", str(tmp_path), "--episodes", "2", "--seed", "3"]
    assert main([*args, "--workers", "2"]) == 0
    assert f"train: {tmp_path / name}" in capsys.readouterr().out
    npz = np.load(tmp_path / f"{name}.npz")
    parquet = parquet_to_arrays(tmp_path / name)
    assert np.array_equal(parquet["button_states"], npz["button_states"])
    assert np.array_equal(parquet["observations"], npz["observations"])
    assert np.array_equal(parquet["terminals"], npz["terminals"].astype(np.float32))
    assert parquet_to_arrays(tmp_path / f"{name}-val")["actions"].shape == (SHORT, 5)
