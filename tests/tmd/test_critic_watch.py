"""The warning for a critic whose contrastive accuracy sits at chance (``critic_watch``)."""

import logging

from rllib_tmd import TMDConfig
from rllib_tmd.tmd.critic_watch import ChanceAccuracyWatch
from rllib_tmd.tmd.tmd import contrastive_candidates
from tests.tmd.conftest import TINY_TRAINING


def test_warns_once_after_a_long_stretch_at_chance():
    watch = ChanceAccuracyWatch(candidates=512, min_updates=100, patience_updates=30)
    at_chance = 1 / 512
    assert watch.observe(50, at_chance) is None  # before min_updates: no verdict
    assert watch.observe(100, at_chance) is None  # the stretch starts here
    assert watch.observe(120, at_chance) is None  # 20 < 30 updates so far
    message = watch.observe(130, at_chance)
    assert message and "since update 100" in message and "2/512" in message
    assert watch.observe(200, at_chance) is None  # said once


def test_an_accuracy_above_chance_restarts_the_count():
    watch = ChanceAccuracyWatch(candidates=512, min_updates=0, patience_updates=30)
    assert watch.observe(10, 1 / 512) is None
    assert watch.observe(30, 12 / 512) is None  # healthy: the stretch is over
    assert watch.observe(50, 2 / 512) is None  # <= 2/512 counts as chance: a new stretch
    assert watch.observe(70, 1 / 512) is None
    assert watch.observe(80, 0.0) is not None


def test_candidates_include_other_learners_only_with_global_negatives():
    config = TMDConfig().training(train_batch_size_per_learner=256)
    assert contrastive_candidates(config) == 256
    config.learners(num_learners=4)
    assert contrastive_candidates(config) == 256
    config.training(global_negatives=True)
    assert contrastive_candidates(config) == 1024


def test_the_algorithm_logs_the_warning(ray_session, tiny_pointmaze, caplog):
    config = TMDConfig().offline_data(input_=str(tiny_pointmaze["train"])).training(**TINY_TRAINING)
    algo = config.build_algo()
    # a watch for which any accuracy is "chance" (<= 2/1), with no waiting
    algo._critic_watch = ChanceAccuracyWatch(candidates=1, min_updates=0, patience_updates=0)
    with caplog.at_level(logging.WARNING, logger="rllib_tmd.tmd.tmd"):
        algo.train()
    algo.stop()
    assert "contrastive top-1 accuracy has been at chance" in caplog.text
