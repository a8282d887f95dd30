"""PointMaze generator: OGBench recipe, bit-exact dynamics, file format, determinism, statistics."""

import urllib.request

import gymnasium
import numpy as np
import ogbench
import pytest

from rllib_tmd.data.generate import generate_dataset
from rllib_tmd.data.generate.common import episode_rng
from rllib_tmd.data.generate.pointmaze import (
    POINTMAZE_RECIPES,
    PointMazeContext,
    PointMazeStepper,
    collect_pointmaze,
    rollout_episode,
    teleport_exit,
)

MAZES = ("medium", "large", "giant", "teleport")


@pytest.fixture(scope="module")
def contexts():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = PointMazeContext(name)
        return cache[name]

    return get


class LegacyInts:
    """``integers(n)`` drawn like ``np.random.randint(n)`` from a legacy seeded state."""

    def __init__(self, seed):
        self.state = np.random.RandomState(seed)

    def integers(self, n):
        return self.state.randint(n)


class FixedInts:
    """``integers(n)`` returning preset values."""

    def __init__(self, values):
        self.values = values

    def integers(self, n):
        return next(self.values)


# ---------------------------------------------------------------------------------------------
# Recipe
# ---------------------------------------------------------------------------------------------


def test_recipes_match_ogbench_commands():
    """Flags of data_gen_scripts/commands.sh (OGBench) for the pointmaze datasets."""
    expected = {
        "medium-navigate": (1000, 1001),
        "large-navigate": (1000, 1001),
        "giant-navigate": (500, 2001),
        "teleport-navigate": (1000, 1001),
        **{f"{m}-stitch": (5000, 201) for m in MAZES},
    }
    assert set(POINTMAZE_RECIPES) == {f"pointmaze-{k}-v0" for k in expected}
    for key, (episodes, length) in expected.items():
        recipe = POINTMAZE_RECIPES[f"pointmaze-{key}-v0"]
        assert (recipe.num_episodes, recipe.episode_length) == (episodes, length)
        assert recipe.noise == 0.5
        assert recipe.dataset_type == key.split("-")[1]
        assert recipe.env_name == f"pointmaze-{key.split('-')[0]}-v0"


def test_start_and_goal_cells_follow_the_script(contexts):
    ctx = contexts("pointmaze-medium-navigate-v0")
    assert len(ctx.free_cells) == 26
    hallways = set(ctx.free_cells) - set(ctx.vertex_cells)
    assert hallways == {(3, 3), (4, 5), (5, 1), (5, 6), (6, 2)}
    # Stitch goals: exactly 4 BFS steps away, in BFS discovery order.
    assert ctx.stitch_goals[(1, 1)] == [(4, 2), (3, 3)]
    # A teleport-maze cell whose grid component has nothing 4 steps away is its own goal.
    tele = contexts("pointmaze-teleport-stitch-v0")
    lonely = [c for c, goals in tele.stitch_goals.items() if not goals]
    assert lonely
    for cell in lonely:
        picks = iter([tele.free_cells.index(cell)])
        assert tele.sample_cells(FixedInts(picks)) == (cell, cell)


@pytest.mark.parametrize("maze", MAZES)
def test_oracle_table_matches_env_get_oracle_subgoal(maze, contexts):
    ctx = contexts(f"pointmaze-{maze}-navigate-v0")
    env = ctx.env.unwrapped
    width = ctx.layout.shape[1]
    rng = np.random.default_rng(0)
    for goal in ctx.free_cells:
        table = ctx.subgoals[goal[0] * width + goal[1]]
        goal_xy = np.add(ctx.layout.ij_to_xy(goal), rng.uniform(-1, 1, 2))
        for start in ctx.free_cells:
            xy = np.add(ctx.layout.ij_to_xy(start), rng.uniform(-1.9, 1.9, 2))
            expected, _ = env.get_oracle_subgoal(xy, goal_xy)
            assert table[start[0]][start[1]] == tuple(expected)


