"""PointMaze datasets generated locally with OGBench's scripted noisy oracle.

This reproduces OGBench's collection recipe (``data_gen_scripts/generate_locomaze.py`` with the
flags of ``data_gen_scripts/commands.sh``) for the eight ``pointmaze-*`` datasets:

* The environment is ``gymnasium.make('pointmaze-<maze>-v0', terminate_at_goal=False,
  max_episode_steps=L)``, so every episode has exactly ``L`` rows and only the last row is terminal.
* Navigate: start cell uniform over all free cells, goal cell uniform over "vertex" cells (free
  cells that are not straight hallway segments); whenever the goal is reached (``info['success']``,
  distance <= 1.0 to the jittered goal after the step) a new vertex goal cell is drawn.
* Stitch: start cell uniform over free cells, goal uniform over the cells exactly 4 BFS steps away
  (the start cell itself if none); the goal is never re-drawn.
* Start and goal positions are cell centres plus ``U(-1, 1)`` jitter per axis; the start velocity is
  ``N(0, 0.1)`` (``PointEnv.reset_model``).
* Action: unit vector towards the oracle subgoal (centre of the next cell on a BFS path to the goal
  cell; the current cell's centre once inside the goal cell), plus ``N(0, 0.5)`` noise, clipped to
  ``[-1, 1]``.
* Teleport maze: after each step, an agent within 1.5 of an entrance is moved to a uniformly chosen
  exit; the recorded next observation is the pre-teleport position, ``qpos`` the true state.
* Rows store ``observations`` (position returned by the previous step, i.e. before a teleport),
  ``actions``, ``qpos``/``qvel`` (the state before the step); val files hold ``num_episodes // 10``
  more episodes.

Instead of calling the gym wrapper, the generator drives the environment's own MuJoCo model/data
with the same state updates as ``PointEnv.step`` (``qpos += 0.2 * a``, ``qvel = 0``, 5 physics
substeps). A step that provably cannot touch a wall (every wall box farther than the ball radius)
is a no-op in MuJoCo for this model (``nefc == 0``: position unchanged, velocity and warm start
zero), so it is applied without calling the physics; tests check bit-equality with the gym env.
"""

from __future__ import annotations

import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import mujoco
import numpy as np
import ogbench  # noqa: F401  (registers the ogbench gymnasium environments)

from rllib_tmd.data.generate.common import (
    collect_recipe,
    episode_rng,
    write_splits,
)

#: ``PointEnv.step`` adds ``0.2 * action`` to the position.
POINT_ACTION_SCALE = 0.2
#: ``PointEnv.reset_model`` draws the start velocity as ``0.1 * N(0, 1)``.
RESET_QVEL_STD = 0.1
#: The script normalises the subgoal direction as ``d / (|d| + 1e-6)``.
DIRECTION_EPS = 1e-6
#: Stitch goals are cells exactly this many BFS steps from the start cell.
STITCH_GOAL_DISTANCE = 4
#: Extra distance (beyond ball radius + contact margin) required before a step skips the physics.
CONTACT_CLEARANCE_EPS = 1e-2
#: Neighbour order used by ogbench's BFS and subgoal choice (ties go to the first one).
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1))
#: Columns of the per-step table built during a rollout.
_OBS, _ACT, _QPOS, _QVEL = slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)

Cell = tuple[int, int]


@dataclass(frozen=True)
class PointMazeRecipe:
    """Flags of one ``generate_locomaze.py`` command in OGBench's ``commands.sh``."""

    env_name: str
    dataset_type: str  # "navigate" | "stitch"
    num_episodes: int
    episode_length: int  # --max_episode_steps: rows per episode
    noise: float = 0.5


def _recipes() -> dict[str, PointMazeRecipe]:
    recipes = {}
    for maze in ("medium", "large", "giant", "teleport"):
        env_name = f"pointmaze-{maze}-v0"
        navigate = (500, 2001) if maze == "giant" else (1000, 1001)
        recipes[f"pointmaze-{maze}-navigate-v0"] = PointMazeRecipe(env_name, "navigate", *navigate)
        recipes[f"pointmaze-{maze}-stitch-v0"] = PointMazeRecipe(env_name, "stitch", 5000, 201)
    return recipes


