"""Triton kernels for the pairwise IQE component lengths, forward and backward.

For a pair (x row b, y row c) and a component with W coordinates, the length is that of the
union of the intervals [x_i, max(x_i, y_i)] (see ``rllib_tmd.quasimetric.iqe``). The kernels
return the per-component lengths [E, B, C, K]; the learned maxmean (and the gradient of alpha)
stays in torch, in :class:`~rllib_tmd.quasimetric.iqe.IQE`.

Why sorting outside and scanning inside: the order of the interval starts depends on the x row
only, so torch sorts every x row once per component (O(B D log W), stable: ties in index
order) and the kernel walks the W intervals of every pair of a tile in that order, gathering
y through the stored permutation. The walk keeps the furthest end seen so far ("reach") and
adds ``relu(end - max(start, reach))``: O(W) per pair and component, against O(W^2) for the
sort-free masked-max identity. Nothing of size [E, B, C, D] is ever stored.

Backward, recomputed (nothing saved but the sorted rows): the gradient is the one of "sum over
clusters of (right end - left end)" defined in :func:`~rllib_tmd.quasimetric.iqe.union_lengths`:
d/dx_i = -g where interval i opens a cluster, d/dy_i = +g where it closes one. Opening is
decided during the same walk in x order (non-empty, and starts after the reach of the non-empty
intervals before it). Closing is opening in the mirror image t -> -t, whose walk goes in
(-y ascending) order, i.e. over the sorted y rows. So one backward kernel serves both sides: it
owns a tile of one side's sorted rows, gathers the other side through the own permutation, and
for each sorted position sums -g over the other side's pairs where the interval opens. Each
program writes its own slice of the result (no atomics: bit-for-bit reproducible); torch
undoes the sort with one scatter. Ties follow the reference exactly because the comparisons are
the same and both sides use the same stable sorts.
"""

from __future__ import annotations

import dataclasses

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from rllib_tmd.quasimetric._common import check_pairwise_inputs, component_width
from rllib_tmd.quasimetric.fused import check_dtype_and_device, sm_count

SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclasses.dataclass(frozen=True)
class IQEKernelConfig:
    """Tile sizes and launch options of the IQE kernels (block sizes: powers of two).

    ``bwd_split`` (backward: number of ranges of the reduced side, whose partial sums torch
    adds up) defaults to a choice giving at least ``min_programs`` programs; set it to force a
    value (tests do).
    """

    block_b: int = 64
    block_c: int = 64
    num_warps: int = 4
    bwd_block_own: int = 32
    bwd_block_other: int = 64
    bwd_num_warps: int = 4
    min_programs: int = 1024
    bwd_split: int | None = None


DEFAULT_CONFIG = IQEKernelConfig()


