"""rllib-tmd: Temporal Metric Distillation (TMD) for Ray RLlib.

Importing this package registers the ``TMD`` algorithm with Tune's registry (so that
experiment specs with ``run: TMD`` resolve) and the ``ogbench-goal`` environment.
"""

__version__ = "0.1.0"


def register() -> None:
    """Registers ``TMD`` with Tune and ``ogbench-goal`` as an environment (idempotent)."""
    from ray.tune.registry import register_trainable

    from rllib_tmd.envs.ogbench_env import register_envs
    from rllib_tmd.tmd import TMD

    register_trainable("TMD", TMD)
    register_envs()


register()

from rllib_tmd.tmd import TMD, TMDConfig  # noqa: E402

__all__ = ["TMD", "TMDConfig", "register", "__version__"]