# ---------------------------------------------------------------------------------------------
# Equivalence with the official gymnasium environment
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_name, start",
    [
        ("pointmaze-medium-v0", (1, 1)),
        ("pointmaze-giant-v0", (5, 9)),
        ("pointmaze-teleport-v0", (3, 6)),
    ],
)
def test_lean_stepper_matches_gym_env_bit_for_bit(env_name, start, contexts):
    """Same start state, same actions (many of them into walls): identical obs, qpos, qvel."""
    name = env_name.replace("-v0", "-navigate-v0")
    layout = contexts(name).layout
    stepper = PointMazeStepper(gymnasium.make(env_name), layout)
    env = gymnasium.make(env_name, terminate_at_goal=False, max_episode_steps=100_000)
    env.reset(seed=1, options=dict(task_info=dict(init_ij=start, goal_ij=start)))
    sim = env.unwrapped
    stepper.reset(tuple(sim.data.qpos), tuple(sim.data.qvel))
    np.random.seed(123)  # the env's teleporter draws exits from numpy's global RNG
    exits = LegacyInts(123)

    rng = np.random.default_rng(0)
    cells = contexts(name).free_cells
    targets = [layout.teleport_in[0]] if layout.teleport_in else [layout.ij_to_xy(c) for c in cells]
    target, teleports = targets[0], 0
    for t in range(1500):
        if t % 60 == 0:
            target = targets[rng.integers(len(targets))]
        direction = np.subtract(target, (stepper.x, stepper.y))
        direction /= np.linalg.norm(direction) + 1e-6
        action = np.clip(direction + rng.normal(0, 0.3, 2), -1, 1)
        ob, _, _, _, info = env.step(action)
        assert (stepper.x, stepper.y) == tuple(info["prev_qpos"])
        assert (stepper.vx, stepper.vy) == tuple(info["prev_qvel"])
        assert stepper.step(*action.tolist()) == tuple(ob)
        exit_xy = teleport_exit(layout, stepper.x, stepper.y, exits)
        if exit_xy is not None:
            stepper.teleport_to(exit_xy)
            teleports += 1
        assert (stepper.x, stepper.y) == tuple(sim.data.qpos)
        assert (stepper.vx, stepper.vy) == tuple(sim.data.qvel)
    assert stepper.physics_steps > 100  # walls were hit a lot
    assert teleports > 0 or not layout.teleport_in


@pytest.mark.parametrize(
    "name, episode",
    [
        ("pointmaze-medium-navigate-v0", 0),
        ("pointmaze-teleport-navigate-v0", 11),
        ("pointmaze-giant-stitch-v0", 0),
        ("pointmaze-teleport-stitch-v0", 3),
    ],
)
def test_generated_episode_replays_exactly_in_gym_env(name, episode, contexts, monkeypatch):
    """Replay a generated episode in the official env: the oracle action (up to the recorded
    noise), observations, qpos/qvel, teleports and goal successes all agree."""
    ctx = contexts(name)
    trace = rollout_episode(ctx, episode_rng(5, "train", episode))
    recipe = ctx.recipe
    env = gymnasium.make(
        recipe.env_name, terminate_at_goal=False, max_episode_steps=recipe.episode_length
    )
    sim = env.unwrapped
    env.reset(options=dict(task_info=dict(init_ij=(1, 1), goal_ij=(1, 1))))
    sim.set_state(trace.qpos[0], trace.qvel[0])
    goals = {t: (gx, gy) for t, gx, gy in trace.goals}
    exits = [tuple(xy) for xy in ctx.layout.teleport_out]

    def next_exit(n):  # the exit the generator chose is the next row's qpos
        return exits.index(tuple(trace.qpos[t + 1])) if tuple(trace.qpos[t + 1]) in exits else 0

    monkeypatch.setattr(np.random, "randint", next_exit)

    ob, successes, truncated = trace.qpos[0], 0, False
    for t in range(recipe.episode_length):
        if t in goals:
            sim.set_goal(goal_xy=np.array(goals[t]))
        subgoal, _ = sim.get_oracle_subgoal(sim.get_xy(), sim.cur_goal_xy)
        direction = subgoal - sim.get_xy()
        direction = direction / (np.linalg.norm(direction) + 1e-6)
        np.testing.assert_allclose(
            trace.actions[t], np.clip(direction + trace.noise[t], -1, 1), rtol=0, atol=1e-12
        )
        assert tuple(ob) == tuple(trace.observations[t])
        ob, _, _, truncated, info = env.step(trace.actions[t])
        assert tuple(info["prev_qpos"]) == tuple(trace.qpos[t])
        assert tuple(info["prev_qvel"]) == tuple(trace.qvel[t])
        successes += int(info["success"])
        if recipe.dataset_type == "navigate":
            assert bool(info["success"]) == (t + 1 in goals)
    assert truncated  # the time limit ends the episode after exactly episode_length steps
    assert successes == trace.successes
    assert trace.teleports > 0 if "teleport" in name else trace.successes > 0


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("pointmaze")
    paths = {
        "pointmaze-medium-navigate-v0": generate_dataset(
            "pointmaze-medium-navigate-v0", out, episodes=3, seed=0, progress=False
        ),
        "pointmaze-large-stitch-v0": generate_dataset(
            "pointmaze-large-stitch-v0", out, episodes=12, seed=0, progress=False
        ),
    }
    return out, paths