POINTMAZE_RECIPES: dict[str, PointMazeRecipe] = _recipes()


# --------------------------------------------------------------------------------------------
# Maze geometry and the BFS oracle
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MazeLayout:
    """Grid and coordinate conventions of an ogbench ``MazeEnv`` (read from the env itself)."""

    maze_map: np.ndarray  # int [H, W], 1 = wall
    unit: float
    offset_x: float
    offset_y: float
    jitter: float  # start/goal positions get U(-jitter, jitter) per axis
    goal_tol: float
    teleport_in: tuple[tuple[float, float], ...] = ()
    teleport_out: tuple[tuple[float, float], ...] = ()
    teleport_trigger: float = 0.0

    @classmethod
    def from_env(cls, env: gymnasium.Env) -> MazeLayout:
        u = env.unwrapped
        teleport = u._teleport_info or {}

        def points(key: str) -> tuple[tuple[float, float], ...]:
            return tuple((float(x), float(y)) for x, y in teleport.get(key, ()))

        return cls(
            maze_map=np.asarray(u.maze_map),
            unit=float(u._maze_unit),
            offset_x=float(u._offset_x),
            offset_y=float(u._offset_y),
            jitter=float(u._noise) * float(u._maze_unit) / 4,
            goal_tol=float(u._goal_tol),
            teleport_in=points("teleport_in_xys"),
            teleport_out=points("teleport_out_xys"),
            teleport_trigger=float(teleport.get("teleport_radius", 0.0)) * 1.5,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self.maze_map.shape

    def xy_to_ij(self, x: float, y: float) -> Cell:
        """Cell containing ``(x, y)`` (same arithmetic as ``MazeEnv.xy_to_ij``)."""
        half, unit = 0.5 * self.unit, self.unit
        return int((y + self.offset_y + half) / unit), int((x + self.offset_x + half) / unit)

    def ij_to_xy(self, ij: Cell) -> tuple[float, float]:
        """Centre of cell ``ij``."""
        return ij[1] * self.unit - self.offset_x, ij[0] * self.unit - self.offset_y

    def is_free(self, i: int, j: int) -> bool:
        h, w = self.shape
        return 0 <= i < h and 0 <= j < w and self.maze_map[i, j] == 0

    def free_cells(self) -> list[Cell]:
        """All free cells in row-major order (the script's ``all_cells``)."""
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(self.maze_map == 0), strict=True)]

    def vertex_cells(self) -> list[Cell]:
        """Free cells that are not straight hallway segments (navigate goal candidates)."""
        m = self.maze_map

        def hallway(i: int, j: int) -> bool:
            up_down_open = m[i - 1, j] == 0 and m[i + 1, j] == 0
            left_right_open = m[i, j - 1] == 0 and m[i, j + 1] == 0
            up_down_walls = m[i - 1, j] == 1 and m[i + 1, j] == 1
            left_right_walls = m[i, j - 1] == 1 and m[i, j + 1] == 1
            return bool((up_down_open and left_right_walls) or (left_right_open and up_down_walls))

        return [c for c in self.free_cells() if not hallway(*c)]

    def bfs(self, source: Cell) -> tuple[np.ndarray, list[Cell]]:
        """Grid BFS from ``source`` over free cells (``NEIGHBOURS`` order).

        Returns distances int [H, W] (-1: unreachable or wall) and the cells in discovery order.
        """
        dist = np.full(self.shape, -1, dtype=np.int64)
        dist[source] = 0
        order, queue = [source], deque([source])
        while queue:
            i, j = queue.popleft()
            for di, dj in NEIGHBOURS:
                ni, nj = i + di, j + dj
                if self.is_free(ni, nj) and dist[ni, nj] == -1:
                    dist[ni, nj] = dist[i, j] + 1
                    order.append((ni, nj))
                    queue.append((ni, nj))
        return dist, order

    def cells_at_distance(self, source: Cell, steps: int) -> list[Cell]:
        """Cells exactly ``steps`` BFS steps from ``source``, in discovery order (stitch goals)."""
        dist, order = self.bfs(source)
        return [c for c in order if dist[c] == steps]

    def next_cell(self, dist_to_goal: np.ndarray, start: Cell) -> Cell:
        """Oracle subgoal cell: the first neighbour (in ``NEIGHBOURS`` order) with a strictly
        smaller BFS distance than the best so far, starting from ``start`` itself."""
        best = start
        for di, dj in NEIGHBOURS:
            ni, nj = start[0] + di, start[1] + dj
            if self.is_free(ni, nj) and dist_to_goal[ni, nj] < dist_to_goal[best]:
                best = (ni, nj)
        return best

    def subgoal_table(self) -> list[list[list[tuple[float, float]]]]:
        """Oracle subgoal centre for every (goal cell, agent cell) pair.

        Returns nested lists ``table[goal_i * W + goal_j][i][j] -> (x, y)`` (lists of Python floats
        are the fastest thing to index from the per-step loop).
        """
        h, w = self.shape
        table = []
        for gi in range(h):
            for gj in range(w):
                dist, _ = self.bfs((gi, gj))
                rows = [[self.next_cell(dist, (i, j)) for j in range(w)] for i in range(h)]
                table.append([[self.ij_to_xy(c) for c in row] for row in rows])
        return table


