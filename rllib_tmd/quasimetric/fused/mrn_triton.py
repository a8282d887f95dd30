"""Triton kernels for the pairwise MRN distance, forward and backward.

Layout: the wrapper centres x and y (see ``center_pair``) and stores them component-major,
``xt[e, k, w, b] = x[e, b, k*W + w]``, so that one latent dim of a block of rows is one
contiguous load. No kernel ever holds more than one tile of pairs:

* forward, one program per (row tile, column tile, member, group of components): for each
  component, a running max over the max-part dims of the outer difference x[:, h] - y[:, h],
  and the l2 part from ||x||^2 + ||y||^2 - 2 x.y with ``tl.dot``. It writes the (partial) mean
  over components and, when a gradient is needed, the argmax of every (member, component, row,
  column) as uint8 (first maximal index wins; ``NO_ARGMAX`` where relu is inactive), once in
  [B, C] order and once in [C, B] order.
* backward: one kernel, run once for dy and once for dx (with the pair matrices transposed).
  It computes the gradient of the "own" side (columns of a tile) and reduces over the "other"
  side (rows of a tile): the max part scatters the upstream gradient onto the stored argmax
  with a compare-and-add per max dim; the l2 part is two small GEMMs. When the
  own side has too few tiles to fill the GPU, the other side is split into ranges whose
  partial sums torch adds up afterwards. No atomics: gradients are bit-for-bit reproducible.
"""

from __future__ import annotations

import dataclasses

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from rllib_tmd.quasimetric._common import center_pair, check_pairwise_inputs, component_width
from rllib_tmd.quasimetric.fused import check_dtype_and_device, sm_count

NO_ARGMAX = 255
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclasses.dataclass(frozen=True)
class MRNKernelConfig:
    """Tile sizes and launch options of the MRN kernels (block sizes: powers of two >= 16).

    Defaults: the fastest forward + backward (GPU kernel time) of
    ``benchmarks/mrn_kernel_sweep.py`` at E = 2, B = 512, D = 512, K = 8 on an H100.

    ``k_split`` (forward: programs per member that share the K components) and ``bwd_split``
    (backward: ranges of the reduced side) default to a choice that gives at least
    ``min_programs`` programs; set them to force a value (tests do). ``bwd_sub_rows``: 0 sums
    the max part's gradient one max dim at a time (a masked column sum each); n > 0 (a power
    of two dividing ``bwd_block_other``) adds a one-hot [n, max dims, cols] block n rows at a
    time instead, with no cross-row reduction per max dim.
    """

    block_b: int = 128
    block_c: int = 64
    num_warps: int = 4
    bwd_block_other: int = 32
    bwd_block_own: int = 64
    bwd_num_warps: int = 4
    bwd_sub_rows: int = 8
    dot_precision: str = "tf32x3"
    min_programs: int = 1024
    k_split: int | None = None
    bwd_split: int | None = None


DEFAULT_CONFIG = MRNKernelConfig()