@pytest.mark.parametrize(
    "name, episodes, val_episodes, length",
    [("pointmaze-medium-navigate-v0", 3, 1, 1001), ("pointmaze-large-stitch-v0", 12, 1, 201)],
)
def test_files_have_ogbench_keys_dtypes_and_shapes(written, name, episodes, val_episodes, length):
    out, paths = written
    assert paths[name] == {"train": out / f"{name}.npz", "val": out / f"{name}-val.npz"}
    for split, n_eps in (("train", episodes), ("val", val_episodes)):
        data = np.load(paths[name][split])
        assert list(data.keys()) == ["observations", "actions", "terminals", "qpos", "qvel"]
        n = n_eps * length
        for key in ("observations", "actions", "qpos", "qvel"):
            assert data[key].dtype == np.float32 and data[key].shape == (n, 2), key
        assert data["terminals"].dtype == bool and data["terminals"].shape == (n,)
        assert np.flatnonzero(data["terminals"]).tolist() == list(range(length - 1, n, length))
        assert np.abs(data["actions"]).max() <= 1.0
        # Rows are (s, a) pairs: within an episode the next observation is the next row.
        obs, actions = data["observations"], data["actions"]
        steps = np.linalg.norm(np.diff(obs, axis=0), axis=1)[~data["terminals"][:-1]]
        # |step| <= 0.2 * sqrt(2) = 0.283, plus rare small wall-contact push-backs.
        assert steps.max() <= 0.3
        assert np.mean(steps > 0.2 * np.sqrt(2) + 1e-5) < 1e-3
        assert np.all(np.linalg.norm(actions, axis=1) > 0)


def test_files_load_offline_with_ogbench(written, monkeypatch):
    out, _ = written

    def no_network(*args, **kwargs):
        raise AssertionError("ogbench tried to download a dataset")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    name = "pointmaze-medium-navigate-v0"
    env, train, val = ogbench.make_env_and_datasets(name, dataset_dir=str(out))
    assert train["observations"].shape == (3 * 1000, 2)  # (s, a, s') pairs: 1000 per episode
    assert train["next_observations"].shape == (3 * 1000, 2)
    assert val["observations"].shape == (1000, 2)
    assert env.observation_space.shape == (2,)
    _, train, _ = ogbench.make_env_and_datasets(
        "pointmaze-large-stitch-v0", dataset_dir=str(out), compact_dataset=True, add_info=True
    )
    assert train["observations"].shape == (12 * 201, 2)
    assert train["valids"].sum() == 12 * 200
    assert train["qpos"].shape == (12 * 201, 2)


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def _same(a, b):
    return all(np.array_equal(a[s][k], b[s][k]) for s in a for k in a[s])


def test_output_is_deterministic_and_independent_of_workers():
    name = "pointmaze-teleport-stitch-v0"
    one = collect_pointmaze(name, episodes=40, seed=3, workers=1, progress=False)
    assert _same(one, collect_pointmaze(name, episodes=40, seed=3, workers=1, progress=False))
    assert _same(one, collect_pointmaze(name, episodes=40, seed=3, workers=2, progress=False))
    other = collect_pointmaze(name, episodes=40, seed=4, workers=1, progress=False)
    assert not np.array_equal(one["train"]["actions"], other["train"]["actions"])
    # Episodes are seeded individually: fewer episodes give a prefix of the same data.
    fewer = collect_pointmaze(name, episodes=10, seed=3, workers=1, progress=False)
    n = fewer["train"]["actions"].shape[0]
    assert np.array_equal(fewer["train"]["actions"], one["train"]["actions"][:n])
    assert one["val"]["actions"].shape == (4 * 201, 2)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="episodes"):
        collect_pointmaze("pointmaze-medium-stitch-v0", episodes=0, progress=False)
    with pytest.raises(ValueError, match="seed"):
        collect_pointmaze("pointmaze-medium-stitch-v0", episodes=1, seed=-1, progress=False)