# --------------------------------------------------------------------------------------------
# Lean stepper on the env's own MuJoCo model/data
# --------------------------------------------------------------------------------------------

Box2D = tuple[float, float, float, float]  # x_lo, x_hi, y_lo, y_hi


def _wall_boxes(model: mujoco.MjModel, body: str) -> list[Box2D]:
    """Axis-aligned xy extents of every geom that can collide with ``body``, except the floor."""
    body_id = model.body(body).id
    mine = [g for g in range(model.ngeom) if model.geom_bodyid[g] == body_id]
    boxes = []
    for g in range(model.ngeom):
        if g in mine or not any(_can_collide(model, g, m) for m in mine):
            continue
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_PLANE:
            continue  # the floor: a ball resting on it with no z dof gives no constraint rows
        if model.geom_type[g] != mujoco.mjtGeom.mjGEOM_BOX or not np.allclose(
            model.geom_quat[g], (1, 0, 0, 0)
        ):
            raise ValueError(f"unexpected collidable geom {model.geom(g).name!r} in the maze model")
        (x, y), (sx, sy) = model.geom_pos[g][:2], model.geom_size[g][:2]
        boxes.append((float(x - sx), float(x + sx), float(y - sy), float(y + sy)))
    return boxes


def _can_collide(model: mujoco.MjModel, a: int, b: int) -> bool:
    return bool(
        (model.geom_contype[a] & model.geom_conaffinity[b])
        or (model.geom_contype[b] & model.geom_conaffinity[a])
    )


def _box_distance_sq(x: float, y: float, box: Box2D) -> float:
    x_lo, x_hi, y_lo, y_hi = box
    dx = x_lo - x if x < x_lo else (x - x_hi if x > x_hi else 0.0)
    dy = y_lo - y if y < y_lo else (y - y_hi if y > y_hi else 0.0)
    return dx * dx + dy * dy


