"""Metric Residual Network (MRN) quasimetric head.

The latent of size D is split into K components of W = D / K dims. For variant "max+l2" the
first W/2 dims of a component give the asymmetric part ``max_j relu(x_j - y_j)`` and the other
W/2 dims the symmetric part ``sqrt(sum_j (x_j - y_j)^2 + eps)``; the component distance is their
sum and ``d`` is the mean over components. Variant "max" uses all W dims for the max part.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rllib_tmd.quasimetric import fused
from rllib_tmd.quasimetric._common import (
    center_pair,
    check_elementwise_inputs,
    check_pairwise_inputs,
    component_width,
    row_chunk,
    use_fused_kernels,
)

VARIANTS = ("max+l2", "max")
IMPLS = ("auto", "torch", "triton")


def split_widths(latent_dim: int, num_components: int, variant: str) -> tuple[int, int]:
    """(max_dim, l2_dim): dims per component used by the max part and by the l2 part."""
    width = component_width(latent_dim, num_components)
    if variant == "max":
        return width, 0
    if variant != "max+l2":
        raise ValueError(f"unknown MRN variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    if width % 2 != 0:
        raise ValueError(
            f"MRN variant 'max+l2' needs an even component width, got D/K = "
            f"{latent_dim}/{num_components} = {width}"
        )
    return width // 2, width // 2


@torch.compiler.disable
def _fused_pairwise(x: Tensor, y: Tensor, num_components: int, max_dim: int, eps: float) -> Tensor:
    """The fused Triton kernels, kept out of ``torch.compile`` graphs (they run as they are;
    the compiled code around them is split at this call)."""
    return fused.mrn_pairwise_fused(x, y, num_components=num_components, max_dim=max_dim, eps=eps)


def mrn_elementwise(
    x: Tensor, y: Tensor, num_components: int, max_dim: int, eps: float = 1e-6
) -> Tensor:
    """d(x[..., i, :], y[..., i, :]) for x, y: [..., D]; returns [...]."""
    diff = x - y
    diff = diff.reshape(*diff.shape[:-1], num_components, -1)
    total = torch.relu(diff[..., :max_dim].max(dim=-1).values)
    if diff.shape[-1] > max_dim:
        total = total + torch.sqrt(diff[..., max_dim:].square().sum(dim=-1) + eps)
    return total.mean(dim=-1)


def mrn_pairwise_reference(
    x: Tensor,
    y: Tensor,
    num_components: int,
    max_dim: int,
    eps: float = 1e-6,
    max_chunk_elements: int = 2**26,
) -> Tensor:
    """Plain-torch pairwise MRN: x [E, B, D], y [E, C, D] -> [E, B, C].

    The max part broadcasts one chunk of rows at a time ([E, rows, C, K, max_dim] at most
    ``max_chunk_elements``); the l2 part uses the per-component GEMM identity and never
    builds a difference tensor.
    """
    x, y = center_pair(x, y)
    e, b, d = x.shape
    c = y.shape[1]
    xk = x.reshape(e, b, num_components, -1)
    yk = y.reshape(e, c, num_components, -1)
    has_l2 = xk.shape[-1] > max_dim
    y_l2_t = _l2_operand_t(yk[..., max_dim:]) if has_l2 else None
    y_l2_sq = yk[..., max_dim:].square().sum(-1).permute(0, 2, 1) if has_l2 else None
    rows = row_chunk(b, e * c * num_components * max_dim, max_chunk_elements)
    chunks = []
    for start in range(0, b, rows):
        xc = xk[:, start : start + rows]
        part = _pairwise_max_part(xc[..., :max_dim], yk[..., :max_dim])
        if has_l2:
            part = part + _pairwise_l2_part(xc[..., max_dim:], y_l2_t, y_l2_sq, eps)
        chunks.append(part)
    return torch.cat(chunks, dim=1) / num_components


def _pairwise_max_part(xm: Tensor, ym: Tensor) -> Tensor:
    """sum_k relu(max_h (x - y)): xm [E, b, K, H], ym [E, C, K, H] -> [E, b, C].

    torch.max(dim) routes the gradient to the first maximal index, like the fused kernel.
    """
    diff = xm[:, :, None] - ym[:, None]
    return torch.relu(diff.max(dim=-1).values).sum(dim=-1)


def _l2_operand_t(yl: Tensor) -> Tensor:
    """[E, C, K, H] -> [E*K, H, C], the right operand of the per-component GEMM."""
    e, c, k, h = yl.shape
    return yl.permute(0, 2, 3, 1).reshape(e * k, h, c)


def _pairwise_l2_part(xl: Tensor, y_l2_t: Tensor, y_l2_sq: Tensor, eps: float) -> Tensor:
    """sum_k sqrt(||x_k - y_k||^2 + eps) via ||x||^2 + ||y||^2 - 2 x.y: -> [E, b, C].

    xl: [E, b, K, H]; y_l2_t: [E*K, H, C]; y_l2_sq: [E, K, C].
    """
    e, b, k, h = xl.shape
    c = y_l2_t.shape[-1]
    x_sq = xl.square().sum(-1).permute(0, 2, 1)  # [E, K, b]
    norms = (x_sq[..., :, None] + y_l2_sq[..., None, :]).reshape(e * k, b, c)
    x_op = xl.permute(0, 2, 1, 3).reshape(e * k, b, h)
    sq = torch.baddbmm(norms, x_op, y_l2_t, alpha=-2.0)
    dist = torch.sqrt(sq.clamp_min(0.0) + eps)
    return dist.reshape(e, k, b, c).sum(dim=1)


class MRN(nn.Module):
    """Metric Residual Network quasimetric d(x, y) on latents of size ``latent_dim``.

    Args:
        latent_dim: D, the latent size.
        num_components: K; D must be divisible by K.
        variant: "max+l2" (half max part, half l2 part per component) or "max".
        eps: added under the square root of the l2 part.
        impl: "auto" (fused Triton kernels for CUDA float32/bf16 inputs when triton imports,
            else plain torch), "torch" or "triton" (fused, error if unavailable).
        max_chunk_elements: bound on the broadcast tensor of the torch pairwise max part.

    Example:
        >>> head = MRN(latent_dim=16, num_components=4)
        >>> x, y = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
        >>> head.pairwise(x, y).shape
        torch.Size([2, 5, 7])
    """

    def __init__(
        self,
        latent_dim: int,
        num_components: int = 8,
        variant: str = "max+l2",
        eps: float = 1e-6,
        impl: str = "auto",
        max_chunk_elements: int = 2**26,
    ) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"unknown impl {impl!r}; allowed: {', '.join(IMPLS)}")
        self.max_dim, self.l2_dim = split_widths(latent_dim, num_components, variant)
        if impl == "triton" and not fused.triton_available():
            raise RuntimeError("MRN(impl='triton') needs triton: pip install triton")
        self.latent_dim = latent_dim
        self.num_components = num_components
        self.variant = variant
        self.eps = eps
        self.impl = impl
        self.max_chunk_elements = max_chunk_elements

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, num_components={self.num_components}, "
            f"variant={self.variant!r}, eps={self.eps}, impl={self.impl!r}"
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Same as :meth:`elementwise`."""
        return self.elementwise(x, y)

    def elementwise(self, x: Tensor, y: Tensor) -> Tensor:
        """d(x[e, i], y[e, i]) for x, y: [E, B, D] -> [E, B]."""
        check_elementwise_inputs(x, y, self.latent_dim)
        return mrn_elementwise(x, y, self.num_components, self.max_dim, self.eps)

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """d(x[e, i], y[e, j]) for x: [E, B, D], y: [E, C, D] -> [E, B, C]."""
        check_pairwise_inputs(x, y, self.latent_dim)
        if self._use_fused(x, y):
            return _fused_pairwise(x, y, self.num_components, self.max_dim, self.eps)
        return mrn_pairwise_reference(
            x, y, self.num_components, self.max_dim, self.eps, self.max_chunk_elements
        )

    def _use_fused(self, x: Tensor, y: Tensor) -> bool:
        return use_fused_kernels(self.impl, x, y, fused.triton_available())
