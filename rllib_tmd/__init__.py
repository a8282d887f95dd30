"""rllib-tmd: Temporal Metric Distillation (TMD) for Ray RLlib.

Importing this package registers the ``TMD`` algorithm with Tune's registry so that
experiment specs (``run: TMD``) resolve.
"""

__version__ = "0.1.0"