class PointMazeStepper:
    """``PointEnv.step`` physics on the env's model/data, without the gym wrappers.

    The state lives in Python floats (``x, y, vx, vy``); MuJoCo is only called for steps that can
    touch a wall. For this model such a call depends only on ``qpos``, ``qvel`` (zeroed by the step)
    and ``qacc_warmstart`` (zero after any contact-free step), which ``physics_step`` restores.
    """

    #: Safety raster cells per maze cell along each axis.
    RASTER = 16

    def __init__(self, env: gymnasium.Env, layout: MazeLayout):
        u = env.unwrapped
        self.model, self.data = u.model, u.data
        self.frame_skip = int(u.frame_skip)
        radius = float(self.model.geom("pointbody").size[0])
        self.clearance = radius + float(self.model.geom_margin.max()) + CONTACT_CLEARANCE_EPS
        self.layout = layout
        boxes = _wall_boxes(self.model, "torso")
        self._near_walls = _walls_near_cells(layout, boxes, self.clearance)
        self._safe, self._raster_origin, self._raster_inv = _safety_raster(
            layout, boxes, self.clearance, self.RASTER
        )
        self.x = self.y = self.vx = self.vy = 0.0
        self.warmstart_zero = True  # data.qacc_warmstart must be zeroed before the next mj_step
        self.physics_steps = 0  # steps that needed MuJoCo (profiling)

    def reset(self, xy: tuple[float, float], qvel: tuple[float, float]) -> None:
        """State right after ``MazeEnv.reset``: fresh data, position ``xy``, velocity ``qvel``."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = xy
        self.data.qvel[:] = qvel
        mujoco.mj_forward(self.model, self.data)
        (self.x, self.y), (self.vx, self.vy) = map(float, xy), map(float, qvel)
        self.warmstart_zero = True

    def contact_free(self, x: float, y: float) -> bool:
        """True if a ball centred at ``(x, y)`` is farther than the clearance from every wall."""
        ox, oy = self._raster_origin
        inv = self._raster_inv
        if self._safe[int((y - oy) * inv)][int((x - ox) * inv)]:
            return True
        i, j = self.layout.xy_to_ij(x, y)
        c2 = self.clearance * self.clearance
        return all(_box_distance_sq(x, y, b) > c2 for b in self._near_walls[i][j])

    def physics_step(self, nx: float, ny: float) -> tuple[float, float, float, float]:
        """Run MuJoCo from position ``(nx, ny)`` at rest; returns ``(x, y, vx, vy)`` after it."""
        data = self.data
        data.qpos[:] = (nx, ny)
        data.qvel[:] = 0.0
        if self.warmstart_zero:
            data.qacc_warmstart[:] = 0.0
            self.warmstart_zero = False
        mujoco.mj_step(self.model, data, nstep=self.frame_skip)
        self.physics_steps += 1
        x, y = data.qpos.tolist()
        vx, vy = data.qvel.tolist()
        return x, y, vx, vy

    def step(self, ax: float, ay: float) -> tuple[float, float]:
        """One env step with action ``(ax, ay)``; returns the new position (the observation)."""
        nx = self.x + POINT_ACTION_SCALE * ax
        ny = self.y + POINT_ACTION_SCALE * ay
        if self.contact_free(nx, ny):
            self.x, self.y, self.vx, self.vy = nx, ny, 0.0, 0.0
            self.warmstart_zero = True
        else:
            self.x, self.y, self.vx, self.vy = self.physics_step(nx, ny)
        return self.x, self.y

    def teleport_to(self, xy: tuple[float, float]) -> None:
        """``MazeEnv``'s teleport: new position, same velocity (``mj_forward`` sets no state)."""
        self.x, self.y = xy


def _walls_near_cells(
    layout: MazeLayout, boxes: list[Box2D], clearance: float
) -> list[list[list[Box2D]]]:
    """For each grid cell, the wall boxes within ``clearance`` of the cell's square."""
    h, w = layout.shape
    half = 0.5 * layout.unit
    near = []
    for i in range(h):
        row = []
        for j in range(w):
            cx, cy = layout.ij_to_xy((i, j))
            row.append(
                [
                    b
                    for b in boxes
                    if b[0] - clearance <= cx + half
                    and b[1] + clearance >= cx - half
                    and b[2] - clearance <= cy + half
                    and b[3] + clearance >= cy - half
                ]
            )
        near.append(row)
    return near


def _safety_raster(
    layout: MazeLayout, boxes: list[Box2D], clearance: float, per_cell: int
) -> tuple[list[list[bool]], tuple[float, float], float]:
    """Conservative raster over the maze: True where every point of the raster square is farther
    than ``clearance`` from every box (a cheap first test before the exact per-box check).

    Returns rows ``safe[iy][ix]``, the raster origin ``(x0, y0)`` and the inverse square size.
    One extra row/column of False pads the far edges.
    """
    h, w = layout.shape
    size = layout.unit / per_cell
    x0, y0 = layout.ij_to_xy((0, 0))
    x0, y0 = x0 - 0.5 * layout.unit, y0 - 0.5 * layout.unit
    lo_x = x0 + size * np.arange(w * per_cell)
    lo_y = y0 + size * np.arange(h * per_cell)
    safe = np.ones((h * per_cell, w * per_cell), dtype=bool)
    for bx_lo, bx_hi, by_lo, by_hi in boxes:
        gap_x = np.maximum(np.maximum(bx_lo - (lo_x + size), lo_x - bx_hi), 0.0)
        gap_y = np.maximum(np.maximum(by_lo - (lo_y + size), lo_y - by_hi), 0.0)
        safe &= gap_y[:, None] ** 2 + gap_x[None, :] ** 2 > clearance**2
    safe = np.pad(safe, ((0, 1), (0, 1)))
    return safe.tolist(), (float(x0), float(y0)), 1.0 / size


