"""The TMD RLModule: shapes, deterministic inference, and where gradients may flow."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from rllib_tmd.tmd.default_tmd_rl_module import (
    ACTIONS,
    ACTOR_GOALS,
    DIST_NEXT_G,
    DIST_S_SA,
    DIST_SA_G,
    NEXT_OBS,
    OBS,
    Q_ACTOR,
    VALUE_GOALS,
)
from rllib_tmd.tmd.torch.default_tmd_torch_rl_module import DefaultTMDTorchRLModule
from rllib_tmd.tmd.torch.tmd_torch_learner import actor_loss, temporal_invariance_loss

OBS_DIM, ACT_DIM, B = 3, 2, 6
SMALL = {
    "latent_dim": 16,
    "hidden_dims": (32,),
    "actor_hidden_dims": (32,),
    "ensemble_size": 2,
    "quasimetric_components": 4,
    "quasimetric_impl": "torch",
}


def make_module(**overrides):
    return DefaultTMDTorchRLModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2 * OBS_DIM,), np.float32),
        action_space=gym.spaces.Box(-1, 1, (ACT_DIM,), np.float32),
        model_config={**SMALL, **overrides},
    )


def random_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return {
        OBS: r(B, OBS_DIM),
        ACTIONS: r(B, ACT_DIM).clamp(-1, 1),
        NEXT_OBS: r(B, OBS_DIM),
        VALUE_GOALS: r(B, OBS_DIM),
        ACTOR_GOALS: r(B, OBS_DIM),
    }


def grads_of(module_part):
    return [p.grad for p in module_part.parameters()]


@pytest.mark.parametrize("head", [{}, {"quasimetric": "iqe"}, {"mrn_variant": "max"}])
def test_forward_train_shapes(head):
    out = make_module(**head).forward_train(random_batch())
    assert out[DIST_SA_G].shape == (2, B, B)
    assert out[DIST_NEXT_G].shape == (2, B, B)
    assert out[DIST_S_SA].shape == (2, B)
    assert out[Q_ACTOR].shape == (2, B)


def test_no_gradient_reaches_anything_through_the_target_distance():
    out = make_module().forward_train(random_batch())
    assert not out[DIST_NEXT_G].requires_grad


def test_without_the_target_stop_gradient_the_backup_trains_psi_through_its_target():
    module = make_module(stopgrad_psi_backup=True, stopgrad_backup_target=False)
    out = module.forward_train(random_batch())
    assert out[DIST_NEXT_G].requires_grad
    loss = temporal_invariance_loss(
        out["dist_sa_g_backup"], out[DIST_NEXT_G], 0.99, 3.0, 0.5, differentiate_target=True
    )
    loss.backward()  # psi(g) is stopped on the online side only: its gradient is the target's
    assert any(g is not None and torch.any(g != 0) for g in grads_of(module.critic.psi))


def test_stopgrad_psi_backup_keeps_psi_out_of_the_backup_term():
    module = make_module(stopgrad_psi_backup=True)
    out = module.forward_train(random_batch())
    loss = temporal_invariance_loss(out["dist_sa_g_backup"], out[DIST_NEXT_G], 0.99, 3.0, 0.5)
    loss.backward()
    assert all(g is None or torch.all(g == 0) for g in grads_of(module.critic.psi))
    assert any(g is not None and torch.any(g != 0) for g in grads_of(module.critic.phi))


def test_without_stopgrad_psi_backup_psi_gets_backup_gradients():
    module = make_module(stopgrad_psi_backup=False)
    out = module.forward_train(random_batch())
    temporal_invariance_loss(out["dist_sa_g_backup"], out[DIST_NEXT_G], 0.99, 3.0, 0.5).backward()
    assert any(g is not None and torch.any(g != 0) for g in grads_of(module.critic.psi))


def test_actor_loss_leaves_critic_parameters_unchanged():
    module = make_module()
    batch = random_batch()
    out = module.forward_train(batch)
    loss, *_ = actor_loss(
        out[Q_ACTOR], out["actor_mean"], out["actor_log_std"], batch[ACTIONS], alpha=0.1
    )
    loss.backward()
    assert all(g is None for g in grads_of(module.critic))
    assert all(g is not None for g in grads_of(module.actor))
    before = [p.detach().clone() for p in module.critic.parameters()]
    torch.optim.Adam(module.parameters(), lr=1e-2).step()
    assert all(torch.equal(a, p) for a, p in zip(before, module.critic.parameters()))


def test_inference_is_the_clipped_deterministic_mean():
    module = make_module()
    with torch.no_grad():
        module.actor.net[-1].bias.fill_(5.0)  # push the mean outside [-1, 1]
    obs = torch.randn(4, 2 * OBS_DIM)
    out1 = module.forward_inference({Columns.OBS: obs})
    out2 = module.forward_inference({Columns.OBS: obs})
    assert torch.equal(out1[Columns.ACTIONS], out2[Columns.ACTIONS])
    assert torch.all(out1[Columns.ACTIONS] == 1.0)
    assert torch.equal(module.act(obs[:, :OBS_DIM], obs[:, OBS_DIM:]), out1[Columns.ACTIONS])


def test_odd_observation_width_is_rejected():
    with pytest.raises(ValueError, match="even"):
        DefaultTMDTorchRLModule(
            observation_space=gym.spaces.Box(-1, 1, (5,), np.float32),
            action_space=gym.spaces.Box(-1, 1, (2,), np.float32),
            model_config=SMALL,
        )


def test_bf16_hidden_layers_keep_float32_outputs_close_to_float32():
    """``mixed_precision="bf16"``: same parameters (same state_dict keys), float32 distances
    and actions within bf16 rounding of the float32 module, finite gradients everywhere."""
    torch.manual_seed(0)
    full = make_module()
    mixed = make_module(mixed_precision="bf16")
    assert full.state_dict().keys() == mixed.state_dict().keys()  # checkpoints interchange
    mixed.load_state_dict(full.state_dict())
    batch = random_batch()
    want, got = full.forward_train(batch), mixed.forward_train(batch)
    for key in (DIST_SA_G, DIST_NEXT_G, DIST_S_SA, Q_ACTOR):
        assert got[key].dtype == torch.float32
        torch.testing.assert_close(got[key], want[key], rtol=0.05, atol=0.05)
    got[DIST_SA_G].mean().backward()
    assert all(g is not None and torch.isfinite(g).all() for g in grads_of(mixed.critic.phi))


def test_unknown_mixed_precision_is_rejected():
    from rllib_tmd import TMDConfig

    with pytest.raises(ValueError, match="mixed_precision"):
        TMDConfig().training(mixed_precision="fp8").validate()
