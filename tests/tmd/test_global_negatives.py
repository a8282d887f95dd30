"""``global_negatives``: with N data-parallel learners the contrastive loss sees all N x B
state-actions. Two gloo processes with B each must give the loss (and, after DDP's gradient
averaging, the gradients) of one learner with the concatenated 2B batch."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rllib_tmd.tmd.default_tmd_rl_module import CONTRASTIVE_OFFSET, DIST_CONTRASTIVE
from rllib_tmd.tmd.torch.distributed import all_gather_with_grad, data_parallel_rank_and_size
from rllib_tmd.tmd.torch.tmd_torch_learner import contrastive_loss
from tests.tmd.conftest import tiny_config
from tests.tmd.test_module import SMALL, make_module, random_batch

WORLD = 2


def contrastive_loss_and_grads(module, batch) -> tuple[float, float, dict[str, np.ndarray]]:
    """(loss, accuracy, gradients of the critic) of the contrastive term alone."""
    out = module.forward_train(batch)
    loss, accuracy = contrastive_loss(
        out[DIST_CONTRASTIVE], SMALL["latent_dim"], out[CONTRASTIVE_OFFSET]
    )
    module.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.critic.named_parameters() if p.grad is not None}
    return loss.detach(), accuracy.detach(), grads


def halves(batch: dict, rank: int) -> dict:
    size = next(iter(batch.values())).shape[0] // WORLD
    return {k: v[rank * size : (rank + 1) * size] for k, v in batch.items()}


def _worker(rank: int, port: int, queue) -> None:
    dist.init_process_group("gloo", f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(0)
        module = make_module(global_negatives=True)
        loss, accuracy, grads = contrastive_loss_and_grads(module, halves(random_batch(), rank))
        for tensor in (loss, accuracy, *grads.values()):
            dist.all_reduce(tensor)  # DDP averages gradients (and we average the metrics)
            tensor /= WORLD
        x = torch.full((2, 3), float(rank), requires_grad=True)
        gathered = all_gather_with_grad(x, dim=0)
        (gathered * torch.arange(4.0).unsqueeze(1)).sum().backward()
        if rank == 0:
            grads = {k: v.numpy() for k, v in grads.items()}
            queue.put((float(loss), float(accuracy), grads, gathered.tolist(), x.grad.tolist()))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_learners_with_global_negatives_equal_one_learner_with_twice_the_batch():
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(free_port(), queue), nprocs=WORLD, start_method="spawn")
    loss2, acc2, grads2, gathered, x_grad = queue.get()

    torch.manual_seed(0)
    single = make_module(global_negatives=True)  # no process group: plain local negatives
    loss1, acc1, grads1 = contrastive_loss_and_grads(single, random_batch())

    assert loss2 == pytest.approx(float(loss1), rel=1e-6)
    assert acc2 == pytest.approx(float(acc1))
    assert grads1.keys() == grads2.keys()
    for name, grad in grads1.items():
        np.testing.assert_allclose(grads2[name], grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    # the gather itself: rank r's rows at r * 2 ..; rank 0's gradient is the sum over ranks
    # of d(sum_i i * row_i)/d(own rows) = rows 0, 1 of arange(4) (each rank sees the same loss)
    assert gathered == [[0.0] * 3, [0.0] * 3, [1.0] * 3, [1.0] * 3]
    assert x_grad == [[0.0] * 3, [2.0] * 3]


def test_without_a_process_group_global_negatives_change_nothing():
    assert data_parallel_rank_and_size() == (0, 1)
    torch.manual_seed(0)
    local = contrastive_loss_and_grads(make_module(), random_batch())
    torch.manual_seed(0)
    flagged = contrastive_loss_and_grads(make_module(global_negatives=True), random_batch())
    assert float(local[0]) == float(flagged[0])


def test_global_negatives_through_two_rllib_learners(ray_session, tiny_pointmaze):
    config = tiny_config(tiny_pointmaze["train"], global_negatives=True).learners(
        num_learners=2, num_cpus_per_learner=1
    )
    algo = config.build_algo()
    try:
        result = algo.train()["learners"]["default_policy"]
        # 2 x 64 candidates per goal: the loss starts near log(128), not log(64)
        assert result["contrastive_loss"] == pytest.approx(np.log(128), abs=0.5)

        def weights(learner):
            state = learner.module["default_policy"].state_dict()
            return {k: v.detach().cpu().numpy() for k, v in state.items()}

        w0, w1 = (r.get() for r in algo.learner_group.foreach_learner(weights))
        assert all(np.array_equal(w0[k], w1[k]) for k in w0)
    finally:
        algo.stop()
