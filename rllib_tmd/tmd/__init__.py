"""TMD in RLlib's per-algorithm layout (compare ``ray/rllib/algorithms/iql``)."""

from rllib_tmd.tmd.tmd import TMD, TMDConfig

__all__ = ["TMD", "TMDConfig"]
