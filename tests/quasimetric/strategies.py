"""Hypothesis strategies for latents: random and adversarial triples (x, y, z)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

FINITE = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False)


def latents(n: int, dim: int, bound: float = 100.0) -> st.SearchStrategy[np.ndarray]:
    """n random latents of size dim with coordinates in [-bound, bound] (float64)."""
    return arrays(np.float64, (n, dim), elements=st.floats(-bound, bound, **FINITE))


@st.composite
def adversarial_triples(draw, dim: int) -> np.ndarray:
    """Triples [3, dim] built to stress the triangle inequality and the epsilons."""
    base = draw(latents(1, dim, 10.0))[0]
    other = draw(latents(1, dim, 10.0))[0]
    kind = draw(
        st.sampled_from(
            ["far_offset", "near_equal", "dominant", "between", "repeated", "huge", "ties"]
        )
    )
    if kind == "far_offset":  # all three far from the origin, close to each other
        offset = draw(st.sampled_from([1e3, -1e5, 1e6]))
        x, y, z = base + offset, other + offset, (base + other) / 2 + offset
    elif kind == "near_equal":  # differences far below the sqrt epsilon
        tiny = draw(st.sampled_from([1e-12, 1e-9, 1e-6, 1e-3]))
        x, y, z = base, base + tiny * other, base - tiny * other
    elif kind == "dominant":  # one coordinate carries the whole difference
        i = draw(st.integers(0, dim - 1))
        big = draw(st.sampled_from([1e2, 1e4, -1e4]))
        x, y, z = base.copy(), base.copy(), base.copy()
        y[i] += big
        z[i] -= big / 3
    elif kind == "between":  # y on the segment from x to z
        t = draw(st.floats(0.0, 1.0))
        x, z = base, other
        y = x + t * (z - x)
    elif kind == "repeated":  # two of the three points coincide
        x, y, z = base, base.copy(), other
        if draw(st.booleans()):
            y, z = other, other.copy()
    elif kind == "huge":  # large spread
        x, y, z = base * 1e3, other * 1e3, (base - other) * 1e3
    else:  # "ties": small integers, so many coordinates tie
        ints = draw(arrays(np.int64, (3, dim), elements=st.integers(-2, 2)))
        x, y, z = ints.astype(np.float64)
    return np.stack([x, y, z])


def triples(dim: int) -> st.SearchStrategy[np.ndarray]:
    """Random triples in [-100, 100] or adversarial ones."""
    return st.one_of(latents(3, dim), adversarial_triples(dim))
