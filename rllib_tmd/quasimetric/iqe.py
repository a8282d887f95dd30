"""Interval Quasimetric Embedding (IQE) head (Wang & Isola, 2022).

The latent of size D is viewed as K components of W = D / K coordinates. For one component,
coordinate i of the pair (x, y) is the interval [x_i, max(x_i, y_i)]; the component distance is
the total length of the union of those W intervals. Components are combined with a learned
"maxmean": ``alpha * max_k + (1 - alpha) * mean_k``, alpha = sigmoid(raw) in (0, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rllib_tmd.quasimetric import fused
from rllib_tmd.quasimetric._common import (
    check_elementwise_inputs,
    check_pairwise_inputs,
    component_width,
    row_chunk,
    use_fused_kernels,
)

IMPLS = ("auto", "torch", "triton")


@torch.compiler.disable
def _fused_components(x: Tensor, y: Tensor, num_components: int) -> Tensor:
    """The fused Triton kernels, kept out of ``torch.compile`` graphs (the compiled code
    around them is split at this call)."""
    return fused.iqe_components_fused(x, y, num_components=num_components)


def union_length_sorted(starts: Tensor, ends: Tensor) -> Tensor:
    """Length of the union of intervals [starts_i, ends_i] along the last dim.

    ``starts`` must be sorted ascending along the last dim and ``ends >= starts``. Walking the
    intervals in order of their start, the part of interval i not yet covered is
    [max(start_i, reach), end_i], where ``reach`` is the furthest end seen before i.
    Broadcasts starts against ends; returns the shape without the last dim.
    """
    ends = torch.broadcast_to(ends, torch.broadcast_shapes(starts.shape, ends.shape))
    reach = torch.cummax(ends, dim=-1).values
    before = torch.cat([torch.full_like(reach[..., :1], float("-inf")), reach[..., :-1]], -1)
    return torch.relu(ends - torch.maximum(starts, before)).sum(dim=-1)


def cluster_starts(starts: Tensor, others: Tensor) -> Tensor:
    """Bool mask [..., W]: which intervals open a new cluster of the union.

    Interval i is [starts_i, others_i] when ``others_i > starts_i`` and empty (ignored)
    otherwise; ``starts`` is sorted ascending along the last dim, ties in index order (a stable
    sort). Interval i opens a cluster when it is non-empty and starts strictly after the
    furthest end of the non-empty intervals before it (touching intervals share a cluster).
    Broadcasts starts against others.
    """
    valid = others > starts
    ends = torch.where(valid, others, float("-inf"))
    reach = torch.cummax(ends, dim=-1).values
    before = torch.cat([torch.full_like(reach[..., :1], float("-inf")), reach[..., :-1]], -1)
    return valid & (starts > before)


def union_lengths(
    x_sorted: Tensor, y_by_x: Tensor, neg_y_sorted: Tensor, neg_x_by_y: Tensor
) -> Tensor:
    """Union lengths of [x_i, max(x_i, y_i)] with a fixed subgradient: [..., W] -> [...].

    x_sorted: x sorted ascending (stable) and y_by_x: y in that order; neg_y_sorted: -y sorted
    ascending (stable, i.e. y descending, ties in index order) and neg_x_by_y: -x in that order.
    All four broadcast together. The value is :func:`union_length_sorted`. The gradient is the
    one of "sum over clusters of (right end - left end)":

    * d/dx_i = -1 when interval i opens a cluster: it is non-empty (y_i > x_i) and starts after
      every non-empty interval earlier in (x, index) order ends (first index wins ties);
    * d/dy_i = +1 when interval i closes a cluster. Mirrored (t -> -t), a closing interval is an
      opening one: it is non-empty and no non-empty interval earlier in (y descending, index)
      order starts at or before y_i (so the lowest index wins among equal right ends).

    Every other derivative is 0. Exactly one interval opens and one closes each cluster, so the
    gradient is an element of the subdifferential and is the same for any tie pattern; the
    fused Triton kernels compute this same rule.
    """
    with torch.no_grad():
        value = union_length_sorted(x_sorted, torch.maximum(x_sorted, y_by_x))
        opens = cluster_starts(x_sorted, y_by_x)
        closes = cluster_starts(neg_y_sorted, neg_x_by_y)
    surrogate = -torch.where(opens, x_sorted, 0.0).sum(-1) - torch.where(
        closes, neg_y_sorted, 0.0
    ).sum(-1)
    return value + (surrogate - surrogate.detach())


def _sort_components(t: Tensor, num_components: int, sign: float) -> tuple[Tensor, Tensor]:
    """[E, N, D] -> (sign * t sorted ascending, stable; the order), both [E, N, K, W]."""
    tk = t.reshape(*t.shape[:-1], num_components, -1)
    return torch.sort(sign * tk, dim=-1, stable=True)


def iqe_components_elementwise(x: Tensor, y: Tensor, num_components: int) -> Tensor:
    """Per-component union lengths for aligned x, y: [..., D] -> [..., K]."""
    x_sorted, x_order = _sort_components(x, num_components, 1.0)
    neg_y_sorted, y_order = _sort_components(y, num_components, -1.0)
    xk = x.detach().reshape(x_sorted.shape)
    yk = y.detach().reshape(neg_y_sorted.shape)
    y_by_x = torch.gather(yk, -1, x_order)
    neg_x_by_y = torch.gather(-xk, -1, y_order)
    return union_lengths(x_sorted, y_by_x, neg_y_sorted, neg_x_by_y)


def iqe_components_pairwise(
    x: Tensor, y: Tensor, num_components: int, max_chunk_elements: int = 2**25
) -> Tensor:
    """Per-component union lengths for all pairs: x [E, B, D], y [E, C, D] -> [E, B, C, K].

    x and -y are sorted once per row; y is permuted into each x row's order and x into each y
    row's order, one chunk of rows at a time ([E, rows, C, D] at most ``max_chunk_elements``).
    """
    e, b, d = x.shape
    c = y.shape[1]
    x_sorted, x_order = _sort_components(x, num_components, 1.0)  # [E, B, K, W]
    neg_y_sorted, y_order = _sort_components(y, num_components, -1.0)  # [E, C, K, W]
    xk = x.detach().reshape(x_sorted.shape)
    yk = y.detach().reshape(neg_y_sorted.shape)
    rows = row_chunk(b, e * c * d, max_chunk_elements)
    chunks = []
    for r in range(0, b, rows):
        n = min(rows, b - r)
        x_idx = x_order[:, r : r + n, None].expand(-1, -1, c, -1, -1)
        y_by_x = torch.gather(yk[:, None].expand(-1, n, -1, -1, -1), -1, x_idx)
        y_idx = y_order[:, None].expand(-1, n, -1, -1, -1)
        neg_x = (-xk[:, r : r + n, None]).expand(-1, -1, c, -1, -1)
        neg_x_by_y = torch.gather(neg_x, -1, y_idx)
        chunks.append(
            union_lengths(x_sorted[:, r : r + n, None], y_by_x, neg_y_sorted[:, None], neg_x_by_y)
        )
    return torch.cat(chunks, dim=1)


class IQE(nn.Module):
    """Interval Quasimetric Embedding head with a learned maxmean over K components.

    Args:
        latent_dim: D, the latent size.
        num_components: K; D must be divisible by K.
        alpha_init: initial weight of the max over components, in (0, 1).
        impl: "auto" (fused Triton kernels for the pairwise component lengths of CUDA
            float32/bf16 inputs when triton imports, else plain torch), "torch" or "triton"
            (fused, error if unavailable). The maxmean is torch in every case.
        max_chunk_elements: bound on the broadcast tensors of the torch pairwise path.

    Example:
        >>> head = IQE(latent_dim=16, num_components=4)
        >>> x, y = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
        >>> head.pairwise(x, y).shape
        torch.Size([2, 5, 7])
    """

    def __init__(
        self,
        latent_dim: int,
        num_components: int = 8,
        alpha_init: float = 0.5,
        impl: str = "auto",
        max_chunk_elements: int = 2**25,
    ) -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f"unknown impl {impl!r}; allowed: {', '.join(IMPLS)}")
        component_width(latent_dim, num_components)
        if impl == "triton" and not fused.triton_available():
            raise RuntimeError("IQE(impl='triton') needs triton: pip install triton")
        if not 0.0 < alpha_init < 1.0:
            raise ValueError(f"alpha_init must be in (0, 1), got {alpha_init}")
        self.latent_dim = latent_dim
        self.num_components = num_components
        self.impl = impl
        self.max_chunk_elements = max_chunk_elements
        raw = torch.logit(torch.tensor(float(alpha_init), dtype=torch.float32))
        self.raw_alpha = nn.Parameter(raw)

    @property
    def alpha(self) -> Tensor:
        """Weight of the max over components, in (0, 1)."""
        return torch.sigmoid(self.raw_alpha)

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, num_components={self.num_components}, "
            f"impl={self.impl!r}"
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Same as :meth:`elementwise`."""
        return self.elementwise(x, y)

    def elementwise(self, x: Tensor, y: Tensor) -> Tensor:
        """d(x[e, i], y[e, i]) for x, y: [E, B, D] -> [E, B]."""
        check_elementwise_inputs(x, y, self.latent_dim)
        return self._maxmean(iqe_components_elementwise(x, y, self.num_components))

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """d(x[e, i], y[e, j]) for x: [E, B, D], y: [E, C, D] -> [E, B, C]."""
        check_pairwise_inputs(x, y, self.latent_dim)
        if self._use_fused(x, y):
            lengths = _fused_components(x, y, self.num_components)
        else:
            lengths = iqe_components_pairwise(x, y, self.num_components, self.max_chunk_elements)
        return self._maxmean(lengths)

    def _use_fused(self, x: Tensor, y: Tensor) -> bool:
        return use_fused_kernels(self.impl, x, y, fused.triton_available())

    def _maxmean(self, lengths: Tensor) -> Tensor:
        """[..., K] -> [...]: alpha * max_k + (1 - alpha) * mean_k."""
        alpha = self.alpha.to(lengths.dtype)
        return alpha * lengths.max(dim=-1).values + (1 - alpha) * lengths.mean(dim=-1)
