"""The warning for a critic whose contrastive accuracy or loss sits at chance (``critic_watch``)."""

import io
import logging

import pytest

from rllib_tmd import TMDConfig
from rllib_tmd.progress import ProgressLine
from rllib_tmd.tmd.critic_watch import AT_CHANCE_KEY, CriticAtChanceWatch
from rllib_tmd.tmd.tmd import contrastive_candidates
from tests.tmd.conftest import tiny_config


def test_warns_once_after_a_long_stretch_at_chance():
    watch = CriticAtChanceWatch(candidates=512, min_updates=100, patience_updates=30)
    at_chance = 1 / 512
    assert watch.observe(50, at_chance) is None  # before min_updates: no verdict
    assert watch.observe(100, at_chance) is None  # the stretch starts here
    assert watch.observe(120, at_chance) is None  # 20 < 30 updates so far
    message = watch.observe(130, at_chance)
    assert message and "since update 100" in message and "2/512" in message
    assert "within 0.01 of log(512)" in message
    assert watch.observe(200, at_chance) is None  # said once


def test_an_accuracy_above_chance_restarts_the_count():
    watch = CriticAtChanceWatch(candidates=512, min_updates=0, patience_updates=30)
    assert watch.observe(10, 1 / 512) is None
    assert watch.observe(30, 12 / 512) is None  # healthy: the stretch is over
    assert watch.observe(50, 2 / 512) is None  # <= 2/512 counts as chance: a new stretch
    assert watch.observe(70, 1 / 512) is None
    assert watch.observe(80, 0.0) is not None


def test_a_contrastive_loss_at_log_candidates_is_chance_even_with_a_higher_accuracy():
    # batch 64 on pointmaze navigate data: L_NCE 4.158-4.159 (log 64 = 4.1589) while the top-1
    # accuracy stays at 0.05-0.11, above 2/64 (benchmarks/results/critic-probe-navigate/)
    watch = CriticAtChanceWatch(candidates=64, min_updates=0, patience_updates=30)
    assert watch.at_chance(0.08, contrastive_loss=4.158)
    assert not watch.at_chance(0.08, contrastive_loss=4.10)  # a learning critic (tuned example)
    assert not watch.at_chance(0.08)  # no loss given: accuracy alone decides
    assert watch.observe(10, 0.08, 4.158) is None
    assert watch.observe(40, 0.09, 4.1585) is not None
    assert watch.stuck_since(40) == 10


def test_stuck_since_names_the_stretch_only_while_it_lasts():
    watch = CriticAtChanceWatch(candidates=256, min_updates=0, patience_updates=30)
    watch.observe(10, 1 / 256)
    assert watch.stuck_since(20) is None  # not long enough yet
    assert watch.observe(40, 1 / 256) is not None
    assert watch.stuck_since(40) == 10
    watch.observe(50, 30 / 256)  # the critic recovers (seen on scene-noisy at ~650k)
    assert watch.stuck_since(50) is None
    assert watch.observe(100, 1 / 256) is None  # a relapse is tracked, not warned twice
    assert watch.stuck_since(130) == 100


def test_the_progress_line_shows_a_critic_at_chance_once_in_full():
    stream = io.StringIO()
    line = ProgressLine(updates_per_iteration=1000, stream=stream)
    line.update({"num_updates_lifetime": 1000, "time_this_iter_s": 1.0})
    line.update({"num_updates_lifetime": 2000, AT_CHANCE_KEY: 1000})
    line.update({"num_updates_lifetime": 3000, AT_CHANCE_KEY: 1000})
    line.update({"num_updates_lifetime": 4000, AT_CHANCE_KEY: float("nan")})  # recovered
    lines = stream.getvalue().splitlines()
    assert "CRITIC AT CHANCE" not in lines[0]
    assert "CRITIC AT CHANCE since 1,000" in lines[1]
    assert "no longer tells goals apart" in lines[2]  # the full warning, once
    assert "CRITIC AT CHANCE since 1,000" in lines[3] and len(lines) == 5
    assert "CRITIC AT CHANCE" not in lines[4]


def test_candidates_include_other_learners_only_with_global_negatives():
    config = TMDConfig().training(train_batch_size_per_learner=256)
    assert contrastive_candidates(config) == 256
    config.learners(num_learners=4)
    assert contrastive_candidates(config) == 256
    config.training(global_negatives=True)
    assert contrastive_candidates(config) == 1024


def test_the_algorithm_logs_the_warning(ray_session, tiny_pointmaze, caplog):
    config = tiny_config(tiny_pointmaze["train"])
    algo = config.build_algo()

    class RecordingWatch(CriticAtChanceWatch):
        def observe(self, updates, accuracy, contrastive_loss=None):
            self.seen = (updates, accuracy, contrastive_loss)
            return super().observe(updates, accuracy, contrastive_loss)

    # a watch for which any accuracy is "chance" (<= 2/1), with no waiting
    algo._critic_watch = RecordingWatch(candidates=1, min_updates=0, patience_updates=0)
    with caplog.at_level(logging.WARNING, logger="rllib_tmd.tmd.tmd"):
        result = algo.train()
    algo.stop()
    assert "the critic has been at chance" in caplog.text
    # it watched the iteration's mean accuracy and contrastive loss
    learner = result["learners"]["default_policy"]
    updates, accuracy, loss = algo._critic_watch.seen
    assert updates == result["num_updates_lifetime"]
    assert accuracy == pytest.approx(learner["contrastive_top1_accuracy"])
    assert loss == pytest.approx(learner["contrastive_loss"])
    # Ray keeps a Tune trial's log lines from the driver: the result carries it too
    assert result[AT_CHANCE_KEY] == result["num_updates_lifetime"]  # its first iteration
