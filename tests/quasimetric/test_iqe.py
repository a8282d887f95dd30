"""IQE head: union-of-intervals lengths, the learned maxmean and validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rllib_tmd.quasimetric import IQE
from rllib_tmd.quasimetric.iqe import iqe_components_elementwise
from tests.quasimetric.strategies import latents


def union_length_by_merging(x: np.ndarray, y: np.ndarray) -> float:
    """Plain interval merge of [x_i, max(x_i, y_i)], the definition spelled out."""
    total, start, end = 0.0, None, None
    for lo, hi in sorted(zip(x, np.maximum(x, y))):
        if end is None or lo > end:
            total += 0.0 if end is None else end - start
            start, end = lo, hi
        else:
            end = max(end, hi)
    return total + (end - start)


@settings(max_examples=30, deadline=None)
@given(pair=latents(2, 6, 10.0), ties=st.booleans())
def test_component_length_is_the_union_of_intervals(pair, ties):
    if ties:
        pair = np.round(pair)  # overlapping and touching intervals
    x, y = (torch.from_numpy(p)[None] for p in pair)
    got = iqe_components_elementwise(x, y, num_components=1).item()
    assert got == pytest.approx(union_length_by_merging(*pair), abs=1e-9)


def test_example_by_hand():
    # intervals [0, 2], [1, 3], [5, 5] (y below x: empty) -> union length 3
    x = torch.tensor([[[0.0, 1.0, 5.0]]])
    y = torch.tensor([[[2.0, 3.0, 4.0]]])
    head = IQE(latent_dim=3, num_components=1)
    assert head.elementwise(x, y).item() == pytest.approx(3.0)  # one component: max = mean
    # reverse: [2, 2] and [3, 3] are empty, [4, 5] has length 1
    assert head.elementwise(y, x).item() == pytest.approx(1.0)


def test_maxmean_mixes_the_components():
    head = IQE(latent_dim=4, num_components=2)  # alpha starts at 0.5
    x = torch.zeros(1, 1, 4)
    y = torch.tensor([[[1.0, 0.0, 3.0, 0.0]]])  # component lengths 1 and 3
    assert head.alpha.item() == pytest.approx(0.5)
    assert head.elementwise(x, y).item() == pytest.approx(0.5 * 3 + 0.5 * 2)


def test_alpha_is_learned():
    head = IQE(latent_dim=8, num_components=4, alpha_init=0.3)
    assert head.alpha.item() == pytest.approx(0.3)
    x, y = torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    head.pairwise(x, y).sum().backward()
    assert head.raw_alpha.grad is not None and head.raw_alpha.grad.abs() > 0


def test_chunked_pairwise_matches_and_has_gradients():
    x = torch.randn(2, 9, 12, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 4, 12, dtype=torch.float64, requires_grad=True)
    whole = IQE(12, num_components=3).double()
    chunked = IQE(12, num_components=3, max_chunk_elements=50).double()  # one row per chunk
    torch.testing.assert_close(chunked.pairwise(x, y), whole.pairwise(x, y))
    chunked.pairwise(x, y).sum().backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(latent_dim=10, num_components=4), "not divisible"),
        (dict(latent_dim=8, alpha_init=1.0), r"alpha_init must be in \(0, 1\)"),
    ],
)
def test_invalid_construction_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IQE(**kwargs)


def smallest_kink_margin(x: torch.Tensor, y: torch.Tensor, num_components: int) -> float:
    """How far the pairwise IQE of x [B, N, D] and y [B, M, D] is from a non-smooth point.

    The maxmean of union lengths has kinks where two values inside one component's pair meet
    (interval endpoints cross) and where two non-zero component lengths meet (the max
    switches).
    """
    pairs_x, pairs_y = torch.broadcast_tensors(x[:, :, None], y[:, None, :])
    width = x.shape[-1] // num_components
    values = torch.cat([pairs_x, pairs_y], -1).unflatten(-1, (2, num_components, width))
    values = values.transpose(-3, -2).flatten(-2).sort(-1).values  # [B, N, M, K, 2W]
    lengths = iqe_components_elementwise(pairs_x, pairs_y, num_components).sort(-1).values
    gaps = lengths.diff(dim=-1)[lengths[..., 1:] > 0]  # empty components stay empty: no kink
    return min(values.diff(dim=-1).min().item(), gaps.min().item())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_matches_finite_differences(seed):
    """Away from ties the union length is linear near the point: exact central differences."""
    generator = torch.Generator().manual_seed(seed)  # fixed draws: a randn pair lands within
    x, y = (  # a step of a kink a few times in a thousand, which made this test flaky
        torch.randn(2, n, 12, generator=generator, dtype=torch.float64).requires_grad_(True)
        for n in (5, 4)
    )
    assert smallest_kink_margin(x.detach(), y.detach(), num_components=3) > 1e-4
    head = IQE(12, num_components=3, impl="torch").double()
    assert torch.autograd.gradcheck(head.pairwise, (x, y))
    assert torch.autograd.gradcheck(lambda a, b: head.elementwise(a, b[:, :4]), (x[:, :4], y))


def test_tie_rule_of_the_gradient():
    """Equal intervals: the first index opens and closes the cluster; touching ones merge."""
    x = torch.tensor([[[0.0, 0.0, 1.0, 3.0]]], requires_grad=True)
    y = torch.tensor([[[1.0, 1.0, 2.0, 3.0]]], requires_grad=True)  # [0,1] [0,1] [1,2] empty
    length = IQE(4, num_components=1, impl="torch").elementwise(x, y)
    assert length.item() == pytest.approx(2.0)
    dx, dy = torch.autograd.grad(length.sum(), (x, y))
    assert dx.flatten().tolist() == [-1.0, 0.0, 0.0, 0.0]
    assert dy.flatten().tolist() == [0.0, 0.0, 1.0, 0.0]
