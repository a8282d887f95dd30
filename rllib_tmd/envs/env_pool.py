"""Batches of OGBench env slots, stepped in this process or spread over worker processes.

The evaluator drives ``num_slots`` envs in lock-step: it resets some slots, computes one batch
of actions for the running ones and steps them together. :class:`LocalEnvSlots` keeps every env
in this process; :class:`ProcessEnvSlots` gives slot ``s`` to worker ``s % num_workers`` and
steps the workers' shares at the same time, so MuJoCo runs on several cores while the policy
stays in the caller (one batched ``act_fn`` call per step, on whatever device it lives on).

Workers are fresh interpreters running ``_env_worker.py`` that talk over two pipes: no fork
of a process holding CUDA or Ray threads, and no re-import of the caller's ``__main__``. A
worker that raises sends its traceback back, which the caller re-raises; a worker that dies is
reported with its exit code; a worker whose caller dies sees the pipe close and exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rllib_tmd.envs.ogbench_env import OGBenchGoalEnv

#: The worker's entry point, run by path (see its docstring for why).
WORKER_SCRIPT = Path(__file__).with_name("_env_worker.py")
#: Seconds a worker gets to exit after ``close`` before it is killed.
CLOSE_TIMEOUT_S = 10.0


class StepBatch(NamedTuple):
    """What stepping n slots returns: ``obs`` [n, 2*obs_dim] float32 (``[obs, goal]``),
    ``terminated``/``truncated`` [n] bool and ``success`` [n] float (``info["success"]``)."""

    obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    success: np.ndarray

    def rows(self, index: np.ndarray) -> StepBatch:
        """The batch with its rows taken in the order of ``index``."""
        return StepBatch(*(column[index] for column in self))

    @staticmethod
    def concat(parts: Sequence[StepBatch]) -> StepBatch:
        return StepBatch(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))


@dataclass(frozen=True)
class PendingStep:
    """A step that may still be running; ``result()`` waits for its :class:`StepBatch`."""

    collect: Callable[[], StepBatch]

    def result(self) -> StepBatch:
        return self.collect()


@dataclass(frozen=True)
class ResetRequest:
    """Reset of one slot: the reset ``seed`` and ``options`` (e.g. ``{"task_id": 3}``)."""

    slot: int
    seed: int
    options: dict[str, Any]


class LocalEnvSlots:
    """``num_slots`` :class:`OGBenchGoalEnv` copies of ``env_name`` in this process."""

    #: Groups of slots worth stepping alternately: here a step can't overlap the caller's work.
    pipeline_groups = 1

    def __init__(self, env_name: str, num_slots: int) -> None:
        self.envs = [OGBenchGoalEnv({"env_name": env_name}) for _ in range(num_slots)]

    def pipeline_group(self, slot: int) -> int:
        """Always 0: a single group."""
        return 0

    @property
    def num_slots(self) -> int:
        return len(self.envs)

    def reset(self, requests: Sequence[ResetRequest]) -> tuple[np.ndarray, list[dict]]:
        """Reset the requested slots; returns obs [n, 2*obs_dim] and their info dicts."""
        results = [self.envs[r.slot].reset(seed=r.seed, options=dict(r.options)) for r in requests]
        return np.stack([obs for obs, _ in results]), [info for _, info in results]

    def step(self, slots: Sequence[int], actions: np.ndarray) -> StepBatch:
        """Step slot ``slots[i]`` with ``actions[i]``; rows of the result follow ``slots``."""
        outcomes = [self.envs[slot].step(action) for slot, action in zip(slots, actions)]
        return StepBatch(
            obs=np.stack([o[0] for o in outcomes]),
            terminated=np.array([o[2] for o in outcomes], dtype=bool),
            truncated=np.array([o[3] for o in outcomes], dtype=bool),
            success=np.array([o[4]["success"] for o in outcomes], dtype=np.float64),
        )

    def step_async(self, slots: Sequence[int], actions: np.ndarray) -> PendingStep:
        """:meth:`step`, done now; ``.result()`` of the return value gives the batch."""
        batch = self.step(slots, actions)
        return PendingStep(lambda: batch)

    def render(self, slot: int) -> np.ndarray:
        """Frame [H, W, 3] uint8 of one slot."""
        return self.envs[slot].render()

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []


class WorkerError(RuntimeError):
    """An env worker process raised or died; the message holds its traceback or exit code."""


class ProcessEnvSlots:
    """``num_slots`` env slots spread round-robin over ``num_workers`` worker processes.

    Same methods as :class:`LocalEnvSlots`; the workers of a call run at the same time, and
    :meth:`step_async` returns while they run, so the caller can compute the actions of one
    group of slots while the other group steps (:meth:`pipeline_group`: half of every worker's
    slots in each). Use as a context manager (or call
    :meth:`close`) so that the workers exit.
    """

    pipeline_groups = 2

    def __init__(self, env_name: str, num_slots: int, num_workers: int) -> None:
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}.")
        self.num_slots = num_slots
        self.num_workers = min(num_workers, num_slots)
        self._workers: list[_WorkerHandle] = []
        try:
            for index in range(self.num_workers):
                self._workers.append(_WorkerHandle.start(index))
            tickets = [
                worker.submit(("init", env_name, len(self.slots_of(worker.index))))
                for worker in self._workers
            ]
            for worker, ticket in zip(self._workers, tickets, strict=True):
                worker.result(ticket)  # "ready": the worker's envs are built
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ProcessEnvSlots:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def slots_of(self, worker: int) -> range:
        """The slots that worker ``worker`` holds."""
        return range(worker, self.num_slots, self.num_workers)

    def pipeline_group(self, slot: int) -> int:
        """0 or 1: which half of its worker's slots ``slot`` is in."""
        return (slot // self.num_workers) % self.pipeline_groups

    def _owner(self, slot: int) -> tuple[int, int]:
        """(worker index, the slot's index inside that worker)."""
        return slot % self.num_workers, slot // self.num_workers

    def _local_request(self, request: ResetRequest) -> ResetRequest:
        """The request with its slot renumbered inside the owning worker."""
        return ResetRequest(self._owner(request.slot)[1], request.seed, request.options)

    def reset(self, requests: Sequence[ResetRequest]) -> tuple[np.ndarray, list[dict]]:
        rows_of = self._group([r.slot for r in requests])
        tickets = {
            worker: self._workers[worker].submit(
                ("reset", [self._local_request(requests[row]) for row in rows])
            )
            for worker, rows in rows_of.items()
        }
        replies = [self._workers[worker].result(ticket) for worker, ticket in tickets.items()]
        order = request_order(rows_of)
        obs = np.concatenate([np.asarray(worker_obs) for worker_obs, _ in replies])[order]
        infos = [info for _, worker_infos in replies for info in worker_infos]
        return obs, [infos[i] for i in order]

    def step(self, slots: Sequence[int], actions: np.ndarray) -> StepBatch:
        return self.step_async(slots, actions).result()

    def step_async(self, slots: Sequence[int], actions: np.ndarray) -> PendingStep:
        rows_of = self._group(slots)
        tickets = {
            worker: self._workers[worker].submit(
                ("step", [self._owner(slots[row])[1] for row in rows], actions[rows])
            )
            for worker, rows in rows_of.items()
        }

        def collect() -> StepBatch:
            parts = [self._workers[worker].result(ticket) for worker, ticket in tickets.items()]
            return StepBatch.concat(parts).rows(request_order(rows_of))

        return PendingStep(collect)

    def render(self, slot: int) -> np.ndarray:
        worker, local = self._owner(slot)
        return self._workers[worker].result(self._workers[worker].submit(("render", local)))

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def _group(self, slots: Sequence[int]) -> dict[int, list[int]]:
        """Rows of ``slots`` per owning worker (rows in their original order)."""
        rows_of: dict[int, list[int]] = {}
        for row, slot in enumerate(slots):
            if not 0 <= slot < self.num_slots:
                raise IndexError(f"slot {slot} out of range 0..{self.num_slots - 1}.")
            rows_of.setdefault(self._owner(slot)[0], []).append(row)
        return rows_of


def request_order(rows_of: dict[int, list[int]]) -> np.ndarray:
    """The permutation that puts the workers' replies, concatenated in ``rows_of`` order,
    back in the order of the request's rows."""
    return np.argsort(np.concatenate(list(rows_of.values())), kind="stable")


class _WorkerHandle:
    """One worker process, the two pipe ends the caller keeps, and its replies in order.

    Requests are answered in the order they were sent; :meth:`submit` returns the request's
    ticket and :meth:`result` reads replies up to that ticket's, keeping earlier unclaimed ones.
    """

    def __init__(self, index: int, process: subprocess.Popen, to_worker: Connection,
                 from_worker: Connection) -> None:  # fmt: skip
        self.index = index
        self.process = process
        self.to_worker = to_worker
        self.from_worker = from_worker
        self._sent = 0
        self._received = 0
        self._unclaimed: dict[int, tuple[str, Any]] = {}

    @classmethod
    def start(cls, index: int) -> _WorkerHandle:
        command_read, command_write = os.pipe()
        reply_read, reply_write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), str(command_read), str(reply_write)],
            pass_fds=(command_read, reply_write),
            stdin=subprocess.DEVNULL,
        )
        os.close(command_read)
        os.close(reply_write)
        return cls(
            index,
            process,
            Connection(command_write, readable=False),
            Connection(reply_read, writable=False),
        )

    def submit(self, message: tuple) -> int:
        """Send a request; returns its ticket for :meth:`result`."""
        try:
            self.to_worker.send(message)
        except (BrokenPipeError, OSError) as error:
            raise self._died() from error
        self._sent += 1
        return self._sent - 1

    def result(self, ticket: int) -> Any:
        """The reply to request ``ticket``; raises :class:`WorkerError` if it was an error."""
        while self._received <= ticket:
            try:
                self._unclaimed[self._received] = self.from_worker.recv()
            except (EOFError, OSError) as error:
                raise self._died() from error
            self._received += 1
        status, payload = self._unclaimed.pop(ticket)
        if status == "error":
            raise WorkerError(f"env worker {self.index} raised:\n{payload}")
        return payload

    def _died(self) -> WorkerError:
        code = self.process.wait(timeout=CLOSE_TIMEOUT_S)
        return WorkerError(f"env worker {self.index} (pid {self.process.pid}) exited with {code}.")

    def stop(self) -> None:
        try:
            self.to_worker.send(("close",))
        except (BrokenPipeError, OSError):
            pass
        self.to_worker.close()
        try:
            self.process.wait(timeout=CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.from_worker.close()


def serve(commands: Connection, replies: Connection) -> None:
    """Worker loop: build the envs on ``init``, then answer reset/step/render until ``close``."""
    slots: LocalEnvSlots | None = None
    try:
        while True:
            try:
                message = commands.recv()
            except EOFError:  # the caller is gone
                return
            kind, args = message[0], message[1:]
            if kind == "close":
                return
            try:
                if kind == "init":
                    slots = LocalEnvSlots(*args)
                    reply: Any = None
                else:
                    reply = getattr(slots, kind)(*args)
            except Exception:
                replies.send(("error", traceback.format_exc()))
                continue
            replies.send(("ok", reply))
    finally:
        if slots is not None:
            slots.close()
