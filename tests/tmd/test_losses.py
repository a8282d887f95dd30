"""Each TMD loss term against small numbers worked out independently with numpy."""

import math

import numpy as np
import pytest
import torch

from rllib_tmd.tmd.torch.tmd_torch_learner import (
    action_invariance_loss,
    action_mse,
    actor_loss,
    bce_divergence,
    contrastive_loss,
    gaussian_log_prob,
    linex_divergence,
    mix_with_diagonal,
    squared_error_divergence,
    temporal_invariance_loss,
)

RNG = np.random.default_rng(0)


def t(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


def test_contrastive_loss_is_cross_entropy_over_state_actions_per_goal():
    dist = RNG.uniform(0, 5, size=(2, 4, 4))
    latent = 16
    expected, correct = [], []
    for e in range(2):
        logits = -dist[e] / math.sqrt(latent)
        for j in range(4):  # one goal per column, softmax over rows i
            column = logits[:, j]
            expected.append(-(column[j] - np.log(np.exp(column).sum())))
            correct.append(np.argmax(column) == j)
    loss, acc = contrastive_loss(t(dist), latent)
    assert loss.item() == pytest.approx(np.mean(expected), rel=1e-12)
    assert acc.item() == pytest.approx(np.mean(correct))


def test_contrastive_accuracy_is_one_when_positives_are_closest():
    dist = np.full((1, 3, 3), 4.0)
    np.fill_diagonal(dist[0], 0.5)
    _, acc = contrastive_loss(t(dist), 4)
    assert acc.item() == 1.0


def test_action_invariance_is_mean_distance():
    d = RNG.uniform(size=(2, 5))
    assert action_invariance_loss(t(d)).item() == pytest.approx(d.mean())


def test_linex_exponential_branch_below_threshold():
    online, target, gamma = 1.2, 0.7, 0.99
    expected = gamma * math.exp(online - target) - online
    out = linex_divergence(t([online]), t([target]), gamma, threshold=3.0)
    assert out.item() == pytest.approx(expected)


def test_linex_linear_tail_above_threshold():
    online, target = 9.0, 2.0  # delta = 7 > t = 3
    out = linex_divergence(t([online]), t([target]), 0.99, threshold=3.0)
    assert out.item() == pytest.approx(7.0)


def test_linex_tail_has_finite_gradients_for_huge_deltas():
    online = t([1e4]).requires_grad_()
    linex_divergence(online, t([0.0]), 0.99, 3.0).sum().backward()
    assert torch.isfinite(online.grad).all()
    assert online.grad.item() == pytest.approx(1.0)


def test_ablation_divergences_worked_examples():
    online = np.array([0.05, 0.7, 2.0, 40.0])
    target = np.array([0.0, 1.1, 0.5, 39.0])
    gamma = 0.99
    q, p = np.exp(-online), gamma * np.exp(-target)
    squared = squared_error_divergence(t(online), t(target), gamma).numpy()
    assert squared == pytest.approx((q - p) ** 2, rel=1e-12)
    bce = bce_divergence(t(online), t(target), gamma).numpy()
    assert bce == pytest.approx(-(p * np.log(q) + (1 - p) * np.log(1 - q)), rel=1e-9)


@pytest.mark.parametrize("divergence", ["linex", "mse", "bce"])
def test_every_divergence_is_minimised_at_the_discounted_backup(divergence):
    """For a fixed target d', each divergence has its minimum at d = d' - log(gamma)."""
    gamma, target = 0.99, t([0.5, 1.5])
    online = t([0.3, 0.3]).requires_grad_()
    optimiser = torch.optim.Adam([online], lr=0.05)
    for _ in range(3000):
        optimiser.zero_grad()
        temporal_invariance_loss(
            online[None, None], target[None, None], gamma, 50.0, 0.0, divergence
        ).backward()
        optimiser.step()
    expected = target.numpy() - math.log(gamma)
    assert np.isfinite(online.detach().numpy()).all()
    assert online.detach().numpy() == pytest.approx(expected, abs=0.02)


def test_mix_with_diagonal_broadcasts_the_row_diagonal():
    div = RNG.normal(size=(1, 3, 3))
    out = mix_with_diagonal(t(div), 0.5).numpy()
    for i in range(3):
        for j in range(3):
            assert out[0, i, j] == pytest.approx(0.5 * div[0, i, j] + 0.5 * div[0, i, i])


def test_temporal_invariance_worked_example():
    online = RNG.uniform(0, 4, size=(2, 3, 3))
    target = RNG.uniform(0, 4, size=(2, 3, 3))
    online[0, 1, 2], target[0, 1, 2] = 8.0, 1.0  # one entry in the linear tail
    gamma, thr, w = 0.99, 3.0, 0.5
    delta = online - target
    div = np.where(delta > thr, delta, gamma * np.exp(np.minimum(delta, thr)) - online)
    diag = np.stack([np.diag(div[e]) for e in range(2)])[:, :, None]
    expected = ((1 - w) * div + w * diag).mean()
    got = temporal_invariance_loss(t(online), t(target), gamma, thr, w)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_temporal_invariance_differentiates_the_target_only_when_asked():
    online = t(RNG.uniform(size=(1, 3, 3))).requires_grad_()
    target = t(RNG.uniform(size=(1, 3, 3))).requires_grad_()
    loss = temporal_invariance_loss(online, target, 0.99, 3.0, 0.0, differentiate_target=True)
    loss.backward()
    # d/dD' of mean(gamma exp(D - D') - D) = -gamma exp(D - D') / n
    delta = (online - target).detach()
    expected = -0.99 * torch.exp(delta) / 9
    torch.testing.assert_close(target.grad, expected)


def test_temporal_invariance_never_differentiates_the_target():
    online = t(RNG.uniform(size=(1, 3, 3))).requires_grad_()
    target = t(RNG.uniform(size=(1, 3, 3))).requires_grad_()
    temporal_invariance_loss(online, target, 0.99, 3.0, 0.5).backward()
    assert target.grad is None and online.grad is not None


def test_gaussian_log_prob_matches_closed_form():
    a, mu, log_std = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 2)), np.full((4, 2), 0.3)
    std = np.exp(log_std)
    expected = (-0.5 * ((a - mu) / std) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(gaussian_log_prob(t(a), t(mu), t(log_std)).numpy(), expected)


def test_actor_loss_worked_example():
    q = np.array([[-1.0, -3.0, -2.0], [-1.5, -2.0, -4.0]])
    mean, data = RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))
    log_std = np.zeros((3, 2))
    alpha = 0.1
    q_min = q.min(0)
    q_term = -q_min.mean() / (np.abs(q_min).mean() + 1e-6)
    log_prob = (-0.5 * (data - mean) ** 2 - 0.5 * np.log(2 * np.pi)).sum(-1)
    loss, qt, bc, mean_abs_q = actor_loss(t(q), t(mean), t(log_std), t(data), alpha)
    assert qt.item() == pytest.approx(q_term)
    assert bc.item() == pytest.approx(-alpha * log_prob.mean())
    assert loss.item() == pytest.approx(q_term - alpha * log_prob.mean())
    assert mean_abs_q.item() == pytest.approx(np.abs(q_min).mean())


def test_action_mse_compares_the_clipped_policy_action_with_the_data():
    mean = np.array([[2.0, 0.0], [0.5, -0.5]])  # the first action clips to (1, 0)
    data = np.array([[0.0, 0.0], [0.5, 0.5]])
    assert action_mse(t(mean), t(data)).item() == pytest.approx((1.0 + 1.0) / 2)


def test_actor_q_term_normaliser_is_stop_gradient():
    q = t([[-2.0, -4.0]]).requires_grad_()
    loss, *_ = actor_loss(q, t(np.zeros((2, 1))), t(np.zeros((2, 1))), t(np.zeros((2, 1))), 0.0)
    loss.backward()
    # d/dq of -mean(q)/c with c constant = -1/(B c); c = 3.
    np.testing.assert_allclose(q.grad.numpy(), [[-1 / 6, -1 / 6]], rtol=1e-6)
