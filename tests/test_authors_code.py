"""benchmarks/authors_code.py: the authors' settings from our command-line flags (no JAX)."""

import argparse
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from authors_code import add_loss_arguments, authors_config  # noqa: E402


def stand_in_module() -> types.SimpleNamespace:
    """An ``agents.tmd`` stand-in whose ``get_config()`` holds the authors' size defaults."""
    defaults = {"value_hidden_dims": (512, 512, 512), "actor_hidden_dims": (512, 512, 512)}
    return types.SimpleNamespace(
        get_config=lambda: types.SimpleNamespace(**defaults, latent_dim=512)
    )


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    add_loss_arguments(p)
    return p.parse_args(list(argv))


def test_network_sizes_reach_the_authors_config_only_when_given():
    config = authors_config(stand_in_module(), parse("--batch", "128"))
    assert config.value_hidden_dims == (512, 512, 512) and config.latent_dim == 512
    assert config.batch_size == 128 and config.zeta == 0.05  # the released weighting
    small = authors_config(
        stand_in_module(), parse("--hidden-dims", "256", "256", "--latent-dim", "64")
    )
    assert small.value_hidden_dims == small.actor_hidden_dims == (256, 256)
    assert small.latent_dim == 64
