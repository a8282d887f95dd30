"""Shape checks and small helpers shared by the quasimetric heads."""

from __future__ import annotations

import torch
from torch import Tensor


def component_width(latent_dim: int, num_components: int) -> int:
    """Width W = D / K of one component; raises ValueError when K does not divide D."""
    if latent_dim <= 0 or num_components <= 0:
        raise ValueError(
            f"latent_dim and num_components must be positive, got {latent_dim} and {num_components}"
        )
    if latent_dim % num_components != 0:
        raise ValueError(
            f"latent_dim={latent_dim} is not divisible by num_components={num_components}"
        )
    return latent_dim // num_components


def check_pairwise_inputs(x: Tensor, y: Tensor, latent_dim: int) -> None:
    """Validate x: [E, B, D] and y: [E, C, D] for a pairwise distance."""
    _check_3d(x, "x", latent_dim)
    _check_3d(y, "y", latent_dim)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same ensemble size E, got x {tuple(x.shape)} and "
            f"y {tuple(y.shape)}"
        )


def check_elementwise_inputs(x: Tensor, y: Tensor, latent_dim: int) -> None:
    """Validate x, y: [E, B, D] (same shape) for an elementwise distance."""
    check_pairwise_inputs(x, y, latent_dim)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"elementwise distance needs x and y of the same batch size, got x "
            f"{tuple(x.shape)} and y {tuple(y.shape)}"
        )


def _check_3d(t: Tensor, name: str, latent_dim: int) -> None:
    if t.dim() != 3:
        raise ValueError(f"{name} must have shape [E, N, D], got {tuple(t.shape)}")
    if t.shape[-1] != latent_dim:
        raise ValueError(
            f"{name} has latent size {t.shape[-1]} but the head was built for "
            f"latent_dim={latent_dim}"
        )


def center_pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Shift x: [E, B, D] and y: [E, C, D] by one shared (detached) offset per member.

    Both heads only see differences x - y, so the shift changes no value and no gradient,
    but it keeps the GEMM identity ||x-y||^2 = ||x||^2 + ||y||^2 - 2 x.y accurate for
    latents that sit far from the origin.
    """
    with torch.no_grad():
        offset = 0.5 * (x.mean(dim=1, keepdim=True) + y.mean(dim=1, keepdim=True))
    return x - offset, y - offset


def row_chunk(rows: int, elements_per_row: int, max_elements: int) -> int:
    """Number of rows per chunk so that one chunk holds at most ~max_elements elements."""
    return max(1, min(rows, max_elements // max(1, elements_per_row)))


#: dtypes the heads send to the fused kernels when ``impl="auto"``
FUSED_DTYPES = (torch.float32, torch.bfloat16)


def use_fused_kernels(impl: str, x: Tensor, y: Tensor, triton_ok: bool) -> bool:
    """A head's choice of path: ``"torch"`` never, ``"triton"`` always, ``"auto"`` for CUDA
    inputs of one supported dtype (``FUSED_DTYPES``) when triton imports (``triton_ok``)."""
    if impl in ("torch", "triton"):
        return impl == "triton"
    return x.is_cuda and y.is_cuda and x.dtype in FUSED_DTYPES and y.dtype == x.dtype and triton_ok
