"""OGBench's GCIVL baseline trained on our data and scored by our evaluation: a check of a
generated dataset (and of the evaluation) against OGBench's published GCIVL number.

GCBC settled this for pointmaze-teleport-stitch (36.1 % on our data vs OGBench's 31.5 %,
RESULTS.md). On scene-noisy GCBC and CRL score 1 % in OGBench, too little to tell a broken
dataset from a working one, while GCIVL scores 26 +- 5 %. If GCIVL reaches that level on our
scene-noisy data, the data and the evaluation support the paper's success levels and the gap
of our TMD (~1 %) is in TMD's training; if it does not, the data or the evaluation differ.

GCIVL, as OGBench runs it (its defaults; ``--alpha 10`` for every dataset in its commands):
- value ``V(s, g)``: an ensemble of 2 MLPs (3 x 512, GELU, LayerNorm) on concat(s, g), and a
  target copy updated by Polyak averaging (tau 0.005) after every step;
- value goals: 20 % the current state, 50 % a geometric future state of the trajectory, 30 % a
  random dataset state (our ``rllib_tmd.data.goals``); reward ``-1`` until the goal is the
  current state (reward 0, and no bootstrap);
- value loss: expectile (0.9) regression of ``V_k(s, g)`` on ``r + discount * V'_k(s', g)``,
  the expectile weight taken from the target networks' advantage
  ``r + discount * min_k V'_k(s', g) - mean_k V'_k(s, g)``;
- actor: a Gaussian with fixed unit std (MLP 3 x 512, no LayerNorm), trained by AWR on
  ``min(exp(alpha * (V(s', g) - V(s, g))), 100)``-weighted log-likelihood of the data actions,
  ``V`` the ensemble mean without gradient; actor goals: uniform future states of the trajectory;
- one Adam (lr 3e-4) over value and actor, batch 1024, 1M steps.

The update runs through the package's lean loop (``rllib_tmd.tmd.torch.fast_update``: on a GPU
compiled with torch.compile and replayed as one CUDA graph per update), without RLlib:

    python benchmarks/gcivl_check.py --dataset datasets/scene-noisy-v0 --steps 1000000 \\
        --eval-every 100000 --eval-start 800000 --out runs/gcivl-scene-noisy-seed0

Writes ``<out>/log.jsonl`` (mean loss terms every ``--log-every`` steps, and each evaluation)
and ``<out>/results.json`` (settings, evaluations, the score: the mean of the last three
evaluations), rewritten after every evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rllib_tmd.data.goals import GoalConfig  # noqa: E402
from rllib_tmd.tmd.torch.networks import MLP, EnsembleMLP  # noqa: E402

EXP_ADVANTAGE_CAP = 100.0  # OGBench's cap on the AWR weight
TOTAL = "total_loss"


# ---- the GCIVL objective, term by term ---------------------------------------------------------
def goal_rewards(goal_reached: Tensor) -> tuple[Tensor, Tensor]:
    """OGBench's sparse goal reward: ``(reward, mask)`` ``[B]`` from ``goal_reached`` ``[B]``
    (1.0 where the value goal is the current state): reward ``goal_reached - 1``, mask
    ``1 - goal_reached`` (no bootstrap at the goal)."""
    return goal_reached - 1.0, 1.0 - goal_reached


def expectile_loss(advantage: Tensor, diff: Tensor, expectile: float) -> Tensor:
    """``w * diff**2`` with ``w = expectile`` where ``advantage >= 0``, else ``1 - expectile``."""
    weight = torch.where(advantage >= 0, expectile, 1.0 - expectile)
    return weight * diff.square()


def gcivl_value_loss(
    v: Tensor,
    v_target: Tensor,
    next_v_target: Tensor,
    reward: Tensor,
    mask: Tensor,
    discount: float,
    expectile: float,
) -> Tensor:
    """Sum over ensemble members of the mean expectile loss.

    ``v``: online ``V_k(s, g)`` ``[E, B]``; ``v_target`` / ``next_v_target``: target
    ``V'_k(s, g)`` / ``V'_k(s', g)`` ``[E, B]``; ``reward``, ``mask``: ``[B]``.
    """
    bootstrap = discount * mask * next_v_target  # [E, B]
    advantage = reward + discount * mask * next_v_target.min(0).values - v_target.mean(0)
    targets = reward + bootstrap
    return expectile_loss(advantage, targets - v, expectile).mean(dim=1).sum()


def awr_weights(v: Tensor, next_v: Tensor, alpha: float) -> Tensor:
    """``min(exp(alpha * (mean_k V_k(s', g) - mean_k V_k(s, g))), 100)`` ``[B]`` from
    ``[E, B]`` values (no gradient is meant to flow through them)."""
    advantage = next_v.mean(0) - v.mean(0)
    return torch.exp(alpha * advantage).clamp(max=EXP_ADVANTAGE_CAP)


def unit_gaussian_log_prob(mean: Tensor, actions: Tensor) -> Tensor:
    """``log N(actions; mean, I)`` ``[B]`` from ``[B, A]``."""
    return -0.5 * (actions - mean).square().sum(-1) - 0.5 * actions.shape[-1] * math.log(
        2 * math.pi
    )


def awr_actor_loss(mean: Tensor, actions: Tensor, weights: Tensor) -> Tensor:
    """``-mean(weights * log pi(actions | s, g))`` for the fixed-std Gaussian policy."""
    return -(weights * unit_gaussian_log_prob(mean, actions)).mean()


@torch.no_grad()
def polyak_(target: Iterable[Tensor], online: Iterable[Tensor], tau: float) -> None:
    """``target <- tau * online + (1 - tau) * target``, in place."""
    torch._foreach_lerp_(list(target), list(online), tau)


# ---- model and update --------------------------------------------------------------------------
class GCIVL(nn.Module):
    """Value ensemble ``[E, B]``, its target copy and the policy mean ``[B, A]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 512, layers: int = 3) -> None:
        super().__init__()
        dims = [hidden] * layers
        self.value = EnsembleMLP(2, 2 * obs_dim, dims, 1, layer_norm=True)
        self.target_value = EnsembleMLP(2, 2 * obs_dim, dims, 1, layer_norm=True)
        self.target_value.load_state_dict(self.value.state_dict())
        self.target_value.requires_grad_(False)
        self.actor = MLP(2 * obs_dim, dims, act_dim, layer_norm=False, final_init_scale=1e-2)

    @staticmethod
    def values(net: EnsembleMLP, obs: Tensor, goals: Tensor) -> Tensor:
        return net(torch.cat([obs, goals], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: Tensor, goals: Tensor) -> Tensor:
        """Deterministic action (the mean, clipped to [-1, 1]) ``[B, A]``."""
        return self.actor(torch.cat([obs, goals], dim=-1)).clamp(-1.0, 1.0)


def gcivl_terms(
    model: GCIVL,
    batch: dict[str, Tensor],
    *,
    discount: float,
    expectile: float,
    alpha: float,
    tau: float,
) -> dict[str, Tensor]:
    """One GCIVL step's loss terms (``TOTAL`` is differentiated). The target network is
    averaged towards the online one first: the step after OGBench averages it, same values."""
    polyak_(model.target_value.parameters(), model.value.parameters(), tau)
    obs, next_obs, goals = batch["obs"], batch["next_obs"], batch["value_goals"]
    reward, mask = goal_rewards(batch["goal_reached"])
    with torch.no_grad():
        v_target = model.values(model.target_value, obs, goals)
        next_v_target = model.values(model.target_value, next_obs, goals)
        actor_goals = batch["actor_goals"]
        weights = awr_weights(
            model.values(model.value, obs, actor_goals),
            model.values(model.value, next_obs, actor_goals),
            alpha,
        )
    v = model.values(model.value, obs, goals)
    value_loss = gcivl_value_loss(v, v_target, next_v_target, reward, mask, discount, expectile)
    mean = model.actor(torch.cat([obs, actor_goals], dim=-1))
    actor_loss = awr_actor_loss(mean, batch["actions"], weights)
    return {
        TOTAL: value_loss + actor_loss,
        "value_loss": value_loss,
        "actor_loss": actor_loss,
        "v_mean": v.mean(),
        "awr_weight_mean": weights.mean(),
        "actor_mse": (mean.clamp(-1.0, 1.0) - batch["actions"]).square().mean(),
    }


class GoalReachedSampler:
    """A :class:`rllib_tmd.data.samplers.TorchSampler` whose batches also carry
    ``goal_reached`` ``[B]``: 1.0 where the value goal is the transition's own state."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler

    def sample(self, batch_size: int) -> dict[str, Tensor]:
        batch, ix = self.sampler.sample_with_indices(batch_size)
        batch["goal_reached"] = (ix.value_goals == ix.rows).float()
        return batch


def gcivl_goal_config(discount: float) -> GoalConfig:
    """OGBench GCIVL's goal mixes (see the module docstring)."""
    return GoalConfig(
        discount=discount,
        value_p_curgoal=0.2,
        value_p_trajgoal=0.5,
        value_p_randomgoal=0.3,
        value_geom_sample=True,
        actor_p_curgoal=0.0,
        actor_p_trajgoal=1.0,
        actor_p_randomgoal=0.0,
        actor_geom_sample=False,
    )


# ---- training run ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True, help="Parquet folder or OGBench .npz")
    p.add_argument("--env", default=None, help="default: the env the dataset names")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--discount", type=float, default=0.99)
    p.add_argument("--expectile", type=float, default=0.9)
    p.add_argument("--alpha", type=float, default=10.0, help="AWR temperature")
    p.add_argument("--tau", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="torch.compile the step's forward and losses (auto: on CUDA); it falls back to "
        "eager if compiling fails",
    )
    p.add_argument("--log-every", type=int, default=1000, help="steps per log line")
    p.add_argument("--eval-every", type=int, default=100_000)
    p.add_argument("--eval-start", type=int, default=0, help="no evaluation before this step")
    p.add_argument("--eval-episodes", type=int, default=50, help="per task (OGBench: 50)")
    p.add_argument("--eval-workers", type=int, default=None, help="env processes (default: auto)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this long")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.eval_every % args.log_every or args.eval_start % args.log_every:
        p.error("--eval-every and --eval-start must be multiples of --log-every")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from rllib_tmd.data.catalog import describe_dataset
    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.samplers import TorchSampler
    from rllib_tmd.envs.evaluation import evaluate_policy, fresh_evaluation_seed, record_score
    from rllib_tmd.tmd.torch.fast_update import (
        ChunkedBatches,
        FastUpdateOptions,
        FastUpdater,
        TermHistory,
        batch_nbytes,
        chunk_capacity,
    )

    args = parse_args(argv)
    env = args.env or describe_dataset(args.dataset)["env_name"]
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    episodes = read_episodes(args.dataset, engine="pyarrow")
    obs_dim, act_dim = episodes.observations.shape[1], episodes.actions.shape[1]
    sampler = GoalReachedSampler(
        TorchSampler(episodes, gcivl_goal_config(args.discount), device=device, seed=args.seed)
    )
    model = GCIVL(obs_dim, act_dim).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=args.lr)
    cuda = device.type == "cuda"
    updater = FastUpdater(
        lambda m, b: gcivl_terms(
            m, b, discount=args.discount, expectile=args.expectile, alpha=args.alpha, tau=args.tau
        ),
        TOTAL,
        FastUpdateOptions(
            cuda_graph=cuda,
            fused_adam=cuda,
            torch_compile=args.compile == "on" or (args.compile == "auto" and cuda),
        ),
    )
    capacity = chunk_capacity(batch_nbytes(args.batch, obs_dim, act_dim), 64 << 20, args.log_every)
    batches = ChunkedBatches(sampler, args.batch, capacity)
    args.out.mkdir(parents=True, exist_ok=True)
    header = {
        "command": "python benchmarks/gcivl_check.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "env": env,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    print(f"GCIVL on {args.dataset} ({env}), {header['device']}", flush=True)
    log = (args.out / "log.jsonl").open("w")
    evals: list[dict[str, Any]] = []
    start, step = time.perf_counter(), 0
    while step < args.steps:
        n = min(args.log_every, args.steps - step)
        history = TermHistory(n, device)
        window = time.perf_counter()
        updater.run(model, [optimizer], batches, n, history)
        terms = history.to_host().mean(0)  # waits for the device: the window's time is honest
        step += n
        row = dict(zip(history.names, terms.tolist()))
        if not all(math.isfinite(v) for v in row.values()):
            raise SystemExit(f"GCIVL: a non-finite loss term at step {step:,}: {row}")
        row.update(step=step, updates_per_s=n / (time.perf_counter() - window), path=updater.path)
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(
            f"{step:>9,} steps {row['updates_per_s']:7.1f}/s  value {row['value_loss']:.4f}"
            f"  actor {row['actor_loss']:.3f}  v {row['v_mean']:.1f}  mse {row['actor_mse']:.3f}",
            flush=True,
        )
        over_time = args.max_minutes and time.perf_counter() - start > 60 * args.max_minutes
        due = step % args.eval_every == 0 and step >= args.eval_start
        if due or step == args.steps or over_time:
            result = evaluate_policy(
                lambda o, g: (
                    model.act(torch.as_tensor(o, device=device), torch.as_tensor(g, device=device))
                    .cpu()
                    .numpy()
                ),
                env,
                episodes_per_task=args.eval_episodes,
                seed=fresh_evaluation_seed(args.seed, step),
                num_workers=args.eval_workers,
            )
            evals.append(result.record(step))
            log.write(json.dumps({"step": step, "evaluation": evals[-1]}) + "\n")
            log.flush()
            print(f"evaluation at {step:,}: {evals[-1]}", flush=True)
            results = {**header, "steps": step, "evaluations": evals, "score": record_score(evals)}
            (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        if over_time:
            print(f"stopping at {step:,} steps: --max-minutes {args.max_minutes}", flush=True)
            break
    return json.loads((args.out / "results.json").read_text())


if __name__ == "__main__":
    main()
