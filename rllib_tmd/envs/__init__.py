"""OGBench envs for RLlib: goal-in-observation wrapper and the OGBench evaluation protocol."""

from rllib_tmd.envs.evaluation import EvalResult, evaluate_policy
from rllib_tmd.envs.ogbench_env import (
    ENV_REGISTRY_NAME,
    OGBenchGoalEnv,
    join_obs_goal,
    register_envs,
    split_obs_goal,
)

__all__ = [
    "ENV_REGISTRY_NAME",
    "EvalResult",
    "OGBenchGoalEnv",
    "evaluate_policy",
    "join_obs_goal",
    "register_envs",
    "split_obs_goal",
]