# --------------------------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------------------------


@dataclass
class EpisodeTrace:
    """One episode: float64 arrays of shape [T, 2], plus goal/teleport bookkeeping."""

    observations: np.ndarray
    actions: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    noise: np.ndarray  # Gaussian action noise drawn for each step (before clipping)
    goals: list[tuple[int, float, float]]  # (first step the goal is active, x, y)
    successes: int  # steps after which the agent was within goal_tol of its goal
    teleports: int


class PointMazeContext:
    """Everything one process needs to roll out episodes of one dataset."""

    def __init__(self, name: str):
        self.name = name
        self.recipe = POINTMAZE_RECIPES[name]
        self.env = gymnasium.make(self.recipe.env_name)
        self.layout = MazeLayout.from_env(self.env)
        self.stepper = PointMazeStepper(self.env, self.layout)
        self.free_cells = self.layout.free_cells()
        self.vertex_cells = self.layout.vertex_cells()
        self.subgoals = self.layout.subgoal_table()
        self.stitch_goals = {
            c: self.layout.cells_at_distance(c, STITCH_GOAL_DISTANCE) for c in self.free_cells
        }

    def sample_cells(self, rng: np.random.Generator) -> tuple[Cell, Cell]:
        """Start and first goal cell of an episode."""
        start = self.free_cells[rng.integers(len(self.free_cells))]
        if self.recipe.dataset_type == "navigate":
            return start, self.vertex_cells[rng.integers(len(self.vertex_cells))]
        candidates = self.stitch_goals[start]
        return start, candidates[rng.integers(len(candidates))] if candidates else start

    def jittered_centre(self, cell: Cell, rng: np.random.Generator) -> tuple[float, float]:
        """Cell centre plus ``U(-jitter, jitter)`` on x then y (``MazeEnv.add_noise``)."""
        x, y = self.layout.ij_to_xy(cell)
        j = self.layout.jitter
        return x + rng.uniform(-j, j), y + rng.uniform(-j, j)

    def close(self) -> None:
        self.env.close()


def rollout_episode(ctx: PointMazeContext, rng: np.random.Generator) -> EpisodeTrace:
    """Collect one episode of ``ctx.recipe`` with the noisy BFS oracle (see the module doc)."""
    recipe, layout, stepper = ctx.recipe, ctx.layout, ctx.stepper
    navigate = recipe.dataset_type == "navigate"
    start_cell, goal_cell = ctx.sample_cells(rng)
    x, y = ctx.jittered_centre(start_cell, rng)
    gx, gy = ctx.jittered_centre(goal_cell, rng)
    vx, vy = (rng.standard_normal(2) * RESET_QVEL_STD).tolist()
    stepper.reset((x, y), (vx, vy))
    noise = rng.normal(0.0, recipe.noise, size=(recipe.episode_length, 2))

    width, tol, scale = layout.shape[1], layout.goal_tol, POINT_ACTION_SCALE
    xy_to_ij, contact_free = layout.xy_to_ij, stepper.contact_free
    subgoals = ctx.subgoals[_cell_index(xy_to_ij(gx, gy), width)]
    goals, successes, teleports, rows = [(0, gx, gy)], 0, 0, []
    ob_x, ob_y = x, y
    for t, (noise_x, noise_y) in enumerate(zip(noise[:, 0].tolist(), noise[:, 1].tolist())):
        i, j = xy_to_ij(x, y)
        sx, sy = subgoals[i][j]
        dx, dy = sx - x, sy - y
        norm = math.sqrt(dx * dx + dy * dy) + DIRECTION_EPS
        ax = min(max(dx / norm + noise_x, -1.0), 1.0)
        ay = min(max(dy / norm + noise_y, -1.0), 1.0)
        rows.append((ob_x, ob_y, ax, ay, x, y, vx, vy))

        nx, ny = x + scale * ax, y + scale * ay
        if contact_free(nx, ny):
            x, y, vx, vy = nx, ny, 0.0, 0.0
            stepper.warmstart_zero = True
        else:
            x, y, vx, vy = stepper.physics_step(nx, ny)
        ob_x, ob_y = x, y
        success = math.sqrt((x - gx) ** 2 + (y - gy) ** 2) <= tol
        if layout.teleport_in:
            exit_xy = teleport_exit(layout, x, y, rng)
            if exit_xy is not None:
                x, y = exit_xy
                teleports += 1
        if success:
            successes += 1
            if navigate:
                goal_cell = ctx.vertex_cells[rng.integers(len(ctx.vertex_cells))]
                gx, gy = ctx.jittered_centre(goal_cell, rng)
                subgoals = ctx.subgoals[_cell_index(xy_to_ij(gx, gy), width)]
                goals.append((t + 1, gx, gy))

    table = np.asarray(rows, dtype=np.float64)
    return EpisodeTrace(
        observations=table[:, _OBS],
        actions=table[:, _ACT],
        qpos=table[:, _QPOS],
        qvel=table[:, _QVEL],
        noise=noise,
        goals=goals,
        successes=successes,
        teleports=teleports,
    )


