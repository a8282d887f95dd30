"""Fused Triton IQE kernels against the torch reference.

On a machine without a GPU the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``
is set by this folder's conftest before the kernels are defined). Triton is required: a missing
triton must fail here rather than skip.
"""

from __future__ import annotations

import pytest
import torch
import triton  # noqa: F401  (deliberately no importorskip)

from rllib_tmd.quasimetric import IQE
from rllib_tmd.quasimetric.fused import iqe_components_fused
from rllib_tmd.quasimetric.fused.iqe_triton import IQEKernelConfig, iqe_components_triton
from rllib_tmd.quasimetric.iqe import iqe_components_pairwise

SMALL_TILES = IQEKernelConfig(block_b=16, block_c=16, bwd_block_own=16, bwd_block_other=16)
SPLIT_WORK = IQEKernelConfig(
    block_b=16, block_c=16, bwd_block_own=16, bwd_block_other=16, bwd_split=2
)
TOL = dict(atol=1e-5, rtol=1e-5)


def lengths_and_grads(fn, x, y, grad):
    """(lengths [E, B, C, K], dx, dy) of ``fn(x, y)`` for the upstream gradient ``grad``."""
    xa, ya = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
    out = fn(xa, ya)
    return (out, *torch.autograd.grad(out, (xa, ya), grad))


def fused_and_reference(x, y, k, config, grad):
    fused = lengths_and_grads(
        lambda a, b: iqe_components_triton(a, b, num_components=k, config=config), x, y, grad
    )
    reference = lengths_and_grads(lambda a, b: iqe_components_pairwise(a, b, k), x, y, grad)
    return fused, reference


def random_case(device, e, b, c, d, k, seed, ties=False):
    """x [E, B, D], y [E, C, D] and an upstream gradient [E, B, C, K]."""
    gen = torch.Generator().manual_seed(seed)
    if ties:  # small integers: equal starts, equal ends, touching and empty intervals
        x = torch.randint(-2, 3, (e, b, d), generator=gen).float()
        y = torch.randint(-2, 3, (e, c, d), generator=gen).float()
    else:
        x, y = torch.randn(e, b, d, generator=gen), torch.randn(e, c, d, generator=gen)
    grad = torch.randn(e, b, c, k, generator=gen)
    return x.to(device), y.to(device), grad.to(device)


@pytest.mark.parametrize("config", [SMALL_TILES, SPLIT_WORK], ids=["tiles16", "split"])
@pytest.mark.parametrize(("e", "k"), [(1, 2), (2, 4), (2, 8)])
def test_lengths_and_gradients_match_reference(kernel_device, e, k, config):
    """B = 37 and C = 21 are not multiples of the 16-wide tiles: edges are masked."""
    x, y, grad = random_case(kernel_device, e, 37, 21, 16, k, seed=k)
    fused, reference = fused_and_reference(x, y, k, config, grad)
    for got, want in zip(fused, reference):
        torch.testing.assert_close(got, want, **TOL)


def test_ties_match_reference_and_are_reproducible(kernel_device):
    x, y, grad = random_case(kernel_device, 2, 19, 23, 16, 4, seed=1, ties=True)
    first, reference = fused_and_reference(x, y, 4, SPLIT_WORK, grad)
    again, _ = fused_and_reference(x, y, 4, SPLIT_WORK, grad)
    for a, b in zip(first, again):
        assert torch.equal(a, b)  # bit-identical
    for got, want in zip(first, reference):
        torch.testing.assert_close(got, want, **TOL)


def test_equal_intervals_give_the_gradient_to_the_first_index(kernel_device):
    x = torch.zeros(1, 1, 3, device=kernel_device, requires_grad=True)
    y = torch.tensor([[[1.0, 1.0, 0.5]]], device=kernel_device, requires_grad=True)
    lengths = iqe_components_triton(x, y, num_components=1)
    assert lengths.item() == 1.0
    dx, dy = torch.autograd.grad(lengths.sum(), (x, y))
    assert dx.flatten().tolist() == [-1.0, 0.0, 0.0]
    assert dy.flatten().tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("k", [2, 4])
def test_iqe_module_with_impl_triton(kernel_device, k):
    """Distances and the gradients of x, y and the alpha logit match the torch head."""
    x, y, _ = random_case(kernel_device, 2, 5, 7, 8, k, seed=3)
    grad = torch.randn(2, 5, 7, device=kernel_device)
    results = []
    for impl in ("triton", "torch"):
        head = IQE(8, num_components=k, alpha_init=0.3, impl=impl).to(kernel_device)
        xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
        out = head.pairwise(xa, ya)
        results.append((out, *torch.autograd.grad(out, (xa, ya, head.raw_alpha), grad)))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, **TOL)


def test_only_x_needs_a_gradient_and_no_grad(kernel_device):
    x, y, _ = random_case(kernel_device, 2, 9, 6, 8, 2, seed=4)
    xa = x.clone().requires_grad_()
    out = iqe_components_fused(xa, y, num_components=2)
    (dx,) = torch.autograd.grad(out.sum(), xa)
    x_ref = x.clone().requires_grad_()
    ref = iqe_components_pairwise(x_ref, y, 2)
    (dx_ref,) = torch.autograd.grad(ref.sum(), x_ref)
    torch.testing.assert_close(dx, dx_ref, **TOL)
    with torch.no_grad():
        torch.testing.assert_close(iqe_components_fused(x, y, num_components=2), ref, **TOL)


def test_bfloat16_inputs(kernel_device):
    x, y, _ = random_case(kernel_device, 1, 6, 5, 8, 2, seed=5)
    x, y = x.bfloat16(), y.bfloat16()
    out = iqe_components_fused(x, y, num_components=2)
    assert out.dtype == torch.bfloat16
    want = iqe_components_pairwise(x.float(), y.float(), 2)
    torch.testing.assert_close(out.float(), want, atol=2e-2, rtol=1e-2)


@pytest.mark.parametrize(
    ("x_shape", "y_shape", "k", "message"),
    [
        ((1, 4, 10), (1, 3, 10), 4, "not divisible"),
        ((4, 8), (1, 3, 8), 2, r"shape \[E, N, D\]"),
        ((1, 4, 8), (1, 3, 6), 2, "latent size"),
        ((2, 4, 8), (1, 3, 8), 2, "same ensemble size"),
    ],
)
def test_bad_shapes_are_rejected(kernel_device, x_shape, y_shape, k, message):
    x, y = torch.randn(x_shape, device=kernel_device), torch.randn(y_shape, device=kernel_device)
    with pytest.raises(ValueError, match=message):
        iqe_components_triton(x, y, num_components=k)


def test_bad_dtypes_are_rejected(kernel_device):
    x = torch.randn(1, 4, 8, device=kernel_device)
    with pytest.raises(ValueError, match="one dtype"):
        iqe_components_triton(x, x.double(), num_components=2)
    with pytest.raises(ValueError, match="one dtype"):
        iqe_components_triton(x.double(), x.double(), num_components=2)


def test_bad_devices_are_rejected(monkeypatch):
    x = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="different devices"):
        iqe_components_triton(x, x.to("meta"), num_components=2)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="CUDA tensors"):
        iqe_components_triton(x, x, num_components=2)


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match="unknown impl"):
        IQE(8, num_components=2, impl="cuda")
