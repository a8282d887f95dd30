"""rllib-tmd: Temporal Metric Distillation (TMD) for Ray RLlib.

Importing this package registers the ``TMD`` algorithm with Tune's registry (so that
experiment specs with ``run: TMD`` resolve) and the ``ogbench-goal`` environment. Ray is a
dependency; only without it (the env and data subpackages alone) is nothing registered.
"""

__version__ = "0.1.0"


def register() -> None:
    """Registers ``TMD`` with Tune and ``ogbench-goal`` as an environment (idempotent)."""
    from ray.tune.registry import register_trainable

    from rllib_tmd.envs.ogbench_env import register_envs
    from rllib_tmd.tmd import TMD

    register_trainable("TMD", TMD)
    register_envs()


def __getattr__(name: str):
    """Without Ray (a tool that only uses ``rllib_tmd.envs`` or ``rllib_tmd.data``, such as
    ``benchmarks/authors_training_run.py`` on a machine without the Ray wheel), ``TMD`` and
    ``TMDConfig`` are missing: say why instead of a bare AttributeError."""
    if name in ("TMD", "TMDConfig"):
        raise ImportError(f"rllib_tmd.{name} needs Ray RLlib: pip install 'ray[rllib]'")
    raise AttributeError(f"module 'rllib_tmd' has no attribute {name!r}")


try:
    register()
except ModuleNotFoundError as error:
    if (error.name or "").split(".")[0] != "ray":  # Ray is there, something else is missing
        raise
else:
    from rllib_tmd.tmd import TMD, TMDConfig  # noqa: E402

__all__ = ["TMD", "TMDConfig", "register", "__version__"]