# ---------------------------------------------------------------------------------------------
# Distribution: compare with the official script's loop run on the gymnasium env
# ---------------------------------------------------------------------------------------------


def _reference_episodes(ctx, episodes, seed):
    """OGBench's generate_locomaze.py loop for pointmaze, driven through the gymnasium env."""
    recipe = ctx.recipe
    np.random.seed(seed)
    env = gymnasium.make(
        recipe.env_name, terminate_at_goal=False, max_episode_steps=recipe.episode_length
    )
    sim = env.unwrapped
    observations, actions, successes = [], [], 0
    for _ in range(episodes):
        start = ctx.free_cells[np.random.randint(len(ctx.free_cells))]
        if recipe.dataset_type == "navigate":
            goal = ctx.vertex_cells[np.random.randint(len(ctx.vertex_cells))]
        else:
            near = ctx.stitch_goals[start]
            goal = near[np.random.randint(len(near))] if near else start
        ob, _ = env.reset(options=dict(task_info=dict(init_ij=start, goal_ij=goal)))
        done, obs, acts = False, [], []
        while not done:
            subgoal, _ = sim.get_oracle_subgoal(sim.get_xy(), sim.cur_goal_xy)
            direction = subgoal - sim.get_xy()
            direction = direction / (np.linalg.norm(direction) + 1e-6)
            action = np.clip(direction + np.random.normal(0, recipe.noise, 2), -1, 1)
            next_ob, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if info["success"]:
                successes += 1
                if recipe.dataset_type == "navigate":
                    sim.set_goal(ctx.vertex_cells[np.random.randint(len(ctx.vertex_cells))])
            obs.append(ob)
            acts.append(action)
            ob = next_ob
        observations.append(obs)
        actions.append(acts)
    return np.array(observations), np.array(actions), successes


def _summary(observations, actions, successes):
    steps = np.linalg.norm(np.diff(observations, axis=1), axis=-1)
    return {
        "action_norm": np.linalg.norm(actions, axis=-1).mean(),
        "clipped": np.mean(np.abs(actions) == 1.0),
        "median_step": np.median(steps),
        "success_rate": successes / actions[..., 0].size,
        "teleport_rate": np.mean(steps > 1.0),
    }


@pytest.mark.parametrize(
    "name, ref_episodes, episodes, success_rtol",
    [("pointmaze-medium-navigate-v0", 4, 40, 0.35), ("pointmaze-large-stitch-v0", 20, 200, 0.15)],
)
def test_statistics_match_the_official_recipe(name, ref_episodes, episodes, success_rtol, contexts):
    ctx = contexts(name)
    ref = _summary(*_reference_episodes(ctx, ref_episodes, seed=1))
    traces = [rollout_episode(ctx, episode_rng(0, "train", e)) for e in range(episodes)]
    ours = _summary(
        np.array([t.observations for t in traces]),
        np.array([t.actions for t in traces]),
        sum(t.successes for t in traces),
    )
    assert ours["action_norm"] == pytest.approx(ref["action_norm"], abs=0.02)
    assert 0.9 < ours["action_norm"] < 1.0
    assert ours["clipped"] == pytest.approx(ref["clipped"], abs=0.03)
    assert ours["median_step"] == pytest.approx(ref["median_step"], abs=0.005)
    assert ours["success_rate"] == pytest.approx(ref["success_rate"], rel=success_rtol)
    assert ours["teleport_rate"] == ref["teleport_rate"] == 0.0


def test_teleport_maze_teleports(contexts):
    ctx = contexts("pointmaze-teleport-navigate-v0")
    traces = [rollout_episode(ctx, episode_rng(0, "train", e)) for e in range(20)]
    jumps = sum(int((np.linalg.norm(np.diff(t.qpos, axis=0), axis=1) > 1.0).sum()) for t in traces)
    assert jumps == sum(t.teleports for t in traces) > 0
    exits = {tuple(xy) for xy in ctx.layout.teleport_out}
    landed = {tuple(q) for t in traces for q in t.qpos.tolist()} & exits
    assert len(landed) >= 2  # exits are chosen at random
