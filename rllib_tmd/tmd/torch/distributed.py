"""Cross-learner pieces of TMD's data-parallel training (torch.distributed, gloo or NCCL).

RLlib's learner group runs ``num_learners`` DDP learners; gradients are all-reduced by DDP.
With ``global_negatives`` the contrastive loss of every learner also sees the state-action
embeddings of all learners (``N x B`` candidates per goal) through :func:`all_gather_with_grad`.
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
