"""Framework-free learner pieces of TMD: metric keys and the in-learner update loop.

TMD learners own their data: at ``build()`` each learner loads the episodes of the
configured dataset and samples goal-relabelled batches itself (spec §4), so an RLlib
iteration is ``run_updates(n)`` on every learner and only metrics cross processes.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.core.learner.learner import Learner

# Loss-term and diagnostic metric keys (logged per module).
CONTRASTIVE_LOSS = "contrastive_loss"
ACTION_INVARIANCE_LOSS = "action_invariance_loss"
TEMPORAL_INVARIANCE_LOSS = "temporal_invariance_loss"
CRITIC_LOSS = "critic_loss"
ACTOR_Q_LOSS = "actor_q_loss"
ACTOR_BC_LOSS = "actor_bc_loss"
ACTOR_LOSS = "actor_loss"
TOTAL_LOSS = "total_loss"
CONTRASTIVE_ACCURACY = "contrastive_top1_accuracy"
MEAN_DIST_POSITIVE = "mean_dist_positive"
MEAN_DIST_NEGATIVE = "mean_dist_negative"
MEAN_ABS_Q = "mean_abs_q"
ACTOR_ACTION_MSE = "actor_action_mse"  # how far the policy's action is from the data's
NUM_UPDATES_LIFETIME = "num_updates_lifetime"

LOSS_TERM_KEYS = (
    CONTRASTIVE_LOSS,
    ACTION_INVARIANCE_LOSS,
    TEMPORAL_INVARIANCE_LOSS,
    CRITIC_LOSS,
    ACTOR_Q_LOSS,
    ACTOR_BC_LOSS,
    ACTOR_LOSS,
    TOTAL_LOSS,
)


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or inf; names the term and the update number."""

    def __init__(self, term: str, update: int, value: float) -> None:
        super().__init__(term, update, value)  # args as given: copies and pickles (Ray) work
        self.term, self.update, self.value = term, update, value

    def __str__(self) -> str:
        return (
            f"TMD loss term '{self.term}' became {self.value} at update {self.update}; training "
            "stopped (the last checkpoint written before this update is still valid)."
        )


class TMDLearner(Learner):
    """Adds ``run_updates``: sample and update ``n`` times inside the learner process."""

    def run_updates(self, num_updates: int) -> dict[str, Any]:
        """Runs ``num_updates`` gradient steps on self-sampled batches; returns reduced metrics."""
        raise NotImplementedError


def goal_config_from(config: Any) -> Any:
    """The goal-sampling settings (spec §4) of a ``TMDConfig``."""
    from rllib_tmd.data.goals import GoalConfig

    return GoalConfig(
        discount=config.gamma,
        value_p_curgoal=config.value_p_curgoal,
        value_p_trajgoal=config.value_p_trajgoal,
        value_p_randomgoal=config.value_p_randomgoal,
        value_geom_sample=config.value_geom_sample,
        actor_p_curgoal=config.actor_p_curgoal,
        actor_p_trajgoal=config.actor_p_trajgoal,
        actor_p_randomgoal=config.actor_p_randomgoal,
        actor_geom_sample=config.actor_geom_sample,
    )


def build_learner_sampler(config: Any, device: Any, learner_index: int) -> Any:
    """Loads the configured dataset and returns this learner's goal sampler.

    Each learner draws from its own random stream (seed + learner index), so data-parallel
    learners see different batches.
    """
    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.samplers import make_sampler

    obs_dim = int(config.observation_space.shape[0]) // 2
    episodes = read_episodes(config.input_, expected_obs_dim=obs_dim)
    seed = (config.seed or 0) * 1_000 + learner_index
    return make_sampler(
        episodes, goal_config_from(config), kind=config.sampler, device=device, seed=seed
    )
