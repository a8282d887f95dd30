"""Does a trained critic fit its training data better than unseen data? A CPU check.

Scores a module snapshot (``benchmarks/module_snapshot.py``) on batches drawn with the trial's
own goal sampling from two datasets, typically the one it trained on and OGBench's validation
split (``make-dataset`` writes both), and prints the critic's contrastive loss, top-1
accuracy and mean distances to positive and negative goals on each, next to log(batch)
(``--out`` also keeps L_I and L_T). A
loss much lower on the training data than on the validation data means the critic learned
the training trajectories rather than the maze.

    python benchmarks/critic_holdout.py tmd-pointmaze-medium-navigate-seed0.tar.gz \\
        --data datasets/pointmaze-medium-navigate-v0.npz \\
        datasets/pointmaze-medium-navigate-v0-val.npz --batches 20 --out holdout.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from critic_probe import LOGGED as SCORED  # noqa: E402  (the critic's terms, as the probe logs them)

from rllib_tmd.tmd import tmd_learner as keys  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("snapshot", type=Path, help="a module snapshot (.tar.gz)")
    p.add_argument("--data", type=Path, nargs="+", required=True, help=".npz or Parquet folders")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    return p.parse_args(argv)


def trial_config(params: dict[str, Any]) -> Any:
    """A ``TMDConfig`` with the trial's settings (``params.json``): its loss and goal sampling."""
    from rllib_tmd import TMDConfig

    return TMDConfig().update_from_dict(params)


def score(module: Any, config: Any, data: Path, batches: int, batch: int, seed: int) -> dict:
    """The critic's mean loss terms over ``batches`` batches of ``data`` (no gradient)."""
    import torch

    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.samplers import make_sampler
    from rllib_tmd.tmd.tmd_learner import goal_config_from
    from rllib_tmd.tmd.torch.tmd_torch_learner import forward_loss_terms, loss_hyperparameters

    obs_dim = module.obs_dim
    sampler = make_sampler(
        read_episodes(data, expected_obs_dim=obs_dim), goal_config_from(config), "numpy", seed=seed
    )
    hp = loss_hyperparameters(config)
    values: dict[str, list[float]] = {k: [] for k in SCORED}
    with torch.no_grad():
        for _ in range(batches):
            terms = forward_loss_terms(module, sampler.sample(batch), hp)
            for k in SCORED:
                values[k].append(float(terms[k]))
    return {"data": str(data), **{k: statistics.mean(v) for k, v in values.items()}}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from module_snapshot import load_module

    with tempfile.TemporaryDirectory() as tmp:
        module, info = load_module(args.snapshot, Path(tmp))
    config = trial_config(info.get("params", {}))
    rows = [score(module, config, d, args.batches, args.batch, args.seed) for d in args.data]
    print(f"{args.snapshot.name}: {args.batches} batches of {args.batch}, "
          f"log(batch) = {math.log(args.batch):.3f}")  # fmt: skip
    for row in rows:
        print(
            f"  {Path(row['data']).name}: L_NCE {row[keys.CONTRASTIVE_LOSS]:.3f}, "
            f"top-1 {row[keys.CONTRASTIVE_ACCURACY]:.3f}, "
            f"d(pos) {row[keys.MEAN_DIST_POSITIVE]:.2f}, d(neg) {row[keys.MEAN_DIST_NEGATIVE]:.2f}"
        )
    if args.out:
        args.out.write_text(json.dumps({"snapshot": str(args.snapshot), "rows": rows}, indent=2))
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
