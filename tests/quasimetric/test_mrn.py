"""MRN head: shapes, the two variants, validation and the torch reference path."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from rllib_tmd.quasimetric import MRN, make_quasimetric
from rllib_tmd.quasimetric.mrn import mrn_pairwise_reference


def test_pairwise_and_elementwise_shapes():
    head = MRN(latent_dim=32, num_components=4)
    x, y = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    assert head.pairwise(x, y).shape == (2, 5, 7)
    assert head.elementwise(x, x).shape == (2, 5)
    assert head(x, x).shape == (2, 5)  # forward == elementwise


def test_max_plus_l2_by_hand():
    """One component of width 4: dims 0-1 feed the max part, dims 2-3 the l2 part."""
    head = MRN(latent_dim=4, num_components=1, variant="max+l2", eps=0.0)
    x = torch.tensor([[[3.0, 1.0, 0.0, 0.0]]])
    y = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    # max(relu(3-1), relu(1-2)) = 2 ; sqrt(3^2 + 4^2) = 5
    assert head.elementwise(x, y).item() == pytest.approx(7.0)
    # reverse: max(relu(-2), relu(1)) = 1 ; l2 is symmetric
    assert head.elementwise(y, x).item() == pytest.approx(6.0)


def test_max_variant_uses_every_dim_for_the_max_part():
    head = MRN(latent_dim=4, num_components=2, variant="max")
    x = torch.tensor([[[0.0, 5.0, 1.0, 0.0]]])
    y = torch.zeros(1, 1, 4)
    # components: max(0, 5) = 5 and max(1, 0) = 1 -> mean 3
    assert head.elementwise(x, y).item() == pytest.approx(3.0)
    assert head.elementwise(y, x).item() == 0.0


def test_self_distance_is_sqrt_eps_for_max_plus_l2():
    head = MRN(latent_dim=16, num_components=4, eps=1e-6)
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    torch.testing.assert_close(head.elementwise(x, x), torch.full((3, 6), 1e-3, dtype=x.dtype))


@pytest.mark.parametrize("variant", ["max+l2", "max"])
def test_chunked_pairwise_equals_unchunked(variant):
    x = torch.randn(2, 37, 24, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 11, 24, dtype=torch.float64, requires_grad=True)
    max_dim = 3 if variant == "max+l2" else 6
    whole = mrn_pairwise_reference(x, y, 4, max_dim)
    chunked = mrn_pairwise_reference(x, y, 4, max_dim, max_chunk_elements=100)  # 1 row/chunk
    torch.testing.assert_close(chunked, whole)
    g = torch.randn_like(whole)
    torch.testing.assert_close(
        torch.autograd.grad(chunked, (x, y), g), torch.autograd.grad(whole, (x, y), g)
    )


def test_gradients_reach_both_inputs():
    head = MRN(latent_dim=16, num_components=2)
    x = torch.randn(2, 4, 16, requires_grad=True)
    y = torch.randn(2, 3, 16, requires_grad=True)
    head.pairwise(x, y).sum().backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_gradient_of_self_distance_is_finite():
    """sqrt(0 + eps) keeps the l2 part differentiable at x == y."""
    head = MRN(latent_dim=8, num_components=2)
    x = torch.randn(1, 3, 8, requires_grad=True)
    head.pairwise(x, x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bfloat16_inputs_on_the_reference_path():
    head = MRN(latent_dim=16, num_components=2, impl="torch")
    x, y = torch.randn(2, 5, 16), torch.randn(2, 4, 16)
    low = head.pairwise(x.bfloat16(), y.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), head.pairwise(x, y), atol=0.1, rtol=0.05)


def test_auto_impl_uses_the_reference_on_cpu(monkeypatch):
    from rllib_tmd.quasimetric import fused

    def fail(*args, **kwargs):
        raise AssertionError("the fused path must not run for CPU inputs with impl='auto'")

    monkeypatch.setattr(fused, "mrn_pairwise_fused", fail)
    MRN(latent_dim=8, num_components=2, impl="auto").pairwise(
        torch.randn(1, 2, 8), torch.randn(1, 3, 8)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(latent_dim=10, num_components=4), "not divisible"),
        (dict(latent_dim=12, num_components=4, variant="max+l2"), "even component width"),
        (dict(latent_dim=8, variant="l2"), "unknown MRN variant"),
        (dict(latent_dim=8, num_components=2, impl="cuda"), "unknown impl"),
    ],
)
def test_invalid_construction_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MRN(**kwargs)


def test_odd_component_width_is_fine_for_the_max_variant():
    head = MRN(latent_dim=12, num_components=4, variant="max")  # width 3
    assert head.pairwise(torch.randn(1, 2, 12), torch.randn(1, 2, 12)).shape == (1, 2, 2)


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "message"),
    [
        ((2, 4, 16), (3, 4, 16), "same ensemble size"),
        ((2, 4, 16), (2, 4, 8), "latent size 8"),
        ((4, 16), (4, 16), r"shape \[E, N, D\]"),
    ],
)
def test_mismatched_pairwise_shapes_are_rejected(x_shape, y_shape, message):
    head = MRN(latent_dim=16, num_components=2)
    with pytest.raises(ValueError, match=message):
        head.pairwise(torch.randn(x_shape), torch.randn(y_shape))


def test_elementwise_needs_equal_batches():
    head = MRN(latent_dim=16, num_components=2)
    with pytest.raises(ValueError, match="same batch size"):
        head.elementwise(torch.randn(1, 4, 16), torch.randn(1, 5, 16))


def test_make_quasimetric_builds_heads_by_name():
    head = make_quasimetric("mrn", 64, num_components=8, variant="max")
    assert isinstance(head, MRN) and head.variant == "max" and head.max_dim == 8
    assert type(make_quasimetric("IQE", 64)).__name__ == "IQE"
    with pytest.raises(ValueError, match="allowed: 'mrn', 'iqe'"):
        make_quasimetric("cmd", 64)


def test_default_head_matches_the_spec():
    """D = 512, K = 8: components of 64 dims, 32 for the max part and 32 for the l2 part."""
    head = MRN(512)
    assert (head.num_components, head.max_dim, head.l2_dim, head.variant) == (8, 32, 32, "max+l2")
    zero = torch.zeros(1, 1, 512)
    assert head.eps == 1e-6
    assert head.elementwise(zero, zero).item() == pytest.approx(math.sqrt(1e-6))


def test_package_works_without_triton():
    """With triton unimportable: the reference path runs and impl='triton' says what is missing."""
    script = """
import sys
sys.modules["triton"] = None  # makes `import triton` raise ImportError
import torch
from rllib_tmd.quasimetric import MRN, fused
assert not fused.triton_available()
x = torch.randn(1, 3, 8)
assert MRN(8, num_components=2).pairwise(x, x).shape == (1, 3, 3)
try:
    MRN(8, num_components=2, impl="triton")
except RuntimeError as err:
    assert "pip install triton" in str(err)
else:
    raise AssertionError("impl='triton' must fail without triton")
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
