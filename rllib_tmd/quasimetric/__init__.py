"""Quasimetric heads d(x, y) on latents: MRN (default) and IQE.

Both take latents shaped [E, N, D] (E ensemble members) and offer ``pairwise(x, y)`` ->
[E, B, C] and ``elementwise(x, y)`` -> [E, B].
"""

from __future__ import annotations

from torch import nn

from rllib_tmd.quasimetric.iqe import IQE
from rllib_tmd.quasimetric.mrn import MRN

QUASIMETRICS = {"mrn": MRN, "iqe": IQE}


def make_quasimetric(name: str, latent_dim: int, **kwargs) -> nn.Module:
    """Build a quasimetric head by name ("mrn" or "iqe"); kwargs go to its constructor."""
    try:
        cls = QUASIMETRICS[name.lower()]
    except KeyError:
        allowed = ", ".join(repr(n) for n in QUASIMETRICS)
        raise ValueError(f"unknown quasimetric {name!r}; allowed: {allowed}") from None
    return cls(latent_dim, **kwargs)


__all__ = ["IQE", "MRN", "QUASIMETRICS", "make_quasimetric"]
