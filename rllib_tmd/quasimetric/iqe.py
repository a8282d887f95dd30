"""Interval Quasimetric Embedding (IQE) head (Wang & Isola, 2022).

The latent of size D is viewed as K components of W = D / K coordinates. For one component,
coordinate i of the pair (x, y) is the interval [x_i, max(x_i, y_i)]; the component distance is
the total length of the union of those W intervals. Components are combined with a learned
"maxmean": ``alpha * max_k + (1 - alpha) * mean_k``, alpha = sigmoid(raw) in (0, 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rllib_tmd.quasimetric._common import (
    check_elementwise_inputs,
    check_pairwise_inputs,
    component_width,
    row_chunk,
)


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


def iqe_components_elementwise(x: Tensor, y: Tensor, num_components: int) -> Tensor:
    """Per-component union lengths for aligned x, y: [..., D] -> [..., K]."""
    xk = x.reshape(*x.shape[:-1], num_components, -1)
    yk = y.reshape(*y.shape[:-1], num_components, -1)
    starts, order = torch.sort(xk, dim=-1)
    ends = torch.maximum(starts, torch.gather(yk, -1, order))
    return union_length_sorted(starts, ends)


def iqe_components_pairwise(
    x: Tensor, y: Tensor, num_components: int, max_chunk_elements: int = 2**25
) -> Tensor:
    """Per-component union lengths for all pairs: x [E, B, D], y [E, C, D] -> [E, B, C, K].

    x is sorted once per row; y is permuted into each row's order, one chunk of rows at a
    time ([E, rows, C, D] at most ``max_chunk_elements``).
    """
    e, b, d = x.shape
    c = y.shape[1]
    starts, order = torch.sort(x.reshape(e, b, num_components, -1), dim=-1)
    yk = y.reshape(e, 1, c, num_components, -1)
    rows = row_chunk(b, e * c * d, max_chunk_elements)
    chunks = []
    for r in range(0, b, rows):
        s = starts[:, r : r + rows, None]  # [E, rows, 1, K, W]
        idx = order[:, r : r + rows, None].expand(-1, -1, c, -1, -1)
        y_in_order = torch.gather(yk.expand(-1, idx.shape[1], -1, -1, -1), -1, idx)
        chunks.append(union_length_sorted(s, torch.maximum(s, y_in_order)))
    return torch.cat(chunks, dim=1)


class IQE(nn.Module):
    """Interval Quasimetric Embedding head with a learned maxmean over K components.

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
        max_chunk_elements: int = 2**25,
    ) -> None:
        super().__init__()
        component_width(latent_dim, num_components)
        if not 0.0 < alpha_init < 1.0:
            raise ValueError(f"alpha_init must be in (0, 1), got {alpha_init}")
        self.latent_dim = latent_dim
        self.num_components = num_components
        self.max_chunk_elements = max_chunk_elements
        raw = torch.logit(torch.tensor(float(alpha_init), dtype=torch.float32))
        self.raw_alpha = nn.Parameter(raw)

    @property
    def alpha(self) -> Tensor:
        """Weight of the max over components, in (0, 1)."""
        return torch.sigmoid(self.raw_alpha)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, num_components={self.num_components}"

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
        lengths = iqe_components_pairwise(x, y, self.num_components, self.max_chunk_elements)
        return self._maxmean(lengths)

    def _maxmean(self, lengths: Tensor) -> Tensor:
        """[..., K] -> [...]: alpha * max_k + (1 - alpha) * mean_k."""
        alpha = self.alpha.to(lengths.dtype)
        return alpha * lengths.max(dim=-1).values + (1 - alpha) * lengths.mean(dim=-1)
