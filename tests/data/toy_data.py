"""Small synthetic OGBench-layout datasets for the data tests.

Observations encode their own position: ``obs[:, 0]`` is the episode number and ``obs[:, 1]``
the step ``t``, so a batch's goals reveal which row they came from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rllib_tmd.data.episodes import EpisodeArrays


def make_arrays(
    lengths, obs_dim: int = 3, act_dim: int = 2, seed: int = 0, extras: bool = False
) -> dict[str, np.ndarray]:
    """OGBench-layout arrays for episodes of the given row counts."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, dtype=np.int64)
    num_rows = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    terminals = np.zeros(num_rows, dtype=np.float32)
    terminals[starts + lengths - 1] = 1.0
    observations = rng.normal(size=(num_rows, obs_dim)).astype(np.float32)
    observations[:, 0] = np.repeat(np.arange(len(lengths)), lengths)
    observations[:, 1] = np.arange(num_rows) - np.repeat(starts, lengths)
    arrays = {
        "observations": observations,
        "actions": rng.uniform(-1, 1, size=(num_rows, act_dim)).astype(np.float32),
        "terminals": terminals,
    }
    if extras:
        arrays["qpos"] = rng.normal(size=(num_rows, 4)).astype(np.float32)
        arrays["qvel"] = rng.normal(size=(num_rows, 4)).astype(np.float64)
        arrays["button_states"] = rng.integers(0, 2, size=(num_rows, 3)).astype(np.int64)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def make_episodes(lengths, **kwargs) -> EpisodeArrays:
    arrays = make_arrays(lengths, **kwargs)
    return EpisodeArrays.from_arrays(arrays["observations"], arrays["actions"], arrays["terminals"])


def episode_and_step(states) -> tuple[np.ndarray, np.ndarray]:
    """(episode number, t) of encoded observations ``[B, obs_dim]`` (numpy or torch)."""
    states = np.asarray(states)
    return states[:, 0].astype(np.int64), states[:, 1].astype(np.int64)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (max distance of the empirical CDFs)."""
    a, b = np.sort(np.asarray(a)), np.sort(np.asarray(b))
    grid = np.union1d(a, b)
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


def ks_threshold(n: int, m: int, alpha_coefficient: float = 1.95) -> float:
    """KS critical value (1.95 ~ significance 0.001)."""
    return alpha_coefficient * float(np.sqrt((n + m) / (n * m)))
