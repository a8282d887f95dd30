"""Every choice of a loss or head option trains: a few Adam steps on random data keep every
loss term finite and change the critic (the ablations run on the GPU for 1M updates; a choice
that is broken from its first update should fail here, on the CPU, in seconds)."""

import numpy as np
import pytest
import torch

from rllib_tmd import TMDConfig
from rllib_tmd.tmd.tmd import CHOICES
from rllib_tmd.tmd.tmd_learner import CRITIC_LOSS, TOTAL_LOSS
from rllib_tmd.tmd.torch.tmd_torch_learner import forward_loss_terms, loss_hyperparameters
from tests.tmd.test_module import SMALL, make_module, random_batch

HEADS = [("mrn", "max+l2"), ("mrn", "max"), ("iqe", "max+l2")]


def train_a_few_steps(model: dict, training: dict, steps: int = 10) -> list[dict[str, float]]:
    """``steps`` Adam updates of a small module; the loss terms of each, as floats."""
    torch.manual_seed(0)
    module = make_module(**model)
    hp = loss_hyperparameters(TMDConfig().training(latent_dim=SMALL["latent_dim"], **training))
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-3)
    history = []
    for step in range(steps):
        terms = forward_loss_terms(module, random_batch(step), hp)
        optimiser.zero_grad()
        terms[TOTAL_LOSS].backward()
        optimiser.step()
        history.append({k: v.item() for k, v in terms.items() if v.numel() == 1})
    return history


def test_the_options_tested_here_are_all_the_choices():
    assert set(CHOICES["divergence"]) == {"linex", "mse", "bce"}
    assert {q for q, _ in HEADS} == set(CHOICES["quasimetric"])
    assert {v for _, v in HEADS} == set(CHOICES["mrn_variant"])


@pytest.mark.parametrize("quasimetric,mrn_variant", HEADS)
@pytest.mark.parametrize("stopgrad", [False, True])
@pytest.mark.parametrize("divergence", ["linex", "mse", "bce"])
def test_every_head_divergence_and_stop_gradient_trains(
    quasimetric, mrn_variant, stopgrad, divergence
):
    model = {
        "quasimetric": quasimetric,
        "mrn_variant": mrn_variant,
        "stopgrad_psi_backup": stopgrad,
    }
    history = train_a_few_steps(model, {"divergence": divergence})
    for step, terms in enumerate(history):
        bad = [k for k, v in terms.items() if not np.isfinite(v)]
        assert not bad, f"non-finite {bad} at step {step}"
    assert history[-1][CRITIC_LOSS] != history[0][CRITIC_LOSS]


@pytest.mark.parametrize(
    "ablation",
    [{"contrastive_weight": 0.0}, {"action_invariance_weight": 0.0}, {"zeta": 0.0}],
    ids=["no_nce", "no_action_invariance", "no_temporal_invariance"],
)
def test_each_ablation_trains(ablation):
    history = train_a_few_steps({}, ablation)
    assert all(np.isfinite(v) for terms in history for v in terms.values())


@pytest.mark.parametrize(
    "model",
    [
        {"actor_const_std": False},
        {"actor_layer_norm": True},
        {"layer_norm": False},
        {"ensemble_size": 1},
        {"mixed_precision": "bf16"},
        {"stopgrad_backup_target": False},
    ],
    ids=["learned_std", "actor_layer_norm", "no_layer_norm", "one_member", "bf16", "target_grad"],
)
def test_each_model_option_trains(model):
    history = train_a_few_steps(model, {})
    assert all(np.isfinite(v) for terms in history for v in terms.values())
    assert history[-1][CRITIC_LOSS] != history[0][CRITIC_LOSS]