@triton.jit
def _iqe_fwd_kernel(
    xs_ptr,
    xo_ptr,
    yt_ptr,
    out_ptr,
    B,
    C,
    W: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """out[e, k, rows, cols] = union length of component k for every pair of the tile.

    xs: x sorted per component [E, K, W, B]; xo: the sort's permutation (int32), same layout;
    yt: y component-major [E, K, W, C]; one program per (row tile, column tile, member*K).
    """
    ek = tl.program_id(2).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    row_ok = rows < B
    col_ok = cols < C
    tile_ok = row_ok[:, None] & col_ok[None, :]
    xs_k = xs_ptr + ek * W * B
    xo_k = xo_ptr + ek * W * B
    y_k = yt_ptr + ek * W * C
    reach = tl.full((BLOCK_B, BLOCK_C), float("-inf"), dtype=tl.float32)
    total = tl.zeros((BLOCK_B, BLOCK_C), dtype=tl.float32)
    for p in range(W):
        start = tl.load(xs_k + p * B + rows, mask=row_ok, other=0.0)[:, None]
        idx = tl.load(xo_k + p * B + rows, mask=row_ok, other=0)
        y_p = tl.load(y_k + idx[:, None] * C + cols[None, :], mask=tile_ok, other=0.0)
        end = tl.maximum(start, y_p)
        total += tl.maximum(end - tl.maximum(start, reach), 0.0)
        reach = tl.maximum(reach, end)
    out = out_ptr + ek * B * C + rows[:, None] * C + cols[None, :]
    tl.store(out, total.to(out_ptr.dtype.element_ty), mask=tile_ok)


@triton.jit
def _iqe_bwd_kernel(
    own_s_ptr,
    own_o_ptr,
    other_t_ptr,
    grad_ptr,
    d_own_ptr,
    N_OWN,
    N_OTHER,
    tiles_per_split,
    W: tl.constexpr,
    W_PAD: tl.constexpr,
    BLOCK_OWN: tl.constexpr,
    BLOCK_OTHER: tl.constexpr,
):
    """d_own[s, e, k, p, own] = -sum over one range s of the other side of grad * opens.

    own_s: own side sorted ascending per component [E, K, W, N_OWN] with its permutation
    own_o (int32); other_t: other side, unsorted, component-major [E, K, W, N_OTHER];
    grad: [E, K, N_OWN, N_OTHER]; d_own: [splits, E, K, W, N_OWN] in sorted positions.
    "opens" is :func:`cluster_starts` of the interval [own_p, other[own_o[p]]].
    """
    ek = tl.program_id(2).to(tl.int64)
    split = tl.program_id(1)
    own = tl.program_id(0) * BLOCK_OWN + tl.arange(0, BLOCK_OWN)
    own_ok = own < N_OWN
    own_s_k = own_s_ptr + ek * W * N_OWN
    own_o_k = own_o_ptr + ek * W * N_OWN
    other_k = other_t_ptr + ek * W * N_OTHER
    grad_k = grad_ptr + ek * N_OWN * N_OTHER
    positions = tl.arange(0, W_PAD)
    acc = tl.zeros((W_PAD, BLOCK_OWN), dtype=tl.float32)
    first = split * tiles_per_split * BLOCK_OTHER
    for t in range(tiles_per_split):
        others = first + t * BLOCK_OTHER + tl.arange(0, BLOCK_OTHER)
        tile_ok = own_ok[:, None] & (others < N_OTHER)[None, :]
        pair_offsets = own[:, None] * N_OTHER + others[None, :]
        g = tl.load(grad_k + pair_offsets, mask=tile_ok, other=0.0)
        reach = tl.full((BLOCK_OWN, BLOCK_OTHER), float("-inf"), dtype=tl.float32)
        for p in range(W):
            start = tl.load(own_s_k + p * N_OWN + own, mask=own_ok, other=0.0)[:, None]
            idx = tl.load(own_o_k + p * N_OWN + own, mask=own_ok, other=0)
            end = tl.load(other_k + idx[:, None] * N_OTHER + others[None, :], mask=tile_ok)
            valid = end > start
            opens = valid & (start > reach)
            reach = tl.where(valid, tl.maximum(reach, end), reach)
            g_p = tl.sum(tl.where(opens, g, 0.0), axis=1)
            acc += tl.where(positions[:, None] == p, g_p[None, :], 0.0)
    d_own = d_own_ptr + (split * tl.num_programs(2) + ek) * W * N_OWN
    out = d_own + positions[:, None] * N_OWN + own[None, :]
    tl.store(out, -acc, mask=(positions < W)[:, None] & own_ok[None, :])


def _component_major(t: Tensor, num_components: int) -> Tensor:
    """[E, N, D] -> contiguous [E, K, W, N]."""
    e, n, _ = t.shape
    return t.reshape(e, n, num_components, -1).permute(0, 2, 3, 1).contiguous()


def _sorted_rows(t_cm: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """[E, K, W, N] -> (sorted ascending along W (stable), int32 permutation, int64 one)."""
    values, order = torch.sort(t_cm, dim=2, stable=True)
    return values.contiguous(), order.to(torch.int32).contiguous(), order


def _backward_split(programs: int, other_tiles: int, device: torch.device, config) -> int:
    """Number of ranges the reduced side is cut into (>= 1; 1 under the interpreter)."""
    if config.bwd_split is not None:
        return max(1, min(config.bwd_split, other_tiles))
    if device.type != "cuda":
        return 1
    want = max(config.min_programs, 4 * sm_count(device.index or 0))
    return max(1, min(other_tiles // 2, triton.cdiv(want, programs)))


def _check_fused_inputs(x: Tensor, y: Tensor, num_components: int) -> int:
    """Validate inputs of the fused path; returns the component width W."""
    check_pairwise_inputs(x, y, x.shape[-1] if x.dim() == 3 else -1)
    width = component_width(x.shape[-1], num_components)
    check_dtype_and_device(x, y, SUPPORTED_DTYPES, "IQE")
    return width


def iqe_forward(xs: Tensor, xo: Tensor, yt: Tensor, config: IQEKernelConfig) -> Tensor:
    """Launch: xs, xo [E, K, W, B] (sorted x, int32 order), yt [E, K, W, C] -> [E, K, B, C]."""
    e, k, w, b = xs.shape
    c = yt.shape[-1]
    out = torch.empty((e, k, b, c), device=xs.device, dtype=torch.float32)
    grid = (triton.cdiv(b, config.block_b), triton.cdiv(c, config.block_c), e * k)
    _iqe_fwd_kernel[grid](
        xs, xo, yt, out, b, c, W=w, BLOCK_B=config.block_b, BLOCK_C=config.block_c,
        num_warps=config.num_warps,
    )  # fmt: skip
    return out


def iqe_backward_side(
    own_s: Tensor, own_o: Tensor, order: Tensor, other_t: Tensor, grad: Tensor, config
) -> Tensor:
    """d/d(own) of sum(grad * lengths) for the rule "-grad where the interval opens".

    own_s, own_o: [E, K, W, N] sorted own side and int32 order (``order``: the same as int64);
    other_t: [E, K, W, M]; grad: [E, K, N, M] float32 contiguous. Returns [E, K, W, N] in the
    original (unsorted) coordinate order.
    """
    e, k, w, n = own_s.shape
    m = other_t.shape[-1]
    own_tiles = triton.cdiv(n, config.bwd_block_own)
    other_tiles = triton.cdiv(m, config.bwd_block_other)
    split = _backward_split(own_tiles * e * k, other_tiles, own_s.device, config)
    tiles_per_split = triton.cdiv(other_tiles, split)
    split = triton.cdiv(other_tiles, tiles_per_split)
    d_sorted = torch.empty((split, e, k, w, n), device=own_s.device, dtype=torch.float32)
    grid = (own_tiles, split, e * k)
    _iqe_bwd_kernel[grid](
        own_s, own_o, other_t, grad, d_sorted, n, m, tiles_per_split, W=w,
        W_PAD=triton.next_power_of_2(w), BLOCK_OWN=config.bwd_block_own,
        BLOCK_OTHER=config.bwd_block_other, num_warps=config.bwd_num_warps,
    )  # fmt: skip
    d_sorted = d_sorted[0] if split == 1 else d_sorted.sum(dim=0)
    return torch.zeros_like(d_sorted).scatter_(2, order, d_sorted)


def _to_latent(t_cm: Tensor) -> Tensor:
    """[E, K, W, N] -> [E, N, K*W]."""
    e, k, w, n = t_cm.shape
    return t_cm.permute(0, 3, 1, 2).reshape(e, n, k * w)


class IQEPairwiseFunction(torch.autograd.Function):
    """Autograd wrapper: (x [E, B, D], y [E, C, D]) -> component lengths [E, K, B, C]."""

    @staticmethod
    def forward(ctx, x, y, num_components, config):
        xt = _component_major(x.float(), num_components)
        yt = _component_major(y.float(), num_components)
        xs, xo, x_order = _sorted_rows(xt)
        out = iqe_forward(xs, xo, yt, config)
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        if any(need):
            ctx.save_for_backward(xt, yt, xs, xo, x_order)
        ctx.setup = (config, need, x.dtype)
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        xt, yt, xs, xo, x_order = ctx.saved_tensors
        config, need, dtype = ctx.setup
        grad = grad_out.float().contiguous()
        dx = dy = None
        if need[0]:
            d = iqe_backward_side(xs, xo, x_order, yt, grad, config)
            dx = _to_latent(d).to(dtype)
        if need[1]:
            # Mirror image t -> -t: intervals [-y, -x] whose opening means closing in the original.
            neg_ys, neg_yo, y_order = _sorted_rows(-yt)
            grad_t = grad.transpose(2, 3).contiguous()
            d = iqe_backward_side(neg_ys, neg_yo, y_order, (-xt).contiguous(), grad_t, config)
            dy = _to_latent(-d).to(dtype)
        return dx, dy, None, None


def iqe_components_triton(
    x: Tensor, y: Tensor, *, num_components: int, config: IQEKernelConfig | None = None
) -> Tensor:
    """Fused pairwise IQE component lengths: x [E, B, D], y [E, C, D] -> [E, B, C, K].

    Differentiable once; the result is a permuted view of an [E, K, B, C] tensor.
    """
    _check_fused_inputs(x, y, num_components)
    out = IQEPairwiseFunction.apply(x, y, num_components, config or DEFAULT_CONFIG)
    return out.permute(0, 2, 3, 1)
