"""Property tests: MRN (both variants) and IQE are quasimetrics.

For every head: d(x, x) ~ 0, d >= 0, d(x, z) <= d(x, y) + d(y, z), and d is not symmetric.
Checked in float64 on random and adversarial triples (see ``strategies.py``), through both
``pairwise`` (all 9 distances of a triple at once) and ``elementwise``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from rllib_tmd.quasimetric import IQE, MRN
from tests.quasimetric.strategies import latents, triples

DIM = 8
EPS = 1e-6
HEADS = {
    "mrn_max+l2": lambda: MRN(DIM, num_components=2, variant="max+l2", eps=EPS, impl="torch"),
    "mrn_max": lambda: MRN(DIM, num_components=2, variant="max", impl="torch"),
    "iqe": lambda: IQE(DIM, num_components=2),
}
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None)


def self_distance_bound(name: str) -> float:
    """d(x, x) is exactly sqrt(eps) for MRN max+l2 (mean over components), else 0."""
    return math.sqrt(EPS) if name == "mrn_max+l2" else 0.0


def tolerance(points: np.ndarray) -> float:
    """Rounding slack for float64; the pairwise l2 part uses a GEMM identity (grows as scale^2)."""
    spread = float(np.abs(points - points.mean(axis=0)).max())
    scale = float(np.abs(points).max())
    return 1e-9 * (1.0 + scale) + 1e-12 * spread**2


def as_batch(points: np.ndarray) -> torch.Tensor:
    """[N, D] numpy -> [1, N, D] float64 tensor (one ensemble member)."""
    return torch.from_numpy(points).to(torch.float64)[None]


def pairwise_matrix(head, points: np.ndarray) -> np.ndarray:
    x = as_batch(points)
    return head.double().pairwise(x, x)[0].detach().numpy()


each_head = pytest.mark.parametrize("head_name", sorted(HEADS))


@each_head
@PROPERTY_SETTINGS
@given(points=triples(DIM))
def test_triangle_inequality_pairwise(head_name, points):
    d = pairwise_matrix(HEADS[head_name](), points)
    slack = d[:, :, None] + d[None, :, :]  # slack[i, j, k] = d(i, j) + d(j, k)
    violation = d[:, None, :] - slack  # d(i, k) - d(i, j) - d(j, k)
    assert violation.max() <= tolerance(points), (head_name, points, d)


@each_head
@PROPERTY_SETTINGS
@given(points=triples(DIM))
def test_triangle_inequality_elementwise(head_name, points):
    head = HEADS[head_name]().double()
    x, y, z = (as_batch(p[None]) for p in points)
    d_xz = head.elementwise(x, z).item()
    d_xy_yz = head.elementwise(x, y).item() + head.elementwise(y, z).item()
    assert d_xz <= d_xy_yz + tolerance(points)


@each_head
@PROPERTY_SETTINGS
@given(points=triples(DIM))
def test_nonnegative_and_zero_on_the_diagonal(head_name, points):
    head = HEADS[head_name]()
    d = pairwise_matrix(head, points)
    assert d.min() >= 0.0
    bound = self_distance_bound(head_name)
    assert np.all(np.diag(d) <= bound + math.sqrt(tolerance(points)) + 1e-12)
    x = as_batch(points)
    exact = head.double().elementwise(x, x)[0].detach().numpy()
    np.testing.assert_allclose(exact, bound, atol=1e-15)


@each_head
@PROPERTY_SETTINGS
@given(points=latents(5, DIM))
def test_pairwise_matches_elementwise_on_all_pairs(head_name, points):
    head = HEADS[head_name]().double()
    x = as_batch(points)
    n = len(points)
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    one_by_one = head.elementwise(x[:, rows.flatten()], x[:, cols.flatten()]).reshape(1, n, n)
    torch.testing.assert_close(head.pairwise(x, x), one_by_one, atol=1e-9, rtol=1e-9)


@each_head
def test_distances_are_asymmetric(head_name):
    head = HEADS[head_name]().double()
    x = torch.zeros(1, 1, DIM, dtype=torch.float64)
    y = x.clone()
    y[..., 0] = 1.0  # y is ahead of x in one coordinate only
    forward, backward = head.elementwise(x, y).item(), head.elementwise(y, x).item()
    assert forward != pytest.approx(backward)
    d = pairwise_matrix(head, np.random.default_rng(0).normal(size=(6, DIM)))
    assert not np.allclose(d, d.T)


@pytest.mark.parametrize("variant", ["max+l2", "max"])
def test_mrn_float32_stays_close_to_float64_far_from_the_origin(variant):
    """The shared offset keeps the float32 GEMM identity accurate for offset latents."""
    head = MRN(64, num_components=8, variant=variant, impl="torch")
    gen = torch.Generator().manual_seed(0)
    x = 1e3 + torch.randn(2, 33, 64, generator=gen, dtype=torch.float64)
    y = 1e3 + torch.randn(2, 17, 64, generator=gen, dtype=torch.float64)
    exact = head.pairwise(x, y)
    single = head.pairwise(x.float(), y.float()).double()
    torch.testing.assert_close(single, exact, atol=2e-3, rtol=1e-4)
