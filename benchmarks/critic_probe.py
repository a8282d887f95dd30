"""Does a TMD configuration's critic learn on a dataset? A few thousand updates on the CPU.

The critic of some loss weightings collapses early: every distance becomes the same number,
the contrastive loss sits at log(batch) and the actor is left with behaviour cloning
(RESULTS.md: the released weighting on scene-noisy and, at the paper's sizes, on the
pointmaze navigate datasets).
On pointmaze data that shows within ~500 updates even at batch 64, so a GPU run need not
find out. This script trains a tuned example's TMD (its loss, networks and goal sampling,
through the same functions as the learner) in one process, without an RLlib algorithm (an
``.npz`` dataset needs no Ray at all; a Parquet folder is read through Ray Data, which starts
a local Ray for the read), and reports the critic every
``--log-every`` updates: L_NCE against log(batch), the top-1 accuracy against 1/batch, the
mean distance to positive and to negative goals, L_I and L_T.

On pointmaze each log point also scores the learned distance d(psi(s), psi(g)) against the
maze (``rllib_tmd.envs.maze_distances``, as evaluations do): ``distance_rank_corr_bfs``
(Spearman's rho with BFS distances between cell centres) and ``greedy_descent/overall`` (the
share of the 5 tasks whose goal a walk downhill on it reaches). Both ignore the distances'
scale: a collapsed critic keeps ordering cells like its initialisation does (rho ~0.55 on
large-navigate, near the straight-line distance's) by differences too small to use, so the
verdict rests on the loss.

With ``--actions`` (an ``.npz`` dataset) each log point also asks the critic about actions
(``benchmarks/action_probe.py`` on a fixed batch of the dataset's transitions with future goals):
``data_rank`` / ``actor_rank`` (the share of random actions with a lower Q than the data's / the
actor's action; 0.5: no preference) and ``q_action_change`` next to ``q_goal_change``. A critic
whose Q does not depend on the action leaves the actor nothing but behaviour cloning.

Verdict at the end, from the last ``--log-every`` updates: **collapsed** when the mean
contrastive loss is within ``--margin`` of log(batch) (every goal's softmax uniform over the
batch), else **learning**.

Usage::

    rllib-tmd make-dataset pointmaze-large-navigate-v0 --out datasets
    python benchmarks/critic_probe.py --file tuned_examples/tmd/pointmaze-large-navigate.yaml \\
        --dataset datasets/pointmaze-large-navigate-v0.npz --steps 2000 --batch 64
    # the same at the paper's sizes, where this (released) weighting collapses
    ... --override latent_dim=512 hidden_dims=[512,512,512] actor_hidden_dims=[512,512,512]

Writes ``--out`` (JSON: settings, a row per log point, verdict) when given. ~32 s per 1,000
updates at batch 64 on 2 CPU cores with the paper's networks (latent 512, 3x512 MLPs), ~9 s
with large-navigate's (latent 64, 2x256).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rllib_tmd.experiments import apply_overrides, load_experiment  # noqa: E402
from rllib_tmd.tmd import tmd_learner as keys  # noqa: E402
from rllib_tmd.tmd.tmd import TMDConfig, module_distance  # noqa: E402
from rllib_tmd.tmd.tmd_learner import build_learner_sampler  # noqa: E402
from rllib_tmd.tmd.torch.tmd_torch_learner import (  # noqa: E402
    forward_loss_terms,
    loss_hyperparameters,
)

LOGGED = (
    keys.CONTRASTIVE_LOSS,
    keys.CONTRASTIVE_ACCURACY,
    keys.MEAN_DIST_POSITIVE,
    keys.MEAN_DIST_NEGATIVE,
    keys.ACTION_INVARIANCE_LOSS,
    keys.TEMPORAL_INVARIANCE_LOSS,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--file", required=True, help="a tuned example, e.g. tuned_examples/tmd/X.yaml")
    p.add_argument("--dataset", required=True, help="dataset folder or .npz (replaces input_)")
    p.add_argument("--override", nargs="*", default=[], help="config key=value, as in train")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--margin", type=float, default=0.01, help="collapsed: L_NCE > log B - this")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--actions", action="store_true", help="also probe the critic's Q over actions (.npz)"
    )
    p.add_argument("--out", help="JSON results file")
    return p.parse_args(argv)


def probe_config(args: argparse.Namespace) -> TMDConfig:
    """The tuned example's TMD config with the overrides, the dataset and the batch."""
    _, spec = load_experiment(args.file)
    config = dict(apply_overrides(spec, args.override).get("config") or {})
    config.update(input_=str(Path(args.dataset).resolve()), train_batch_size_per_learner=args.batch)
    config.update(seed=args.seed, num_gpus_per_learner=0)
    tmd = TMDConfig().update_from_dict(config)
    tmd.validate()  # reads the spaces from the dataset
    return tmd


