"""Data-parallel TMD on the CPU (gloo): two learners sample different batches and average their
gradients (one all-reduce per update in the lean loop), so their weights stay bit-identical."""

import numpy as np

from tests.tmd.conftest import TINY_TRAINING, tiny_config


def test_two_learners_stay_identical_and_see_different_batches(ray_session, tiny_pointmaze):
    config = tiny_config(tiny_pointmaze["train"]).learners(num_learners=2, num_cpus_per_learner=1)
    algo = config.build_algo()
    result = algo.train()
    assert result["num_updates_lifetime"] == TINY_TRAINING["updates_per_iteration"]
    assert np.isfinite(result["learners"]["default_policy"]["contrastive_loss"])

    def weights(learner):
        state = learner.module["default_policy"].state_dict()
        return {k: v.detach().cpu().numpy() for k, v in state.items()}

    def first_batch_sum(learner):
        return learner._learner_index, float(learner._sampler.sample(8)["obs"].sum())

    paths = [r.get() for r in algo.learner_group.foreach_learner(lambda lr: lr.update_path)]
    assert paths == ["lean", "lean"]  # the lean loop, one gradient all-reduce per update
    # no DDP wrapper (its autograd hooks would break CUDA-graph capture of the backward)
    kinds = algo.learner_group.foreach_learner(lambda lr: type(lr.module["default_policy"]))
    assert all("DDP" not in r.get().__name__ for r in kinds)
    w0, w1 = (r.get() for r in algo.learner_group.foreach_learner(weights))
    assert all(np.array_equal(w0[k], w1[k]) for k in w0)
    (i0, s0), (i1, s1) = (r.get() for r in algo.learner_group.foreach_learner(first_batch_sum))
    assert {i0, i1} == {0, 1} and s0 != s1
    algo.stop()
