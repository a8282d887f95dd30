"""Lean single-learner update loop for TMD: eager, one CUDA graph per update, or torch.compile.

RLlib's ``Learner._update`` runs every update through the multi-module machinery: a
dict-of-modules forward, a gradients dict over every parameter, a per-parameter
``postprocess_gradients`` loop and ``apply_gradients``. At TMD's sizes the GPU work of one
update is about a millisecond, so that Python work (plus ~30 sampler kernels and a per-step
metrics stack) bounds the update rate. With a single learner (no DDP, so no gradient sync to
preserve) one update is just::

    zero_grad -> module.forward_train(batch) -> loss terms -> total.backward()
              -> (grad clip) -> optimizer.step()

on the same RLModule and the *same optimizer objects RLlib registered* (so checkpoints save and
restore their state as before). This module runs that loop with:

* batches drawn a chunk at a time (:class:`ChunkedBatches`: one set of sampler kernels per
  chunk of ``C`` batches, ``[C, B, dim]`` tensors; batches are i.i.d. exactly as before);
* the loss terms of every update written into a device tensor ``[n, T]``
  (:class:`TermHistory`), copied to the host once per ``run_updates``;
* optionally (``cuda_graph``) the whole update captured as one CUDA graph
  (:class:`GraphedStep`) that reads its batch from static chunk buffers at a device cursor, so
  that one update costs one ``graph.replay()`` on the host;
* optionally (``torch_compile``) forward + loss compiled with ``torch.compile``;
* optionally (``parallel_branches``, CUDA) the update's independent branches -- TMD's critic
  and actor halves, which share no autograd graph -- run forward and backward side by side on
  CUDA streams (:class:`Branch`). At TMD's sizes a single branch fills a small part of the
  GPU, so the two overlap instead of queueing one behind the other.

Nothing here may crash training for a performance reason: a failed capture or compile logs a
warning and the eager path continues with the next batch.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

#: ``(module, batch) -> {term name: scalar tensor}`` (forward + losses); one entry is the total
#: loss to differentiate. The module is passed per call: RLlib may swap the object on restore.
TermsFn = Callable[[nn.Module, Mapping[str, Tensor]], Mapping[str, Tensor]]
Batch = dict[str, Tensor]

DEFAULT_CHUNK_BYTES = 128 << 20  # bound on the memory of one chunk of pre-sampled batches
DEFAULT_MAX_CHUNK = 1024  # at most this many batches per chunk
DEFAULT_WARMUP_STEPS = 3  # eager updates on a side stream before a CUDA graph capture
GRAD_CLIP_MODES = ("value", "norm", "global_norm")
_NORM_NAN_BOUND = 10e8  # RLlib's nan_to_num bound for gradient norms
# Largest batch for which parallel_branches="auto" runs the branches side by side. On one H100
# (benchmarks/results/streams-h100) streams gave +14 % at B = 512, +7 % at 1024, +2.5 % at
# 2048, and 11.2 vs 13.4 updates/s (serial, another run) at 8192.
PARALLEL_BRANCHES_MAX_BATCH = 2048


# ---- options and eligibility -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FastUpdateOptions:
    """How the lean path runs. ``from_config`` reads the (optional) TMD config keys.

    cuda_graph: capture the whole update as one CUDA graph (CUDA only; eager elsewhere).
    torch_compile: ``torch.compile`` forward + loss with ``compile_backend``/``compile_mode``.
    fused_adam: switch the registered Adam optimizer(s) to ``fused=True`` (CUDA only).
    parallel_branches: run the update's branches on CUDA streams side by side (CUDA only).
    warmup_steps: eager updates (real ones, counted) on a side stream before capturing.
    chunk_bytes / max_chunk: bound on one chunk of pre-sampled batches.
    """

    cuda_graph: bool = False
    torch_compile: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None
    fused_adam: bool = False
    parallel_branches: bool = False
    warmup_steps: int = DEFAULT_WARMUP_STEPS
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    max_chunk: int = DEFAULT_MAX_CHUNK

    @classmethod
    def from_config(cls, config: Any, device: torch.device | str = "cpu") -> FastUpdateOptions:
        """Options from ``config.cuda_graph``, ``torch_compile_update``, ``fused_adam``,
        ``torch_compile_mode``, ``parallel_update_branches``; ``"auto"`` means on for a CUDA
        ``device``, off elsewhere (parallel branches: only up to
        ``PARALLEL_BRANCHES_MAX_BATCH``)."""
        return cls(
            cuda_graph=resolve_auto(getattr(config, "cuda_graph", False), device),
            torch_compile=resolve_auto(getattr(config, "torch_compile_update", False), device),
            fused_adam=resolve_auto(getattr(config, "fused_adam", False), device),
            compile_mode=compile_mode_of(getattr(config, "torch_compile_mode", "default")),
            parallel_branches=resolve_parallel_branches(
                getattr(config, "parallel_update_branches", False),
                device,
                getattr(config, "train_batch_size_per_learner", None) or 0,
            ),
        )


def options_for_learner(config: Any, device: torch.device | str) -> FastUpdateOptions:
    """:meth:`FastUpdateOptions.from_config` for a learner on ``device``."""
    return FastUpdateOptions.from_config(config, device)


def resolve_auto(value: bool | str, device: torch.device | str) -> bool:
    """A CUDA-only speed switch: ``"auto"`` -> on iff ``device`` is CUDA; else ``bool(value)``."""
    if value == "auto":
        return torch.device(device).type == "cuda"
    return bool(value)


def compile_mode_of(name: str | None) -> str | None:
    """``torch.compile``'s ``mode`` for the config's ``torch_compile_mode`` (``"default"`` ->
    None)."""
    return None if name in (None, "default") else name


def resolve_parallel_branches(
    value: bool | str, device: torch.device | str, batch_size: int
) -> bool:
    """``parallel_update_branches``: ``"auto"`` -> on for CUDA up to
    ``PARALLEL_BRANCHES_MAX_BATCH``; else ``bool(value)``."""
    if value == "auto":
        return resolve_auto(value, device) and batch_size <= PARALLEL_BRANCHES_MAX_BATCH
    return bool(value)


def lean_path_blocker(config: Any) -> str | None:
    """``None`` when the lean loop may replace RLlib's ``_update``, else the reason it may not.

    The lean loop reproduces TorchLearner's update (zero_grad, backward, optional grad
    clipping, optimizer step). With several learners (``num_learners > 1``) it averages the
    gradients itself with one all-reduce per update (``grad_sync``), as DDP would, so that a
    CUDA graph can hold the whole update, collective included. Anything beyond that keeps
    RLlib's path: grad scalers, torch LR schedulers, RLlib's own torch.compile, gradient
    norm logging, or ``fast_update=False``.
    """
    checks = (
        (not getattr(config, "fast_update", True), "fast_update=False"),
        (config._torch_grad_scaler_class is not None, "a torch grad scaler is configured"),
        (bool(config._torch_lr_scheduler_classes), "torch LR schedulers are configured"),
        (bool(config.torch_compile_learner), "RLlib's torch_compile_learner is on"),
        (bool(config.log_gradients), "log_gradients=True"),
        (config.grad_clip_by not in GRAD_CLIP_MODES, f"grad_clip_by={config.grad_clip_by!r}"),
    )
    return next((reason for blocked, reason in checks if blocked), None)


# ---- batches ---------------------------------------------------------------------------------
def batch_nbytes(batch_size: int, obs_dim: int, act_dim: int) -> int:
    """Bytes of one float32 TMD batch: obs, next_obs, two goals ``[B, obs]`` + actions."""
    return 4 * batch_size * (4 * obs_dim + act_dim)


def chunk_capacity(bytes_per_batch: int, chunk_bytes: int, max_chunk: int) -> int:
    """Batches per chunk: as many as fit ``chunk_bytes``, at least 1, at most ``max_chunk``."""
    return max(1, min(max_chunk, chunk_bytes // max(1, bytes_per_batch)))


def sample_chunk(sampler: Any, batch_size: int, count: int) -> Batch:
    """``count`` i.i.d. batches from one ``sample`` call: every value ``[count, B, dim]``."""
    flat = sampler.sample(count * batch_size)
    return {k: v.view(count, batch_size, *v.shape[1:]) for k, v in flat.items()}


def chunk_length(chunk: Mapping[str, Tensor]) -> int:
    """Number of batches ``C`` of a chunk ``{key: [C, B, dim]}``."""
    return next(iter(chunk.values())).shape[0]


class ChunkedBatches:
    """Batches of size ``batch_size`` from ``sampler``, drawn ``capacity`` at a time."""

    def __init__(self, sampler: Any, batch_size: int, capacity: int) -> None:
        self.sampler, self.batch_size, self.capacity = sampler, batch_size, capacity

    def chunks(self, num_batches: int) -> Iterator[tuple[int, Batch]]:
        """``(index of the chunk's first batch, chunk [c, B, dim])`` covering ``num_batches``."""
        for start in range(0, num_batches, self.capacity):
            count = min(self.capacity, num_batches - start)
            yield start, sample_chunk(self.sampler, self.batch_size, count)

    def batches(self, num_batches: int) -> Iterator[Batch]:
        """``num_batches`` batches ``{key: [B, dim]}`` (views into the chunks)."""
        for _, chunk in self.chunks(num_batches):
            for i in range(chunk_length(chunk)):
                yield {k: v[i] for k, v in chunk.items()}


# ---- metrics ---------------------------------------------------------------------------------
class TermHistory:
    """Loss terms of ``num_updates`` updates on the device: ``values [n, T]``.

    Allocated at the first write (``T`` and the dtype come from the terms); ``to_host`` is
    the one host sync of a ``run_updates`` call.
    """

    def __init__(self, num_updates: int, device: torch.device | str) -> None:
        if num_updates < 1:
            raise ValueError(f"num_updates must be >= 1, got {num_updates}")
        self.num_updates, self.device = num_updates, torch.device(device)
        self.names: tuple[str, ...] = ()
        self.values: Tensor | None = None

    def _allocate(self, names: Sequence[str], dtype: torch.dtype) -> None:
        if self.values is None:
            self.names = tuple(names)
            self.values = torch.empty(
                (self.num_updates, len(self.names)), dtype=dtype, device=self.device
            )

    def write_terms(self, index: int, terms: Mapping[str, Tensor]) -> None:
        """Stacks a ``{name: scalar}`` dict into row ``index`` (one kernel)."""
        values = [v.detach() for v in terms.values()]
        self._allocate(list(terms), values[0].dtype)
        torch.stack(values, out=self.values[index])

    def write_rows(self, start: int, rows: Tensor, names: Sequence[str]) -> None:
        """Copies ``rows [c, T]`` into updates ``start .. start + c - 1``."""
        self._allocate(names, rows.dtype)
        self.values[start : start + rows.shape[0]].copy_(rows)

    def to_host(self) -> Tensor:
        """``[n, T]`` float32 on the CPU."""
        if self.values is None:
            raise RuntimeError("no update wrote its loss terms")
        return self.values.float().cpu()


# ---- gradients and optimizers ------------------------------------------------------------------
def clip_gradients_(grads: Sequence[Tensor], grad_clip: float | None, grad_clip_by: str) -> None:
    """RLlib's ``clip_gradients`` in place, without host syncs (CUDA-graph safe).

    ``value``: clamp each entry to ``[-c, c]``; ``norm``: scale each tensor with L2 norm
    ``> c`` to norm ``c``; ``global_norm``: scale all by ``c / max(total_norm + 1e-6, c)``.
    Norms are ``nan_to_num``-bounded like RLlib's.
    """
    if grad_clip is None or not grads:
        return
    grads = list(grads)
    if grad_clip_by == "value":
        torch._foreach_clamp_min_(grads, -grad_clip)
        torch._foreach_clamp_max_(grads, grad_clip)
        return
    norms = torch.stack(torch._foreach_norm(grads)).nan_to_num(
        neginf=-_NORM_NAN_BOUND, posinf=_NORM_NAN_BOUND
    )
    if grad_clip_by == "norm":
        scale = torch.where(norms > grad_clip, grad_clip / norms, torch.ones_like(norms))
        torch._foreach_mul_(grads, list(scale.unbind()))
    elif grad_clip_by == "global_norm":
        total = torch.linalg.vector_norm(norms).nan_to_num(
            neginf=-_NORM_NAN_BOUND, posinf=_NORM_NAN_BOUND
        )
        scale = (grad_clip / torch.clamp(total + 1e-6, min=grad_clip)).clamp(max=1.0)
        torch._foreach_mul_(grads, scale)
    else:
        raise ValueError(f"grad_clip_by must be one of {GRAD_CLIP_MODES}, got {grad_clip_by!r}")


def cuda_graphs_supported(device: torch.device) -> bool:
    """Whether a whole update on ``device`` can be captured as a CUDA graph."""
    return device.type == "cuda" and torch.cuda.is_available()


def optimizer_params(optimizers: Iterable[torch.optim.Optimizer]) -> list[Tensor]:
    """Every parameter of ``optimizers``, in param-group order."""
    return [p for opt in optimizers for group in opt.param_groups for p in group["params"]]


def set_capturable(
    optimizers: Iterable[torch.optim.Optimizer], capturable: bool | None = None
) -> None:
    """Sets ``capturable`` on every param group that has the flag (Adam & co.), in place, and
    puts each ``step`` state tensor where that group's mode needs it.

    ``capturable=None`` keeps each group's flag and only fixes the placement. Capturable or
    fused groups keep ``step`` on the parameter's device (CUDA-graph safe); the others on
    the CPU: a device ``step`` there costs one host sync per parameter per update (RLlib's
    restore moves every state tensor to the learner device), and a capturable group fails
    to step off CUDA (a checkpoint of a CUDA-graph run restored on a CPU learner).
    """
    for opt in optimizers:
        for group in opt.param_groups:
            if "capturable" not in group:
                continue
            if capturable is not None:
                group["capturable"] = capturable
            on_device = bool(group["capturable"] or group.get("fused"))
            for p in group["params"]:
                state = opt.state.get(p)
                step = state.get("step") if state else None
                if torch.is_tensor(step):
                    device = p.device if on_device else torch.device("cpu")
                    if step.device != device:
                        state["step"] = step.to(device)


def set_fused(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Switches param groups that have a ``fused`` flag to the fused (one-kernel) step."""
    for opt in optimizers:
        for group in opt.param_groups:
            if "fused" in group:
                group["fused"], group["foreach"] = True, False
    set_capturable(optimizers)  # fused steps keep ``step`` on the device


def state_fingerprint(
    module: nn.Module, optimizers: Sequence[torch.optim.Optimizer], extra: tuple = ()
) -> tuple:
    """Identity of everything a captured graph holds by address.

    The module object, its parameter and buffer storages, the optimizers' state storages and
    their hyperparameters (a captured graph bakes float ``lr``/``betas`` in). A checkpoint
    restore (``load_state_dict`` builds new state tensors), a new module or an LR change
    yields a new fingerprint, so the graph is captured again.
    """
    items: list[Any] = [*extra, id(module)]
    items.extend(t.data_ptr() for t in (*module.parameters(), *module.buffers()))
    for opt in optimizers:
        items.append(id(opt))
        for group in opt.param_groups:
            items.append(repr(sorted((k, v) for k, v in group.items() if k != "params")))
            for p in group["params"]:
                items.append(p.data_ptr())
                state = opt.state.get(p, {})
                items.extend(v.data_ptr() for v in state.values() if torch.is_tensor(v))
    return tuple(items)


# ---- one update ------------------------------------------------------------------------------
class CompiledTermsFn:
    """``torch.compile`` of a terms function that falls back to eager if compiling fails.

    Compilation happens at the first call (forward) and at the first backward; until
    :meth:`confirm` is called after a successful first backward, an exception is taken as a
    compile failure: :meth:`disable` logs a warning and every later call runs the original
    function (:class:`UpdateStep` then redoes that step eagerly, so no update is lost or
    repeated: nothing was stepped yet).
    """

    def __init__(self, fn: TermsFn, backend: Any = "inductor", mode: str | None = None) -> None:
        self._eager = fn
        self._compiled = torch.compile(fn, backend=backend, mode=mode, dynamic=False)
        self.active, self.confirmed = True, False

    @property
    def on_probation(self) -> bool:
        """Compiled, but not yet through one forward + backward."""
        return self.active and not self.confirmed

    def __call__(self, module: nn.Module, batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        if not self.active:
            return self._eager(module, batch)
        if self.confirmed:
            return self._compiled(module, batch)
        try:
            return self._compiled(module, batch)
        except Exception as err:  # compile failures; eager re-raises real errors
            self.disable(err)
            return self._eager(module, batch)

    def disable(self, err: BaseException) -> None:
        logger.warning(
            "TMD: torch.compile of the update failed (%s: %s); running eager",
            type(err).__name__,
            err,
        )
        self.active = False

    def confirm(self) -> None:
        self.confirmed = True


@dataclasses.dataclass(frozen=True)
class Branch:
    """An independent part of an update: ``terms_fn`` computes its terms, and its gradients
    are those of ``terms[total_key]``.

    The branches of one update must share no autograd graph (each is differentiated on its
    own) and no parameter that receives a gradient; then differentiating each branch's total
    gives exactly the gradients of differentiating their sum. TMD's critic and actor halves
    are such branches (the actor sees the critic with its parameters detached).
    """

    terms_fn: TermsFn
    total_key: str


class _RedoStep(Exception):
    """A compiled branch failed in its first backward; the step is redone with it eager."""


class UpdateStep:
    """One optimisation step on one batch: ``batch {key: [B, dim]} -> terms [T]`` (detached).

    ``zero_grad(set_to_none) -> for each branch: terms_fn(module, batch),
    terms[branch.total_key].backward() -> [grad_sync] -> clip -> optimizer.step()`` for each
    optimizer. ``update`` is one terms function (one branch whose total is ``total_key``) or
    a sequence of :class:`Branch`; with several, ``total_key`` is added to the terms as the sum
    of the branch totals. ``parallel`` runs the branches on CUDA streams side by side (a
    no-op off CUDA or with one branch). ``grad_sync(grads)`` (data-parallel learners)
    averages the gradients in place across learners. ``module`` and ``optimizers`` are set by
    the caller; ``term_names`` (order of the ``[T]`` output) is fixed by the first call.
    """

    def __init__(
        self,
        update: TermsFn | Sequence[Branch],
        total_key: str,
        grad_clip: float | None = None,
        grad_clip_by: str = "global_norm",
        grad_sync: Callable[[list[Tensor]], None] | None = None,
        parallel: bool = False,
    ) -> None:
        self.branches = as_branches(update, total_key)
        self.total_key = total_key
        self.grad_clip, self.grad_clip_by = grad_clip, grad_clip_by
        self.grad_sync = grad_sync
        self.parallel = parallel
        self.module: nn.Module | None = None
        self.optimizers: list[torch.optim.Optimizer] = []
        self.term_names: tuple[str, ...] | None = None
        self._side_streams: list[Any] = []

    def __call__(self, batch: Mapping[str, Tensor]) -> Tensor:
        terms = self.compute_gradients(batch)
        if self.grad_sync is not None:
            self.grad_sync(self.gradients())
        self.apply_gradients()
        return terms

    def compute_gradients(self, batch: Mapping[str, Tensor], zero_grads: bool = True) -> Tensor:
        """zero_grad (unless the caller zeroed the gradients), forward, losses, backward
        (accumulating into ``.grad``); returns the detached terms ``[T]``."""
        if zero_grads:
            self._zero_grads()
        terms = self._forward_backward(batch)
        if self.term_names is None:
            self.term_names = tuple(terms)
        return torch.stack([terms[k].detach() for k in self.term_names])

    def gradients(self) -> list[Tensor]:
        """The optimizers' parameter gradients (those that exist), in a fixed order."""
        return [p.grad for p in optimizer_params(self.optimizers) if p.grad is not None]

    def apply_gradients(self) -> None:
        """Optional clipping, then every optimizer's step (gradients already synced)."""
        if self.grad_clip is not None:
            clip_gradients_(self.gradients(), self.grad_clip, self.grad_clip_by)
        for opt in self.optimizers:
            opt.step()

    @property
    def compiled(self) -> bool:
        """Whether some branch runs through ``torch.compile`` (not fallen back to eager)."""
        return any(
            isinstance(b.terms_fn, CompiledTermsFn) and b.terms_fn.active for b in self.branches
        )

    def uses_streams(self, device: torch.device) -> bool:
        """Whether the branches run side by side on CUDA streams on ``device``."""
        return self.parallel and len(self.branches) > 1 and device.type == "cuda"

    def _zero_grads(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def _forward_backward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Every branch's terms with its gradients accumulated, plus the total. A compiled
        branch whose first backward fails falls back to eager and the batch is redone."""
        for _ in range(len(self.branches)):
            try:
                return self._with_total(self._run_branches(batch))
            except _RedoStep:
                self._zero_grads()
        return self._with_total(self._run_branches(batch))

    def _with_total(self, terms: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.total_key not in terms:
            totals = [terms[b.total_key] for b in self.branches]
            terms[self.total_key] = torch.stack(totals).sum()
        return terms

    def _run_branches(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Branch 0 on the current stream, the others on side streams forked from it and
        joined back before returning (so that everything after sees their results)."""
        device = next(iter(batch.values())).device
        if not self.uses_streams(device):
            return {k: v for b in self.branches for k, v in self._run_branch(b, batch).items()}
        main = torch.cuda.current_stream(device)
        sides = self._streams(device)
        for side in sides:  # fork before anything is queued, so no branch waits for another
            side.wait_stream(main)
        terms: dict[str, Tensor] = {}
        try:
            terms.update(self._run_branch(self.branches[0], batch))
            for branch, side in zip(self.branches[1:], sides):
                with torch.cuda.stream(side):
                    terms.update(self._run_branch(branch, batch))
        finally:
            for side in sides:
                main.wait_stream(side)
        return terms

    def _streams(self, device: torch.device) -> list[Any]:
        """One side stream per branch but the first, created once per device."""
        if not self._side_streams or self._side_streams[0].device != device:
            self._side_streams = [
                torch.cuda.Stream(device=device) for _ in range(len(self.branches) - 1)
            ]
        return self._side_streams

    def _run_branch(self, branch: Branch, batch: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
        """One branch's terms, its total differentiated (on the current stream)."""
        fn = branch.terms_fn
        terms = fn(self.module, batch)
        if not (isinstance(fn, CompiledTermsFn) and fn.on_probation):
            terms[branch.total_key].backward()
            return terms
        try:
            terms[branch.total_key].backward()
        except Exception as err:  # e.g. the compiled backward failed to compile
            fn.disable(err)
            raise _RedoStep from err
        fn.confirm()
        return terms


def as_branches(update: TermsFn | Sequence[Branch], total_key: str) -> list[Branch]:
    """``update`` as a list of branches: one terms function is one branch with ``total_key``."""
    if callable(update):
        return [Branch(update, total_key)]
    branches = list(update)
    if not branches or not all(isinstance(b, Branch) for b in branches):
        raise TypeError(f"an update is a terms function or a sequence of Branch, got {update!r}")
    return branches


class GraphedStep:
    """An :class:`UpdateStep` that reads its batch from static chunk buffers at a device cursor.

    ``inputs[key]: [capacity, B, dim]`` (filled by :meth:`load`), ``cursor: [1]`` int64,
    ``history: [capacity, T]`` (terms of update ``cursor``). :meth:`body` is one update and
    advances the cursor; it is what :meth:`capture` records as one CUDA graph, and it runs
    eagerly as well (warm-up, and CPU tests of the graph's exact computation).

    With a ``grad_sync`` (data-parallel learners) an update is two graphs around one eager
    all-reduce: :meth:`compute` (forward, backward), :meth:`sync_flat` (the collective,
    outside any graph) and :meth:`apply` (clip, optimizer step). Every parameter's ``.grad``
    is then a view into one flat buffer ``flat_grads`` that lives outside the graphs' memory
    pools (as DDP's ``gradient_as_bucket_view``): backward accumulates into it after one
    ``zero_()``, the all-reduce works on it in place, and nothing is copied between the parts.
    """

    def __init__(self, step: UpdateStep, example: Mapping[str, Tensor], capacity: int) -> None:
        self.step, self.capacity = step, capacity
        self.inputs = {
            k: torch.empty((capacity, *v.shape[1:]), dtype=v.dtype, device=v.device)
            for k, v in example.items()
        }
        self.device = next(iter(example.values())).device
        self.cursor = torch.zeros(1, dtype=torch.long, device=self.device)
        self.history: Tensor | None = None
        self.graph: Any = None
        self.fingerprint: tuple | None = None
        self.flat_grads: Tensor | None = None  # data-parallel only: every .grad is a view
        self._grad_views: list[Tensor] = []

    def load(self, chunk: Mapping[str, Tensor]) -> int:
        """Copies a chunk ``{key: [c, B, dim]}`` (``c <= capacity``) in; resets the cursor."""
        count = chunk_length(chunk)
        if count > self.capacity:
            raise ValueError(f"chunk of {count} batches exceeds capacity {self.capacity}")
        for k, v in chunk.items():
            self.inputs[k][:count].copy_(v)
        self.cursor.zero_()
        if self.synced:
            self.attach_flat_grads()
        return count

    def attach_flat_grads(self) -> None:
        """Data-parallel: makes each parameter's ``.grad`` a view into ``flat_grads``
        (allocated at the first call, outside any graph pool); re-attaches views that
        something replaced since."""
        params = optimizer_params(self.step.optimizers)
        if self.flat_grads is None:
            total = sum(p.numel() for p in params)
            self.flat_grads = torch.zeros(total, dtype=params[0].dtype, device=self.device)
            self._grad_views = [
                part.view_as(p)
                for p, part in zip(params, self.flat_grads.split([p.numel() for p in params]))
            ]
        for p, view in zip(params, self._grad_views):
            if p.grad is not view:
                p.grad = view

    @property
    def synced(self) -> bool:
        return self.step.grad_sync is not None

    def body(self) -> None:
        """One update on batch ``inputs[:][cursor]``; terms into ``history[cursor]``."""
        if self.synced:
            self.compute()
            self.sync_flat()
            self.apply()
            return
        terms = self.step(self._batch())
        self._record(terms)
        self.cursor.add_(1)

    def _batch(self) -> dict[str, Tensor]:
        return {k: v.index_select(0, self.cursor).squeeze(0) for k, v in self.inputs.items()}

    def _record(self, terms: Tensor) -> None:
        if self.history is None:
            self.history = torch.zeros(
                (self.capacity, terms.shape[0]), dtype=terms.dtype, device=self.device
            )
        self.history.index_copy_(0, self.cursor, terms.unsqueeze(0))

    def compute(self) -> None:
        """Data-parallel part 1: forward + backward, accumulated into the zeroed
        ``flat_grads`` (through the ``.grad`` views that :meth:`load` attached)."""
        self.flat_grads.zero_()
        self._record(self.step.compute_gradients(self._batch(), zero_grads=False))

    def sync_flat(self) -> None:
        """Data-parallel part 2 (eager): average ``flat_grads`` across learners, in place."""
        self.step.grad_sync([self.flat_grads])

    def apply(self) -> None:
        """Data-parallel part 3: clip, optimizer step on the averaged views, cursor + 1."""
        self.step.apply_gradients()
        self.cursor.add_(1)

    def warmup(self, steps: int) -> None:
        """``steps`` real (counted) eager updates on a side stream, as capture requires."""
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.device(self.device), torch.cuda.stream(side), warnings.catch_warnings():
            # Adam warns once that a capturable instance steps uncaptured: expected here.
            warnings.filterwarnings("ignore", message=".*capturable=True.*")
            for _ in range(steps):
                self.body()
        torch.cuda.current_stream(self.device).wait_stream(side)

    def capture(self, fingerprint: tuple) -> None:
        """Records :meth:`body` as one CUDA graph, or (data-parallel) :meth:`compute` and
        :meth:`apply` as two around the eager :meth:`sync_flat`. Runs nothing; the cursor is
        not advanced."""
        if not self.synced:
            for opt in self.step.optimizers:
                opt.zero_grad(set_to_none=True)  # grads get allocated from the graph's pool
            self.graph, self.fingerprint = record_graph(self.body, self.device), fingerprint
            return
        before = record_graph(self.compute, self.device)
        self.graph = SplitGraph(before, self.sync_flat, record_graph(self.apply, self.device))
        self.fingerprint = fingerprint

    def replay(self) -> None:
        self.graph.replay()


def record_graph(
    body: Callable[[], None], device: torch.device, capture_error_mode: str = "thread_local"
) -> Any:
    """``body`` captured as a ``torch.cuda.CUDAGraph`` on ``device`` (nothing runs).

    ``torch.cuda.graph`` captures on a stream of the *current* device; a data-parallel learner
    on ``cuda:1`` (Ray Train shows every GPU of the node to every learner) must make its own
    device current first, or its kernels run outside the capturing stream.
    """
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.device(device), torch.cuda.graph(graph, capture_error_mode=capture_error_mode):
        body()
    return graph


@dataclasses.dataclass
class SplitGraph:
    """A data-parallel update: graph ``before``, eager ``between`` (the all-reduce), ``after``."""

    before: Any
    between: Callable[[], None]
    after: Any

    def replay(self) -> None:
        self.before.replay()
        self.between()
        self.after.replay()


# ---- the loop --------------------------------------------------------------------------------
class FastUpdater:
    """Runs ``n`` lean updates of one module: CUDA graph replays or eager steps.

    Args:
        update: ``(module, batch) -> {name: scalar}`` (forward + losses), with ``total_key``
            in it; or a sequence of independent :class:`Branch` (see :class:`UpdateStep`).
        options: see :class:`FastUpdateOptions`.
        grad_clip, grad_clip_by: RLlib's gradient clipping settings.

    :meth:`run` takes the module and its optimizers each call (RLlib may rebuild them on
    restore) and a :class:`ChunkedBatches` source; it writes every update's terms into a
    :class:`TermHistory`. ``path`` names what ran last: ``"lean"``, then ``+compile``,
    ``+graph`` and ``+streams`` (branches side by side) for the speed-ups that were active.
    """

    def __init__(
        self,
        update: TermsFn | Sequence[Branch],
        total_key: str,
        options: FastUpdateOptions | None = None,
        grad_clip: float | None = None,
        grad_clip_by: str = "global_norm",
        grad_sync: Callable[[list[Tensor]], None] | None = None,
    ) -> None:
        self.options = options or FastUpdateOptions()
        branches = as_branches(update, total_key)
        if self.options.torch_compile:
            branches = [
                Branch(
                    CompiledTermsFn(
                        b.terms_fn, self.options.compile_backend, self.options.compile_mode
                    ),
                    b.total_key,
                )
                for b in branches
            ]
        self.step = UpdateStep(
            branches,
            total_key,
            grad_clip,
            grad_clip_by,
            grad_sync,
            # Data-parallel learners keep the branches in series: streams there (beside the
            # all-gather of global negatives) have not been run on several GPUs yet.
            parallel=self.options.parallel_branches and grad_sync is None,
        )
        self.graph_error: str | None = None
        self._graphed: GraphedStep | None = None
        self.path = "lean"

    @property
    def graph_enabled(self) -> bool:
        return self.options.cuda_graph and self.graph_error is None

    def run(
        self,
        module: nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
        batches: ChunkedBatches,
        num_updates: int,
        history: TermHistory,
    ) -> None:
        """``num_updates`` updates of ``module`` on batches from ``batches``; terms into
        ``history``."""
        device = next(module.parameters()).device
        use_graph = self.graph_enabled and cuda_graphs_supported(device)
        if self.graph_enabled and not use_graph:
            self._disable_graph(f"CUDA graphs need a CUDA device; the learner is on {device.type}")
        self._prepare_optimizers(optimizers, device, use_graph)
        self.step.module, self.step.optimizers = module, list(optimizers)
        for start, chunk in batches.chunks(num_updates):
            done = 0
            if use_graph and self.graph_enabled:
                done = self._graph_chunk(optimizers, batches, chunk, start, history)
            self._eager_chunk(chunk, start, done, history)
        self.path = self._describe_path(device)

    def _describe_path(self, device: torch.device) -> str:
        graphed = self._graphed is not None and self._graphed.graph is not None
        return (
            "lean"
            + ("+compile" if self.step.compiled else "")
            + ("+graph" if graphed else "")
            + ("+streams" if self.step.uses_streams(device) else "")
        )

    # -- eager -----------------------------------------------------------------------------
    def _eager_chunk(
        self, chunk: Mapping[str, Tensor], start: int, first: int, history: TermHistory
    ) -> None:
        """Eager updates on batches ``first ..`` of a chunk ``{key: [c, B, dim]}``."""
        for i in range(first, chunk_length(chunk)):
            terms = self.step({k: v[i] for k, v in chunk.items()})
            history.write_rows(start + i, terms.unsqueeze(0), self.step.term_names)

    # -- CUDA graph ----------------------------------------------------------------------
    def _prepare_optimizers(
        self, optimizers: Sequence[torch.optim.Optimizer], device: torch.device, graph: bool
    ) -> None:
        """Capturable Adam for graphs; CPU-only flags off CUDA; optional fused Adam."""
        if device.type != "cuda":
            set_capturable(optimizers, False)  # capturable Adam steps fail off CUDA
            return
        if self.options.fused_adam:
            set_fused(optimizers)
        set_capturable(optimizers, True if graph else None)

    def _graph_chunk(
        self,
        optimizers: Sequence[torch.optim.Optimizer],
        batches: ChunkedBatches,
        chunk: Mapping[str, Tensor],
        start: int,
        history: TermHistory,
    ) -> int:
        """Updates of one chunk through the graph (capturing first if needed).

        Returns how many of the chunk's updates ran; after a failure the rest run eagerly.
        """
        graphed = self._graphed_for(optimizers, batches, chunk)
        count = graphed.load(chunk)
        done = 0
        if graphed.graph is None:
            done = min(max(1, self.options.warmup_steps), count)
            try:
                graphed.warmup(done)
                graphed.capture(self._fingerprint(optimizers, batches))
            except Exception as err:  # capture is an optimisation: never stop training
                self._disable_graph(f"{type(err).__name__}: {err}")
                return self._salvage_warmup(graphed, start, history)
        for _ in range(done, count):
            graphed.replay()
        history.write_rows(start, graphed.history[:count], self.step.term_names)
        return count

    def _salvage_warmup(self, graphed: GraphedStep, start: int, history: TermHistory) -> int:
        """After a failed warm-up/capture: keep the terms of the warm-up updates that ran and
        return their number (the caller runs the rest of the chunk eagerly)."""
        self._graphed = None
        try:
            if graphed.device.type == "cuda":
                torch.cuda.synchronize(graphed.device)
            done = int(graphed.cursor.item())
        except Exception as err:  # a broken capture may leave an error to report here
            logger.warning("TMD: CUDA error after the failed capture: %s", err)
            raise
        if done:
            history.write_rows(start, graphed.history[:done], self.step.term_names)
        return done

    def _graphed_for(
        self,
        optimizers: Sequence[torch.optim.Optimizer],
        batches: ChunkedBatches,
        chunk: Mapping[str, Tensor],
    ) -> GraphedStep:
        """The current graph, or a fresh (uncaptured) one if the state moved since capture."""
        graphed = self._graphed
        if graphed is not None and graphed.fingerprint != self._fingerprint(optimizers, batches):
            logger.info("TMD: parameters/optimizer state changed; capturing the update again")
            graphed = None
        if graphed is None:
            graphed = GraphedStep(self.step, chunk, batches.capacity)
            self._graphed = graphed
        return graphed

    def _fingerprint(
        self, optimizers: Sequence[torch.optim.Optimizer], batches: ChunkedBatches
    ) -> tuple:
        return state_fingerprint(
            self.step.module, optimizers, extra=(batches.batch_size, batches.capacity)
        )

    def _disable_graph(self, reason: str) -> None:
        self.graph_error = reason
        logger.warning("TMD: CUDA graph update disabled, running eager updates (%s)", reason)