def maze_checks(module: torch.nn.Module, env_name: str | None) -> dict[str, float]:
    """``critic_checks`` of the module's learned distance (ensemble mean) on a pointmaze env;
    ``{}`` elsewhere."""
    from rllib_tmd.envs.maze_distances import critic_checks

    return critic_checks(functools.partial(module_distance, module), env_name or "")


def action_checks(args: argparse.Namespace) -> Any:
    """``module -> {key: value}``: the action probe's ``ACTION_KEYS`` for a fixed batch of
    ``LOG_POINT_SAMPLES`` transitions of the ``.npz`` dataset, each with a uniform future goal."""
    from action_probe import LOG_POINT_SAMPLES, actor_goal_batch, log_point_numbers

    if Path(args.dataset).suffix != ".npz":
        raise SystemExit("--actions needs an .npz dataset")
    batch = actor_goal_batch(Path(args.dataset), LOG_POINT_SAMPLES, args.seed)

    def check(module: torch.nn.Module) -> dict[str, float]:
        was_training = module.training
        module.eval()
        numbers = log_point_numbers(module, batch, seed=args.seed)
        module.train(was_training)
        return numbers

    return check


def verdict(nce_window: list[float], batch: int, margin: float) -> str:
    """``collapsed`` when the mean contrastive loss is within ``margin`` of log(batch)."""
    return "collapsed" if statistics.mean(nce_window) > math.log(batch) - margin else "learning"


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = probe_config(args)
    module = config.build_module()
    sampler = build_learner_sampler(config, torch.device("cpu"), learner_index=0)
    hp = loss_hyperparameters(config)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
    action_check = action_checks(args) if args.actions else None
    rows, window, start = [], {k: [] for k in LOGGED}, time.perf_counter()
    print(f"log(batch) = {math.log(args.batch):.3f}, chance accuracy = {1 / args.batch:.4f}")
    for step in range(1, args.steps + 1):
        batch = sampler.sample(args.batch)
        optimizer.zero_grad(set_to_none=True)
        terms = forward_loss_terms(module, batch, hp)
        terms[keys.TOTAL_LOSS].backward()
        optimizer.step()
        for k in LOGGED:
            window[k].append(float(terms[k].detach()))
        if step % args.log_every == 0 or step == args.steps:
            row = {"updates": step, **{k: statistics.mean(v) for k, v in window.items()}}
            row.update(maze_checks(module, config.ogbench_env))
            if action_check:
                row.update(action_check(module))
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            print(format_row(row), flush=True)
            last_nce, window = window[keys.CONTRASTIVE_LOSS], {k: [] for k in LOGGED}
    result = {
        "file": args.file,
        "dataset": args.dataset,
        "overrides": args.override,
        "batch": args.batch,
        "seed": args.seed,
        "log_batch": math.log(args.batch),
        "loss_hyperparameters": hp,
        "rows": rows,
        "verdict": verdict(last_nce, args.batch, args.margin),
    }
    print(f"critic: {result['verdict']} (last {len(last_nce)} updates)")
    return result


def format_row(row: dict[str, Any]) -> str:
    from rllib_tmd.envs.maze_distances import DESCENT_KEY, METRIC_KEY

    text = (
        f"{row['updates']:>7,}  {row['seconds']:6.0f} s  L_NCE {row[keys.CONTRASTIVE_LOSS]:.3f}"
        f"  acc {row[keys.CONTRASTIVE_ACCURACY]:.3f}  d+ {row[keys.MEAN_DIST_POSITIVE]:.3f}"
        f"  d- {row[keys.MEAN_DIST_NEGATIVE]:.3f}  L_I {row[keys.ACTION_INVARIANCE_LOSS]:.3f}"
        f"  L_T {row[keys.TEMPORAL_INVARIANCE_LOSS]:.3f}"
    )
    if METRIC_KEY in row:
        text += f"  rho {row[METRIC_KEY]:.2f}  descent {row[f'{DESCENT_KEY}/overall']:.1f}"
    if "data_rank" in row:
        text += (
            f"  ranks data {row['data_rank']:.2f} actor {row['actor_rank']:.2f}"
            f"  dQ actions {row['q_action_change']:.3f} goals {row['q_goal_change']:.2f}"
        )
    return text


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