def _cell_index(cell: Cell, width: int) -> int:
    return cell[0] * width + cell[1]


def teleport_exit(
    layout: MazeLayout, x: float, y: float, rng: np.random.Generator
) -> tuple[float, float] | None:
    """``MazeEnv.step``'s teleporter: within the trigger distance of an entrance (checked in
    order), a uniformly chosen exit; ``None`` otherwise."""
    for tx, ty in layout.teleport_in:
        if math.sqrt((x - tx) ** 2 + (y - ty) ** 2) <= layout.teleport_trigger:
            return layout.teleport_out[rng.integers(len(layout.teleport_out))]
    return None


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

_CONTEXTS: dict[str, PointMazeContext] = {}


def _context(name: str) -> PointMazeContext:
    """One context per dataset and process (forked workers inherit the parent's)."""
    if name not in _CONTEXTS:
        _CONTEXTS[name] = PointMazeContext(name)
    return _CONTEXTS[name]


def _run_chunk(name: str, seed: int, split: str, start: int, stop: int) -> dict[str, np.ndarray]:
    """Episodes ``start..stop-1`` of one split: float32 rows [(stop-start) * T, 2] per key."""
    ctx = _context(name)
    traces = [rollout_episode(ctx, episode_rng(seed, split, e)) for e in range(start, stop)]
    return {
        key: np.concatenate([getattr(tr, key) for tr in traces]).astype(np.float32)
        for key in ("observations", "actions", "qpos", "qvel")
    }


def collect_pointmaze(
    name: str,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, dict[str, np.ndarray]]:
    """Generate ``{"train": arrays, "val": arrays}`` in memory (see ``generate_pointmaze``)."""
    return collect_recipe(
        POINTMAZE_RECIPES[name], _run_chunk, name, episodes, seed, workers, progress
    )


def generate_pointmaze(
    name: str,
    out_dir: str | os.PathLike,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Path]:
    """Write ``<out_dir>/<name>.npz`` and ``<out_dir>/<name>-val.npz`` in OGBench's format.

    Keys: ``observations`` float32 [N, 2], ``actions`` float32 [N, 2] in [-1, 1], ``terminals``
    bool [N] (True on each episode's last row), ``qpos`` float32 [N, 2], ``qvel`` float32 [N, 2],
    with ``N = episodes * episode_length``. ``episodes`` overrides the official train episode count
    (val gets ``max(1, episodes // 10)``). Output depends only on ``seed``, not on ``workers``.
    ``workers > 1`` forks worker processes on Linux (spawns them elsewhere, where a calling
    script needs the usual ``if __name__ == "__main__":`` guard).
    """
    data = collect_pointmaze(name, episodes, seed=seed, workers=workers, progress=progress)
    return write_splits(name, out_dir, data)
