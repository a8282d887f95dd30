"""Cross-learner pieces of TMD's data-parallel training (torch.distributed, gloo or NCCL).

RLlib's learner group runs ``num_learners`` learners. On RLlib's update path they are DDP
modules whose autograd hooks all-reduce the gradients; on the lean update loop they are plain
modules (weights broadcast from rank 0 by :func:`broadcast_parameters_`) and the loop calls
:func:`average_gradients_` once per update on one flat gradient buffer, between the two CUDA
graphs of the update. With ``global_negatives`` the contrastive loss of every learner also sees the
state-action embeddings of all learners (``N x B`` candidates per goal) through
:func:`all_gather_with_grad`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def data_parallel_rank_and_size() -> tuple[int, int]:
    """``(rank, world size)`` of the default process group, ``(0, 1)`` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenation of every rank's ``x`` along ``dim``; gradients go back to their owners.

    Backward: each rank holds the gradient of its own loss with respect to the whole
    concatenation; summing those over ranks (all-reduce) and keeping this rank's slice gives
    the gradient of the sum of all ranks' losses with respect to this rank's ``x``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:
        rank, size = data_parallel_rank_and_size()
        parts = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(parts, x.contiguous())
        ctx.dim, ctx.rank, ctx.length = dim, rank, x.shape[dim]
        return torch.cat(parts, dim=dim)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.narrow(ctx.dim, ctx.rank * ctx.length, ctx.length), None


def all_gather_with_grad(x: Tensor, dim: int = 0) -> Tensor:
    """``cat([x of rank 0, x of rank 1, ...], dim)``, differentiable; ``x`` itself without a
    process group. Every rank must pass the same shape."""
    if data_parallel_rank_and_size()[1] == 1:
        return x
    return _AllGatherWithGrad.apply(x, dim)


def average_gradients_(grads: list[Tensor]) -> None:
    """In place: every gradient becomes its mean over the ranks (one flat all-reduce).

    The same result as DDP's gradient averaging; a no-op without a process group.
    """
    size = data_parallel_rank_and_size()[1]
    if size == 1 or not grads:
        return
    if len(grads) == 1 and grads[0].is_contiguous():  # already flat: no copies
        dist.all_reduce(grads[0])
        grads[0].div_(size)
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(size)
    for grad, part in zip(grads, flat.split([g.numel() for g in grads])):
        grad.copy_(part.view_as(grad))


def broadcast_parameters_(module: torch.nn.Module, src: int = 0) -> None:
    """In place: every parameter and buffer of ``module`` becomes rank ``src``'s (what DDP's
    constructor does); a no-op without a process group."""
    if data_parallel_rank_and_size()[1] == 1:
        return
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            dist.broadcast(tensor.data, src=src)
