"""The authors' TMD code as the scripts that run it load it (``authors_side_by_side.py``,
``sampler_side_by_side.py``, ``authors_training_run.py``): their agent module from an ``impls``
checkout, and the command-line flags and ``get_config()`` of their settings. No torch and no Ray
here, so that a run of the authors' agent alone needs neither."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def import_authors(impls: Path) -> Any:
    """The authors' ``agents.tmd`` module, imported from ``impls`` (``utils`` must be there)."""
    for rel in ("agents/tmd.py", "utils/networks.py", "utils/flax_utils.py", "utils/encoders.py"):
        if not (impls / rel).is_file():
            raise SystemExit(f"--authors-impls {impls}: missing {rel}")
    sys.path.insert(0, str(impls))
    import importlib

    return importlib.import_module("agents.tmd")


def add_loss_arguments(p: argparse.ArgumentParser) -> None:
    """The authors' loss, optimiser and network-size settings (read by :func:`authors_config`).
    Ours: alpha, zeta, gamma, linex_threshold, diag_backup, stopgrad_psi_backup, lr, with
    action_invariance_weight = contrastive_weight = 1; hidden_dims, actor_hidden_dims,
    latent_dim."""
    p.add_argument("--alpha", type=float, default=0.03)
    p.add_argument("--zeta", type=float, default=0.05)
    p.add_argument("--discount", type=float, default=0.99)
    p.add_argument("--t", type=float, default=3.0)
    p.add_argument("--diag-backup", type=float, default=0.5)
    p.add_argument("--stopgrad-psi-backup", action="store_true")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument(
        "--hidden-dims",
        type=int,
        nargs="+",
        default=None,
        help="the value and actor MLPs' hidden widths (authors' default 512 512 512); ours: "
        "hidden_dims and actor_hidden_dims",
    )
    p.add_argument(
        "--latent-dim", type=int, default=None, help="phi/psi width (authors' default 512)"
    )


def authors_config(tmd_mod: Any, args: argparse.Namespace) -> Any:
    """The authors' ``get_config()`` (module ``agents.tmd`` of their impls) with ``args``'s
    loss, optimiser, batch and (where given) network-size settings."""
    config = tmd_mod.get_config()
    config.alpha = args.alpha
    config.zeta = args.zeta
    config.discount = args.discount
    config.t = args.t
    config.diag_backup = args.diag_backup
    config.stopgrad_psi_backup = args.stopgrad_psi_backup
    config.batch_size = args.batch
    config.lr = args.lr
    if getattr(args, "hidden_dims", None):
        config.value_hidden_dims = tuple(args.hidden_dims)
        config.actor_hidden_dims = tuple(args.hidden_dims)
    if getattr(args, "latent_dim", None):
        config.latent_dim = args.latent_dim
    return config