@triton.jit
def _mrn_fwd_kernel(
    xt_ptr,
    yt_ptr,
    out_ptr,
    arg_ptr,
    arg_t_ptr,
    B,
    C,
    eps: tl.constexpr,
    K: tl.constexpr,
    K_SPLIT: tl.constexpr,
    W: tl.constexpr,
    HM: tl.constexpr,
    HL: tl.constexpr,
    HL_PAD: tl.constexpr,
    SAVE_ARGMAX: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """out[s, e, rows, cols] = sum over components of group s of (max part + l2 part) / K."""
    e = tl.program_id(2) // K_SPLIT
    split = tl.program_id(2) % K_SPLIT
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    row_ok = rows < B
    col_ok = cols < C
    tile_ok = row_ok[:, None] & col_ok[None, :]
    pair_offsets = rows[:, None] * C + cols[None, :]
    pair_offsets_t = cols[None, :] * B + rows[:, None]
    total = tl.zeros((BLOCK_B, BLOCK_C), dtype=tl.float32)
    for kk in range(K // K_SPLIT):
        ek = (e * K + split * (K // K_SPLIT) + kk).to(tl.int64)
        x_k = xt_ptr + ek * W * B
        y_k = yt_ptr + ek * W * C
        best = tl.full((BLOCK_B, BLOCK_C), float("-inf"), dtype=tl.float32)
        best_at = tl.zeros((BLOCK_B, BLOCK_C), dtype=tl.int32)
        for h in range(HM):
            x_h = tl.load(x_k + h * B + rows, mask=row_ok, other=0.0).to(tl.float32)
            y_h = tl.load(y_k + h * C + cols, mask=col_ok, other=0.0).to(tl.float32)
            diff = x_h[:, None] - y_h[None, :]
            if SAVE_ARGMAX:
                better = diff > best  # strict: the first maximal index wins
                best_at = tl.where(better, h, best_at)
                best = tl.where(better, diff, best)
            else:
                best = tl.maximum(best, diff)
        total += tl.maximum(best, 0.0)
        if SAVE_ARGMAX:
            arg = tl.where(best > 0.0, best_at, 255).to(tl.uint8)
            tl.store(arg_ptr + ek * B * C + pair_offsets, arg, mask=tile_ok)
            tl.store(arg_t_ptr + ek * B * C + pair_offsets_t, arg, mask=tile_ok)
        if HL > 0:
            j = tl.arange(0, HL_PAD)
            j_ok = j < HL
            x_l2 = tl.load(
                x_k + (HM + j)[None, :] * B + rows[:, None],
                mask=row_ok[:, None] & j_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            y_l2_t = tl.load(
                y_k + (HM + j)[:, None] * C + cols[None, :],
                mask=j_ok[:, None] & col_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            sq = (
                tl.sum(x_l2 * x_l2, axis=1)[:, None]
                + tl.sum(y_l2_t * y_l2_t, axis=0)[None, :]
                - 2.0 * tl.dot(x_l2, y_l2_t, input_precision=DOT_PRECISION)
            )
            total += tl.sqrt(tl.maximum(sq, 0.0) + eps)
    out = total * (1.0 / K)
    out_at = out_ptr + (split * tl.num_programs(2) // K_SPLIT + e).to(tl.int64) * B * C
    tl.store(out_at + pair_offsets, out.to(out_ptr.dtype.element_ty), mask=tile_ok)


@triton.jit
def _mrn_bwd_kernel(
    own_t_ptr,
    other_t_ptr,
    grad_ptr,
    arg_ptr,
    d_own_ptr,
    N_OTHER,
    N_OWN,
    tiles_per_split,
    eps: tl.constexpr,
    SIGN: tl.constexpr,
    K: tl.constexpr,
    W: tl.constexpr,
    HM: tl.constexpr,
    HM_PAD: tl.constexpr,
    HL: tl.constexpr,
    HL_PAD: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
    BLOCK_OTHER: tl.constexpr,
    BLOCK_OWN: tl.constexpr,
    SUB_ROWS: tl.constexpr,
):
    """d_own[s, e, cols, component k] = sum over one range s of "other" rows of pair gradients.

    grad: [E, N_OTHER, N_OWN]; arg: [E, K, N_OTHER, N_OWN]; d_own: [splits, E, N_OWN, K*W].
    ``SIGN`` is the derivative of x - y with respect to the own side (+1 for x, -1 for y).
    """
    e = tl.program_id(2).to(tl.int64)
    k = tl.program_id(1) % K
    split = tl.program_id(1) // K
    cols = tl.program_id(0) * BLOCK_OWN + tl.arange(0, BLOCK_OWN)
    col_ok = cols < N_OWN
    ek = e * K + k
    own_k = own_t_ptr + ek * W * N_OWN
    other_k = other_t_ptr + ek * W * N_OTHER
    grad_e = grad_ptr + e * N_OTHER * N_OWN
    arg_ek = arg_ptr + ek * N_OTHER * N_OWN
    hm = tl.arange(0, HM_PAD)
    j = tl.arange(0, HL_PAD)
    j_ok = j < HL
    d_max_t = tl.zeros((HM_PAD, BLOCK_OWN), dtype=tl.float32)
    d_dot_t = tl.zeros((HL_PAD, BLOCK_OWN), dtype=tl.float32)
    w_colsum = tl.zeros((BLOCK_OWN,), dtype=tl.float32)
    if HL > 0:
        own_l2_t = tl.load(
            own_k + (HM + j)[:, None] * N_OWN + cols[None, :],
            mask=j_ok[:, None] & col_ok[None, :],
            other=0.0,
        ).to(tl.float32)
        own_sq = tl.sum(own_l2_t * own_l2_t, axis=0)
    first_row = split * tiles_per_split * BLOCK_OTHER
    for t in range(tiles_per_split):
        rows = first_row + t * BLOCK_OTHER + tl.arange(0, BLOCK_OTHER)
        row_ok = rows < N_OTHER
        tile_ok = row_ok[:, None] & col_ok[None, :]
        pair_offsets = rows[:, None] * N_OWN + cols[None, :]
        g = tl.load(grad_e + pair_offsets, mask=tile_ok, other=0.0).to(tl.float32) * (1.0 / K)
        if SUB_ROWS == 0:  # one masked column sum per max dim
            arg = tl.load(arg_ek + pair_offsets, mask=tile_ok, other=255)
            for h in range(HM):
                g_h = tl.sum(tl.where(arg == h, g, 0.0), axis=0)
                d_max_t += tl.where(hm[:, None] == h, g_h[None, :], 0.0)
        else:  # SUB_ROWS rows at a time: one-hot [rows, max dims, cols] summed over rows
            for r0 in range(0, BLOCK_OTHER, SUB_ROWS):
                sub = first_row + t * BLOCK_OTHER + r0 + tl.arange(0, SUB_ROWS)
                sub_ok = (sub < N_OTHER)[:, None] & col_ok[None, :]
                sub_offsets = sub[:, None] * N_OWN + cols[None, :]
                g_s = tl.load(grad_e + sub_offsets, mask=sub_ok, other=0.0).to(tl.float32)
                a_s = tl.load(arg_ek + sub_offsets, mask=sub_ok, other=255).to(tl.int32)
                hit = a_s[:, None, :] == hm[None, :, None]
                d_max_t += tl.sum(tl.where(hit, g_s[:, None, :], 0.0), axis=0) * (1.0 / K)
        if HL > 0:
            other_l2 = tl.load(
                other_k + (HM + j)[None, :] * N_OTHER + rows[:, None],
                mask=row_ok[:, None] & j_ok[None, :],
                other=0.0,
            ).to(tl.float32)
            sq = (
                tl.sum(other_l2 * other_l2, axis=1)[:, None]
                + own_sq[None, :]
                - 2.0 * tl.dot(other_l2, own_l2_t, input_precision=DOT_PRECISION)
            )
            w = tl.where(sq >= 0.0, g / tl.sqrt(tl.maximum(sq, 0.0) + eps), 0.0)
            w_colsum += tl.sum(w, axis=0)
            d_dot_t += tl.dot(tl.trans(other_l2), w, input_precision=DOT_PRECISION)
    d_own_at = d_own_ptr + (split * tl.num_programs(2) + e) * N_OWN * (K * W)
    d_col = d_own_at + cols[None, :] * (K * W) + k * W
    tl.store(
        d_col + hm[:, None],
        (SIGN * d_max_t).to(d_own_ptr.dtype.element_ty),
        mask=(hm < HM)[:, None] & col_ok[None, :],
    )
    if HL > 0:
        d_l2_t = own_l2_t * w_colsum[None, :] - d_dot_t
        tl.store(
            d_col + HM + j[:, None],
            d_l2_t.to(d_own_ptr.dtype.element_ty),
            mask=j_ok[:, None] & col_ok[None, :],
        )


def _pad(n: int) -> int:
    """Power of two >= max(n, 16) (tl.arange and tl.dot need it)."""
    return max(16, triton.next_power_of_2(max(n, 1)))


def _component_major(t: Tensor, num_components: int) -> Tensor:
    """[E, N, D] -> contiguous [E, K, W, N]."""
    e, n, _ = t.shape
    return t.reshape(e, n, num_components, -1).permute(0, 2, 3, 1).contiguous()


def _fill_target(device: torch.device, config: MRNKernelConfig) -> int:
    """Programs wanted per launch to fill the device (1 under the interpreter)."""
    if device.type != "cuda":
        return 1
    return max(config.min_programs, 4 * sm_count(device.index or 0))


def _forward_k_split(tiles: int, num_components: int, want: int, config: MRNKernelConfig) -> int:
    """Largest useful divisor of K so that tiles * split reaches ``want`` programs."""
    if config.k_split is not None:
        if num_components % config.k_split:
            raise ValueError(f"k_split={config.k_split} must divide K={num_components}")
        return config.k_split
    split = 1
    while tiles * split < want and split < num_components and num_components % (2 * split) == 0:
        split *= 2
    return split


def _backward_split(programs: int, other_tiles: int, want: int, config: MRNKernelConfig) -> int:
    """Number of ranges the reduced side is cut into (>= 1)."""
    if config.bwd_split is not None:
        return max(1, min(config.bwd_split, other_tiles))
    return max(1, min(other_tiles // 4, triton.cdiv(want, programs)))


def _check_fused_inputs(x: Tensor, y: Tensor, num_components: int, max_dim: int) -> int:
    """Validate inputs of the fused path; returns the component width W."""
    check_pairwise_inputs(x, y, x.shape[-1] if x.dim() == 3 else -1)
    width = component_width(x.shape[-1], num_components)
    if max_dim != width and 2 * max_dim != width:
        odd = " (odd component width)" if width % 2 else ""
        raise ValueError(
            f"fused MRN supports max_dim == W (variant 'max') or max_dim == W/2 with an even "
            f"W (variant 'max+l2'); got W = {width}{odd}, max_dim = {max_dim}"
        )
    if max_dim > NO_ARGMAX:
        raise ValueError(f"fused MRN supports at most {NO_ARGMAX} max dims, got {max_dim}")
    check_dtype_and_device(x, y, SUPPORTED_DTYPES, "MRN")
    return width


def mrn_forward(
    xt: Tensor, yt: Tensor, eps: float, max_dim: int, save_argmax: bool, config: MRNKernelConfig
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Launch: xt [E, K, W, B], yt [E, K, W, C] -> (out [E, B, C], arg, arg_t).

    arg: uint8 [E, K, B, C] and arg_t: uint8 [E, K, C, B] when ``save_argmax``, else None.
    """
    e, k, w, b = xt.shape
    c = yt.shape[-1]
    tiles = triton.cdiv(b, config.block_b) * triton.cdiv(c, config.block_c) * e
    k_split = _forward_k_split(tiles, k, _fill_target(xt.device, config), config)
    out_dtype = xt.dtype if k_split == 1 else torch.float32
    out = torch.empty((k_split, e, b, c), device=xt.device, dtype=out_dtype)
    arg = arg_t = None
    if save_argmax:
        arg = torch.empty((e, k, b, c), device=xt.device, dtype=torch.uint8)
        arg_t = torch.empty((e, k, c, b), device=xt.device, dtype=torch.uint8)
    grid = (triton.cdiv(b, config.block_b), triton.cdiv(c, config.block_c), e * k_split)
    _mrn_fwd_kernel[grid](
        xt, yt, out, arg if save_argmax else out, arg_t if save_argmax else out, b, c, eps,
        K=k, K_SPLIT=k_split, W=w, HM=max_dim, HL=w - max_dim, HL_PAD=_pad(w - max_dim),
        SAVE_ARGMAX=save_argmax, DOT_PRECISION=config.dot_precision,
        BLOCK_B=config.block_b, BLOCK_C=config.block_c, num_warps=config.num_warps,
    )  # fmt: skip
    if k_split == 1:
        return out[0], arg, arg_t
    return out.sum(dim=0).to(xt.dtype), arg, arg_t


def mrn_backward_side(
    own_t: Tensor,
    other_t: Tensor,
    grad: Tensor,
    arg: Tensor,
    eps: float,
    max_dim: int,
    sign: float,
    config: MRNKernelConfig,
) -> Tensor:
    """Gradient for one side: own_t [E, K, W, N], grad [E, M, N], arg [E, K, M, N] -> [E, N, D].

    ``other_t`` is [E, K, W, M]; ``sign`` is +1 for x and -1 for y.
    """
    e, k, w, n = own_t.shape
    m = other_t.shape[-1]
    sub = config.bwd_sub_rows
    if sub and (sub & (sub - 1) or config.bwd_block_other % sub):
        raise ValueError(
            f"bwd_sub_rows={sub} must be 0 or a power of two dividing "
            f"bwd_block_other={config.bwd_block_other}"
        )
    own_tiles = triton.cdiv(n, config.bwd_block_own)
    other_tiles = triton.cdiv(m, config.bwd_block_other)
    want = _fill_target(own_t.device, config)
    split = _backward_split(own_tiles * k * e, other_tiles, want, config)
    tiles_per_split = triton.cdiv(other_tiles, split)
    split = triton.cdiv(other_tiles, tiles_per_split)
    part_dtype = own_t.dtype if split == 1 else torch.float32
    d_own = torch.empty((split, e, n, k * w), device=own_t.device, dtype=part_dtype)
    grid = (own_tiles, k * split, e)
    _mrn_bwd_kernel[grid](
        own_t, other_t, grad, arg, d_own, m, n, tiles_per_split, eps,
        SIGN=sign, K=k, W=w, HM=max_dim, HM_PAD=_pad(max_dim), HL=w - max_dim,
        HL_PAD=_pad(w - max_dim), DOT_PRECISION=config.dot_precision,
        BLOCK_OTHER=config.bwd_block_other, BLOCK_OWN=config.bwd_block_own,
        SUB_ROWS=config.bwd_sub_rows, num_warps=config.bwd_num_warps,
    )  # fmt: skip
    if split == 1:
        return d_own[0]
    return d_own.sum(dim=0).to(own_t.dtype)


class MRNPairwiseFunction(torch.autograd.Function):
    """Autograd wrapper: (x [E, B, D], y [E, C, D]) -> [E, B, C]."""

    @staticmethod
    def forward(ctx, x, y, num_components, max_dim, eps, config):
        # Centre in float32 so that bf16/fp16 inputs lose nothing before the kernels.
        xc, yc = center_pair(x.float(), y.float())
        xt = _component_major(xc, num_components)
        yt = _component_major(yc, num_components)
        need = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        out, arg, arg_t = mrn_forward(xt, yt, eps, max_dim, any(need), config)
        if any(need):
            ctx.save_for_backward(xt, yt, arg, arg_t)
        ctx.setup = (max_dim, eps, config, need, x.dtype)
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        xt, yt, arg, arg_t = ctx.saved_tensors
        max_dim, eps, config, need, dtype = ctx.setup
        dx = dy = None
        if need[0]:
            grad_t = grad_out.transpose(1, 2).contiguous()
            dx = mrn_backward_side(xt, yt, grad_t, arg_t, eps, max_dim, 1.0, config).to(dtype)
        if need[1]:
            grad = grad_out.contiguous()
            dy = mrn_backward_side(yt, xt, grad, arg, eps, max_dim, -1.0, config).to(dtype)
        return dx, dy, None, None, None, None


def mrn_pairwise_triton(
    x: Tensor,
    y: Tensor,
    *,
    num_components: int,
    max_dim: int,
    eps: float = 1e-6,
    config: MRNKernelConfig | None = None,
) -> Tensor:
    """Fused pairwise MRN: x [E, B, D], y [E, C, D] -> [E, B, C], differentiable once."""
    _check_fused_inputs(x, y, num_components, max_dim)
    return MRNPairwiseFunction.apply(x, y, num_components, max_dim, eps, config or DEFAULT_CONFIG)
