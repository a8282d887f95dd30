"""Training-batch samplers: one interface, three implementations, one goal relabelling.

Every sampler yields ``dict[str, torch.Tensor]`` batches with keys (all float32):

- ``obs [B, obs_dim]``, ``actions [B, act_dim]``, ``next_obs [B, obs_dim]``,
- ``value_goals [B, obs_dim]`` (critic goals), ``actor_goals [B, obs_dim]`` (policy goals).

Implementations:

- :class:`NumpySampler`: dataset in host memory, numpy ``Generator``; reference path.
- :class:`TorchSampler`: dataset as tensors on a device (GPU-resident fast path on CUDA); every
  index and goal is drawn on the device with a device ``torch.Generator`` — no host round trip,
  no Python loop, no ``.item()``.
- :func:`ray_data_batches`: Ray Data streaming for data larger than memory:
  ``read_parquet`` -> whole-episode relabelling in ``map_batches`` -> ``iter_torch_batches``.

All three draw transitions uniformly and relabel them with :mod:`rllib_tmd.data.goals`, so their
batches agree in distribution (tested). Samplers are deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import torch

from rllib_tmd.data.episodes import EpisodeArrays, column_to_numpy, free_ray_cpus
from rllib_tmd.data.goals import (
    NUM_UNIFORMS,
    UNIFORMS_PER_GOAL,
    BatchIndices,
    EpisodeIndex,
    GoalConfig,
    relabel_rows,
    sample_batch_indices,
)
from rllib_tmd.data.schema import CORE_COLUMNS, DatasetError, validate_arrays, validate_dataset_dir

BATCH_KEYS = ("obs", "actions", "next_obs", "value_goals", "actor_goals")


@runtime_checkable
class GoalSampler(Protocol):
    """Anything that returns goal-relabelled training batches (see the module docstring)."""

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]: ...


def gather_batch(
    observations: np.ndarray, actions: np.ndarray, indices: BatchIndices
) -> dict[str, np.ndarray]:
    """Rows of a numpy dataset for a batch of indices: the five ``BATCH_KEYS`` arrays."""
    return {
        "obs": np.take(observations, indices.rows, axis=0),
        "actions": np.take(actions, indices.rows, axis=0),
        "next_obs": np.take(observations, indices.rows + 1, axis=0),
        "value_goals": np.take(observations, indices.value_goals, axis=0),
        "actor_goals": np.take(observations, indices.actor_goals, axis=0),
    }


class NumpySampler:
    """Uniform transitions + goals with numpy on the host; returns torch tensors on ``device``.

    ``episodes``: a validated :class:`EpisodeArrays`. ``seed``: numpy ``Generator`` seed.
    """

    def __init__(
        self,
        episodes: EpisodeArrays,
        goal_config: GoalConfig | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = goal_config or GoalConfig()
        self.device = torch.device(device)
        self._observations = np.ascontiguousarray(episodes.observations, dtype=np.float32)
        self._actions = np.ascontiguousarray(episodes.actions, dtype=np.float32)
        self._index = episodes.episode_index()
        self._rng = np.random.default_rng(seed)

    def sample_indices(self, batch_size: int) -> BatchIndices:
        """Row indices of one batch (``[B]`` int64 numpy arrays)."""
        u = self._rng.random((NUM_UNIFORMS, batch_size))
        index = self._index
        return sample_batch_indices(u, index.rows, index.ends, self.config, index.num_rows)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        batch = gather_batch(self._observations, self._actions, self.sample_indices(batch_size))
        return {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}

    def get_state(self) -> dict:
        """RNG state (for checkpoints)."""
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state


class TorchSampler:
    """The whole dataset as tensors on ``device``; indices and goals drawn there.

    Holds ``observations [N, obs_dim]``, ``actions [N, act_dim]`` (float32) and the transition
    rows with their episodes' terminal rows (int64, ``[M]`` each). On CPU the tensors share
    memory with ``episodes``. ``sample`` launches a fixed number of kernels: one ``rand``, the
    index arithmetic of :mod:`goals`, and two gathers.
    """

    def __init__(
        self,
        episodes: EpisodeArrays,
        goal_config: GoalConfig | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        self.config = goal_config or GoalConfig()
        self.device = torch.device(device)
        index = episodes.episode_index()
        self._observations = self._to_device(episodes.observations, torch.float32)
        self._actions = self._to_device(episodes.actions, torch.float32)
        self._rows = self._to_device(index.rows, torch.int64)
        self._ends = self._to_device(index.ends, torch.int64)
        self._num_rows = index.num_rows
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)

    def _to_device(self, array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=self.device)

    def sample_indices(self, batch_size: int) -> BatchIndices:
        """Row indices of one batch (``[B]`` int64 tensors on the device)."""
        u = torch.rand(
            (NUM_UNIFORMS, batch_size),
            generator=self._generator,
            device=self.device,
            dtype=torch.float64,
        )
        return sample_batch_indices(u, self._rows, self._ends, self.config, self._num_rows)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        return self.sample_with_indices(batch_size)[0]

    def sample_with_indices(self, batch_size: int) -> tuple[dict[str, torch.Tensor], BatchIndices]:
        """A batch and the row indices it was gathered from (e.g. to tell which value goal is
        the current state itself)."""
        ix = self.sample_indices(batch_size)
        rows = torch.cat((ix.rows, ix.rows + 1, ix.value_goals, ix.actor_goals))
        states = self._observations.index_select(0, rows).view(4, batch_size, -1)
        obs, next_obs, value_goals, actor_goals = states.unbind(0)
        batch = {
            "obs": obs,
            "actions": self._actions.index_select(0, ix.rows),
            "next_obs": next_obs,
            "value_goals": value_goals,
            "actor_goals": actor_goals,
        }
        return batch, ix

    def get_state(self) -> torch.Tensor:
        """Generator state (for checkpoints)."""
        return self._generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self._generator.set_state(state)


def make_sampler(
    episodes: EpisodeArrays,
    goal_config: GoalConfig | None = None,
    kind: str = "torch",
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> GoalSampler:
    """``kind="torch"``: :class:`TorchSampler` (dataset on ``device``); ``"numpy"``:
    :class:`NumpySampler` (dataset on the host, batches moved to ``device``)."""
    if kind == "torch":
        return TorchSampler(episodes, goal_config, device=device, seed=seed)
    if kind == "numpy":
        return NumpySampler(episodes, goal_config, seed=seed, device=device)
    raise ValueError(f"sampler kind must be 'torch' or 'numpy', got {kind!r}")


# --------------------------------------------------------------------------------------------
# Streaming (Ray Data)
# --------------------------------------------------------------------------------------------


def relabel_episodes(
    columns: Mapping[str, np.ndarray],
    goal_config: GoalConfig,
    rng: np.random.Generator,
    source: str = "<episodes>",
) -> BatchIndices:
    """Every transition of a run of whole episodes, once, in random order, with its goals.

    ``columns``: ``episode_id``, ``t``, ``observations``, ``actions``, ``terminals`` of
    complete episodes (validated here). Random dataset goals come from these rows only.
    Returns ``[M]`` row indices into ``columns`` (M = number of transitions); pass them to
    :func:`gather_batch`.
    """
    validate_arrays(columns, source, kind="column")
    index = EpisodeIndex.from_terminals(columns["terminals"])
    order = rng.permutation(len(index.rows))
    u = rng.random((2 * UNIFORMS_PER_GOAL, len(order)))
    return relabel_rows(index.rows[order], index.ends[order], u, goal_config, index.num_rows)


def _table_columns(table: pa.Table, source: str) -> dict[str, np.ndarray]:
    return {name: column_to_numpy(table.column(name), name, source) for name in CORE_COLUMNS}


class EpisodeStreamRelabeler:
    """Ray Data ``map_batches`` callable (run as ONE actor over an order-preserving stream).

    Ray Data blocks are not episode-aligned: a block may end inside an episode. The actor keeps
    the unfinished tail of each block and prepends it to the next block, so every episode is
    relabelled whole (exact §4 sampling); it raises if blocks arrive out of order. Output comes
    in pieces of at most ``output_rows`` transitions.
    """

    def __init__(
        self, goal_config: GoalConfig, seed: int | tuple[int, ...], output_rows: int = 1 << 16
    ) -> None:
        self._config = goal_config
        self._rng = np.random.default_rng(seed)
        self._output_rows = output_rows
        self._carry: pa.Table | None = None

    def _prepend_carry(self, table: pa.Table) -> pa.Table:
        if self._carry is None:
            return table
        last_id = self._carry.column("episode_id")[-1].as_py()
        last_t = self._carry.column("t")[-1].as_py()
        first_id = table.column("episode_id")[0].as_py()
        first_t = table.column("t")[0].as_py()
        if (first_id, first_t) != (last_id, last_t + 1):
            raise DatasetError(
                f"Ray Data blocks arrived out of order: episode {last_id} stops at t={last_t} "
                f"but the next block starts with episode {first_id}, t={first_t} (the stream "
                "must preserve order and run one relabelling actor)"
            )
        return pa.concat_tables([self._carry, table.select(self._carry.schema.names)])

    def __call__(self, table: pa.Table) -> Iterator[dict[str, np.ndarray]]:
        table = self._prepend_carry(table.select(list(CORE_COLUMNS)))
        terminals = column_to_numpy(table.column("terminals"), "terminals", "stream")
        terminal_rows = np.flatnonzero(terminals)
        complete = int(terminal_rows[-1]) + 1 if terminal_rows.size else 0
        self._carry = table.slice(complete) if complete < table.num_rows else None
        if not complete:
            return
        columns = _table_columns(table.slice(0, complete), "stream")
        indices = relabel_episodes(columns, self._config, self._rng, source="stream")
        for start in range(0, len(indices.rows), self._output_rows):
            part = slice(start, start + self._output_rows)
            yield gather_batch(
                columns["observations"],
                columns["actions"],
                BatchIndices(
                    indices.rows[part], indices.value_goals[part], indices.actor_goals[part]
                ),
            )


def ray_data_batches(
    path: str | Path,
    goal_config: GoalConfig | None = None,
    batch_size: int = 512,
    seed: int = 0,
    *,
    num_epochs: int | None = 1,
    device: str | torch.device = "cpu",
    shuffle_buffer_size: int | None = None,
    num_cpus: float = 0.5,
    drop_last: bool = True,
    expected_obs_dim: int | None = None,
    epochs_per_pipeline: int = 8,
) -> Iterator[dict[str, torch.Tensor]]:
    """Stream goal-relabelled batches from a Parquet dataset directory with Ray Data.

    One pipeline serves ``epochs_per_pipeline`` epochs (the file list repeated, so the next
    epoch streams on without a new read/relabel actor): ``read_parquet`` -> one relabelling
    actor (:class:`EpisodeStreamRelabeler`: whole episodes, every transition once per epoch,
    in random order; Ray fuses the read into it, so exactly one process reads, in file order)
    -> ``iter_torch_batches`` with a local shuffle buffer (default ``4 * batch_size``; 0 turns
    it off). The actor asks for ``num_cpus``; Ray Data's listing task needs one free CPU
    (checked up front: raises instead of hanging). ``num_epochs=None`` streams forever.
    Random dataset goals (if configured) come from the current block, not the whole dataset.
    Deterministic for a seed.
    """
    import ray.data

    validate_dataset_dir(path, expected_obs_dim=expected_obs_dim)
    free = free_ray_cpus()
    if free is not None and free < 1.0:
        raise RuntimeError(
            "ray_data_batches: no free CPU in the Ray cluster; Ray Data's file "
            "listing task needs one and would wait forever (leave a CPU free, "
            "or use TorchSampler/NumpySampler)"
        )
    config = goal_config or GoalConfig()
    buffer = shuffle_buffer_size if shuffle_buffer_size is not None else 4 * batch_size
    for part, epochs in enumerate(_pipeline_epochs(num_epochs, epochs_per_pipeline)):
        # one read per epoch, concatenated in order (a list of repeated file paths would be
        # listed by parallel threads, which races on an optional fsspec import in ray 2.60)
        reads = [
            ray.data.read_parquet(
                str(path), concurrency=1, num_cpus=num_cpus, file_extensions=["parquet"]
            ).select_columns(list(CORE_COLUMNS))
            for _ in range(epochs)
        ]
        dataset = reads[0].union(*reads[1:]) if epochs > 1 else reads[0]
        dataset = dataset.map_batches(
            EpisodeStreamRelabeler,
            fn_constructor_kwargs={"goal_config": config, "seed": (seed, part)},
            batch_size=None,
            batch_format="pyarrow",
            zero_copy_batch=True,
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=num_cpus,
        )
        dataset.context.execution_options.preserve_order = True
        yield from dataset.iter_torch_batches(
            batch_size=batch_size,
            dtypes=torch.float32,
            device=device,
            drop_last=drop_last,
            local_shuffle_buffer_size=buffer or None,
            local_shuffle_seed=seed + part,
        )


def _pipeline_epochs(num_epochs: int | None, per_pipeline: int) -> Iterator[int]:
    """Epoch counts of successive pipelines: ``num_epochs`` split into runs of at most
    ``per_pipeline`` (forever when ``num_epochs`` is None)."""
    if per_pipeline < 1:
        raise ValueError(f"epochs_per_pipeline must be >= 1, got {per_pipeline}")
    left = num_epochs
    while left is None or left > 0:
        count = per_pipeline if left is None else min(per_pipeline, left)
        yield count
        if left is not None:
            left -= count


__all__ = [
    "BATCH_KEYS",
    "EpisodeStreamRelabeler",
    "GoalSampler",
    "NumpySampler",
    "TorchSampler",
    "gather_batch",
    "make_sampler",
    "ray_data_batches",
    "relabel_episodes",
]
