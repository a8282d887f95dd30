"""Fused Triton MRN kernels against the torch reference.

On a machine without a GPU the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1``
is set by this folder's conftest before the kernels are defined). Triton is required: CI
installs it, and a missing triton must fail here rather than skip.
"""

from __future__ import annotations

import pytest
import torch
import triton  # noqa: F401  (deliberately no importorskip)

from rllib_tmd.quasimetric import MRN
from rllib_tmd.quasimetric.fused import interpreter_enabled, triton_available
from rllib_tmd.quasimetric.fused.mrn_triton import MRNKernelConfig, mrn_pairwise_triton
from rllib_tmd.quasimetric.mrn import mrn_pairwise_reference, split_widths

E, D, K = 2, 32, 2
SMALL_TILES = MRNKernelConfig(block_b=16, block_c=16, bwd_block_other=16, bwd_block_own=16)
SPLIT_WORK = MRNKernelConfig(
    block_b=16, block_c=16, bwd_block_other=16, bwd_block_own=16, k_split=2, bwd_split=2
)
SUB_ROWS = MRNKernelConfig(
    block_b=16, block_c=16, bwd_block_other=16, bwd_block_own=16, bwd_sub_rows=4
)


def fused_and_reference(x, y, variant, config, grad):
    """(out, dx, dy) of the fused path and of the reference, for upstream gradient ``grad``."""
    max_dim, _ = split_widths(x.shape[-1], K, variant)
    results = []
    for fn in (
        lambda a, b: mrn_pairwise_triton(a, b, num_components=K, max_dim=max_dim, config=config),
        lambda a, b: mrn_pairwise_reference(a, b, K, max_dim),
    ):
        xa, ya = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
        out = fn(xa, ya)
        results.append((out, *torch.autograd.grad(out, (xa, ya), grad)))
    return results


def test_kernels_run_on_this_machine(kernel_device):
    assert triton_available()
    assert kernel_device == "cuda" or interpreter_enabled()


@pytest.mark.parametrize(
    "config", [SMALL_TILES, SPLIT_WORK, SUB_ROWS], ids=["tiles16", "split", "sub_rows"]
)
@pytest.mark.parametrize("variant", ["max+l2", "max"])
def test_forward_and_gradients_match_reference(kernel_device, variant, config):
    """B = 37 and C = 21 are not multiples of the 16-wide tiles: edges are masked."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(E, 37, D, generator=gen).to(kernel_device)
    y = torch.randn(E, 21, D, generator=gen).to(kernel_device)
    grad = torch.randn(E, 37, 21, generator=gen).to(kernel_device)
    fused, reference = fused_and_reference(x, y, variant, config, grad)
    for got, want in zip(fused, reference):
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_mrn_module_with_impl_triton(kernel_device):
    x = torch.randn(E, 5, D, device=kernel_device, requires_grad=True)
    y = torch.randn(E, 3, D, device=kernel_device)
    fused = MRN(D, num_components=K, impl="triton").pairwise(x, y)
    reference = MRN(D, num_components=K, impl="torch").pairwise(x, y)
    torch.testing.assert_close(fused, reference, atol=2e-5, rtol=1e-5)
    (dx_fused,) = torch.autograd.grad(fused.sum(), x)  # y needs no gradient here
    (dx_reference,) = torch.autograd.grad(reference.sum(), x)
    torch.testing.assert_close(dx_fused, dx_reference, atol=2e-5, rtol=1e-5)


def test_forward_without_autograd(kernel_device):
    x, y = torch.randn(E, 9, D, device=kernel_device), torch.randn(E, 7, D, device=kernel_device)
    head = MRN(D, num_components=K, impl="triton")
    with torch.no_grad():
        torch.testing.assert_close(
            head.pairwise(x, y), mrn_pairwise_reference(x, y, K, head.max_dim), atol=2e-5, rtol=0
        )


def test_ties_go_to_the_first_index_and_are_reproducible(kernel_device):
    """Small integers make many exact ties in the max part."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(-2, 3, (E, 19, D), generator=gen).float().to(kernel_device)
    y = torch.randint(-2, 3, (E, 23, D), generator=gen).float().to(kernel_device)
    grad = torch.randint(-3, 4, (E, 19, 23), generator=gen).float().to(kernel_device)
    first, reference = fused_and_reference(x, y, "max+l2", SPLIT_WORK, grad)
    again, _ = fused_and_reference(x, y, "max+l2", SPLIT_WORK, grad)
    for a, b in zip(first[1:], again[1:]):
        assert torch.equal(a, b)  # bit-identical gradients
    for got, want in zip(first, reference):  # torch.max also routes ties to the first index
        torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


def test_a_tie_sends_the_whole_gradient_to_the_first_dim(kernel_device):
    head = MRN(4, num_components=1, variant="max", impl="triton")
    x = torch.tensor([[[0.0, 2.0, 2.0, 1.0]]], device=kernel_device, requires_grad=True)
    y = torch.zeros(1, 1, 4, device=kernel_device)
    (dx,) = torch.autograd.grad(head.pairwise(x, y).sum(), x)
    assert dx.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]


def test_odd_component_width_is_rejected(kernel_device):
    x = torch.randn(1, 4, 12, device=kernel_device)
    with pytest.raises(ValueError, match="odd component width"):
        mrn_pairwise_triton(x, x, num_components=4, max_dim=1)
    with pytest.raises(ValueError, match="even component width"):
        MRN(12, num_components=4, variant="max+l2", impl="triton")


def test_mixed_dtypes_are_rejected(kernel_device):
    x = torch.randn(1, 4, 8, device=kernel_device)
    with pytest.raises(ValueError, match="one dtype"):
        mrn_pairwise_triton(x, x.double(), num_components=2, max_dim=2)


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    x = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="CUDA tensors"):
        mrn_pairwise_triton(x, x, num_components=2, max_dim=2)


def test_sub_rows_must_divide_the_backward_tile(kernel_device):
    x = torch.randn(E, 5, D, device=kernel_device, requires_grad=True)
    y = torch.randn(E, 3, D, device=kernel_device)
    bad = MRNKernelConfig(bwd_block_other=16, bwd_sub_rows=3)
    out = mrn_pairwise_triton(x, y, num_components=K, max_dim=D // K // 2, config=bad)
    with pytest.raises(ValueError, match="bwd_sub_rows=3"):
        out.sum().backward()
