"""Torch building blocks for TMD: plain and ensembled MLPs.

An ensemble of ``E`` MLPs is stored as batched weights (``[E, in, out]``) so that all
members run in one batched matmul per layer instead of ``E`` separate launches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _xavier_uniform_(weight: torch.Tensor, fan_in: int, fan_out: int) -> None:
    """Glorot-uniform init (variance scaling 1.0, fan_avg), as the authors' flax MLPs."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


class EnsembleLinear(nn.Module):
    """``E`` independent affine maps: ``[E, B, in] -> [E, B, out]``."""

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_dim))
        for member in self.weight:
            _xavier_uniform_(member, in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """LayerNorm over the last dim with separate affine parameters per member."""

    def __init__(self, ensemble_size: int, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ensemble_size, 1, dim))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return normed * self.weight + self.bias


def run_layers(net: nn.Sequential, x: torch.Tensor, bf16_hidden: bool) -> torch.Tensor:
    """``net`` on ``x``: its hidden layers under bf16 autocast if ``bf16_hidden``, its last
    (output) layer always in float32, so the output keeps float32 precision."""
    *hidden, output = net
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16_hidden):
        for layer in hidden:
            x = layer(x)
    return output(x.float())


class EnsembleMLP(nn.Module):
    """``E`` MLPs run side by side.

    Hidden layers are Linear -> GELU (tanh approximation, flax's default, as the authors'
    networks) -> LayerNorm (optional); the output layer is linear.
    Input ``[B, in]`` (shared by all members) or ``[E, B, in]``; output ``[E, B, out]``
    (float32; ``bf16_hidden`` runs the hidden layers under bf16 autocast).
    """

    def __init__(
        self,
        ensemble_size: int,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        layer_norm: bool = True,
        bf16_hidden: bool = False,
    ) -> None:
        super().__init__()
        self.ensemble_size, self.bf16_hidden = ensemble_size, bf16_hidden
        layers: list[nn.Module] = []
        dims = [in_dim, *hidden_dims]
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            layers.append(EnsembleLinear(ensemble_size, fan_in, fan_out))
            layers.append(nn.GELU(approximate="tanh"))
            if layer_norm:
                layers.append(EnsembleLayerNorm(ensemble_size, fan_out))
        layers.append(EnsembleLinear(ensemble_size, dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.ensemble_size, *x.shape)
        return run_layers(self.net, x, self.bf16_hidden)


class MLP(nn.Module):
    """A single MLP ``[B, in] -> [B, out]`` with the same layer recipe as EnsembleMLP."""

    def __init__(
        self,
        in_dim: int,
        hidden_dims: Sequence[int],
        out_dim: int,
        layer_norm: bool = False,
        final_init_scale: float = 1.0,
        bf16_hidden: bool = False,
    ) -> None:
        super().__init__()
        self.bf16_hidden = bf16_hidden
        layers: list[nn.Module] = []
        dims = [in_dim, *hidden_dims]
        for fan_in, fan_out in zip(dims[:-1], dims[1:]):
            layers.append(self._linear(fan_in, fan_out, 1.0))
            layers.append(nn.GELU(approximate="tanh"))
            if layer_norm:
                layers.append(nn.LayerNorm(fan_out, eps=1e-6))
        layers.append(self._linear(dims[-1], out_dim, final_init_scale))
        self.net = nn.Sequential(*layers)

    @staticmethod
    def _linear(fan_in: int, fan_out: int, scale: float) -> nn.Linear:
        """Glorot-uniform with its variance times ``scale`` (flax's ``variance_scaling``:
        the bound grows with ``sqrt(scale)``), zero bias."""
        layer = nn.Linear(fan_in, fan_out)
        _xavier_uniform_(layer.weight, fan_in, fan_out)
        with torch.no_grad():
            layer.weight.mul_(math.sqrt(scale))
            layer.bias.zero_()
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_layers(self.net, x, self.bf16_hidden)
