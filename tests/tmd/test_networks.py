"""The MLPs follow the authors' flax recipe: Glorot-uniform weights, tanh-approximate GELU,
and the actor's output layer initialised with a variance scaled by 1e-2."""

import math

import torch
from torch import nn

from rllib_tmd.tmd.torch.networks import MLP, EnsembleMLP


def test_output_layer_scale_multiplies_the_variance_as_flax_variance_scaling():
    net = MLP(8, [512], 2, final_init_scale=1e-2)
    glorot_bound = math.sqrt(6.0 / (512 + 2))
    weights = net.net[-1].weight
    assert weights.abs().max() <= 0.1 * glorot_bound  # bound * sqrt(1e-2)
    assert weights.abs().max() > 0.09 * glorot_bound  # ... and not 100x smaller
    assert torch.all(net.net[-1].bias == 0)


def test_hidden_activation_is_the_tanh_approximate_gelu():
    for net in (MLP(4, [16, 16], 3), EnsembleMLP(2, 4, [16, 16], 3)):
        gelus = [m for m in net.modules() if isinstance(m, nn.GELU)]
        assert len(gelus) == 2 and all(g.approximate == "tanh" for g in gelus)
