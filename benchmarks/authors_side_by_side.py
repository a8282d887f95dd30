"""Numerical side-by-side of one TMD update: the authors' released JAX agent vs our torch module.

Both sides start from the SAME weights (the flax initialisation of ``TMDAgent.create`` copied
into :class:`DefaultTMDTorchRLModule`) and get the SAME batch at every step. Each step runs the
authors' ``agent.update(batch)`` (critic + actor loss, one ``optax.adam``) and our update as the
learner composes it (``forward_loss_terms`` -> total loss -> backward -> ``torch.optim.Adam``,
lr 3e-4, no clipping), on the CPU in float32 (our plain-torch path: ``quasimetric_impl="torch"``).

Recorded per step: every loss term both sides report (computed before that step's update),
diagnostics computed with the authors' definitions on both sides (categorical accuracy, mean
distance, logits, q, log-prob, mse, gradient max/min/norm); at step 0 the full gradients of
every parameter (authors' ``jax.grad`` of ``total_loss`` vs our ``.grad``); every
``--param-every`` steps the max abs difference of all parameters, also relative to how far
they moved from the common initialisation.

The authors' code is not part of this repository: point ``--authors-impls`` at the ``impls``
folder of a checkout of github.com/vivekmyers/tmd-release (``agents/tmd.py``,
``utils/networks.py``) plus OGBench's ``utils/flax_utils.py`` and ``utils/encoders.py``.
It needs jax, flax, optax, distrax and ml_collections next to our torch package, e.g. a venv
made with ``python3 -m venv --system-site-packages``.

Usage::

    /tmp/jaxenv/bin/python benchmarks/authors_side_by_side.py --authors-impls /tmp/authors/impls \\
        --steps 201 --batch 64
    # the authors' development variant: stop-grad on psi(g) in L_T, t = 5, zeta 0.1
    ... --stopgrad-psi-backup --t 5 --zeta 0.1 --out benchmarks/results/sbs_stopgrad.json
    # batches from an OGBench-format dataset (.npz or our Parquet folder), with our goal sampler
    ... --dataset datasets/pointmaze-teleport-stitch-v0.npz --actor-p-randomgoal 0.5
    # control: both sides in float64 (identical math stays identical to ~1e-12 over 200 steps;
    # in float32, rounding differences grow to ~10 % in L_T by step 100, as they do between two
    # runs of our own code whose initial weights differ by one ulp)
    ... --float64

Takes ~65 s for 201 steps at batch 64 on 2 idle CPU cores (float64: ~2 min).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from authors_code import add_loss_arguments, authors_config, import_authors  # noqa: E402

from rllib_tmd.tmd import tmd_learner as keys  # noqa: E402
from rllib_tmd.tmd.default_tmd_rl_module import (  # noqa: E402
    ACTOR_LOG_STD,
    ACTOR_MEAN,
    DIST_CONTRASTIVE,
    DIST_SA_G,
    Q_ACTOR,
)
from rllib_tmd.tmd.torch.default_tmd_torch_rl_module import DefaultTMDTorchRLModule  # noqa: E402
from rllib_tmd.tmd.torch.networks import EnsembleLayerNorm, EnsembleLinear  # noqa: E402
from rllib_tmd.tmd.torch.tmd_torch_learner import (  # noqa: E402
    gaussian_log_prob,
    tmd_loss_terms,
)

# Pointmaze (x, y) range of the teleport maze's datasets, for the random batches.
MAZE_LOW, MAZE_HIGH = np.array([0.0, 0.0]), np.array([36.0, 24.0])
REPORT_STEPS = (0, 1, 10, 50, 100, 200, 500, 1000)

# name -> authors' info key. Our value of each is computed in `our_terms` with the authors'
# definition where the two codes define a diagnostic differently.
TERMS = {
    "contrastive_loss": "critic/contrastive_loss",
    "action_invariance_loss": "critic/action_invariance_loss",
    "backup_loss": "critic/backup_loss",
    "critic_loss": "critic/critic_loss",
    "q_loss": "actor/q_loss",
    "bc_loss": "actor/bc_loss",
    "actor_loss": "actor/actor_loss",
    "total_loss": None,  # critic_loss + actor_loss
    "categorical_accuracy": "critic/categorical_accuracy",
    "dist_mean": "critic/dist",
    "logits_pos": "critic/logits_pos",
    "logits_neg": "critic/logits_neg",
    "q_mean": "actor/q_mean",
    "q_abs_mean": "actor/q_abs_mean",
    "bc_log_prob": "actor/bc_log_prob",
    "mse": "actor/mse",
    "grad_max": "grad/max",
    "grad_min": "grad/min",
    "grad_norm": "grad/norm",
}


# ---- the authors' agent -----------------------------------------------------------------------
def authors_gradients(agent: Any, batch: dict) -> Any:
    """``jax.grad`` of the authors' ``total_loss`` at the agent's parameters (what
    ``agent.update`` feeds to Adam; same rng split as ``update``)."""
    import jax

    rng = jax.random.split(agent.rng)[1]

    def loss(params: Any) -> Any:
        return agent.total_loss(batch, params, rng=rng)[0]

    return as_numpy_tree(jax.grad(loss)(agent.network.params))


def as_numpy_tree(tree: Any) -> Any:
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)


def agent_in_float64(agent: Any) -> Any:
    """The agent with float64 parameters and a fresh Adam state for them (flax creates
    float32 parameters even with ``jax_enable_x64``)."""
    import jax
    import jax.numpy as jnp

    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), agent.network.params)
    network = agent.network.replace(params=params, opt_state=agent.network.tx.init(params))
    return agent.replace(network=network)


def use_float64_torch_layers() -> None:
    """Our MLPs cast the input of their output layer to float32 (``run_layers``, for the
    bf16 option); for a float64 module that cast is replaced by a plain pass."""
    from rllib_tmd.tmd.torch import networks

    def run_layers(net: torch.nn.Sequential, x: torch.Tensor, bf16_hidden: bool) -> torch.Tensor:
        assert not bf16_hidden
        for layer in net:
            x = layer(x)
        return x

    networks.run_layers = run_layers


# ---- our module and the weight mapping --------------------------------------------------------
def build_ours(obs_dim: int, act_dim: int, config: Any) -> DefaultTMDTorchRLModule:
    model_config = {
        "latent_dim": config.latent_dim,
        "hidden_dims": tuple(config.value_hidden_dims),
        "actor_hidden_dims": tuple(config.actor_hidden_dims),
        "layer_norm": config.layer_norm,
        "quasimetric_components": config.components,
        "quasimetric": "mrn",
        "mrn_variant": "max+l2",
        "quasimetric_impl": "torch",
        "actor_const_std": config.const_std,
        "stopgrad_psi_backup": config.stopgrad_psi_backup,
    }
    return DefaultTMDTorchRLModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (2 * obs_dim,), np.float32),
        action_space=gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32),
        model_config=model_config,
    )


def parameter_map(module: DefaultTMDTorchRLModule) -> list[tuple[str, tuple[str, ...], str]]:
    """(torch parameter name, flax path, layout) for every parameter of ``module``.

    Layouts: ``"T"`` Dense kernel [in, out] -> torch Linear weight [out, in]; ``"ens_bias"``
    vmapped [E, out] -> [E, 1, out]; ``"same"`` as is (vmapped kernels are [E, in, out] on both
    sides, plain biases [out]).
    """
    out: list[tuple[str, tuple[str, ...], str]] = []
    # actor: actor_net = MLP(hidden, activate_final=True) (Dense_i), then mean_net
    linears = [
        (f"actor.net.{i}", layer)
        for i, layer in enumerate(module.actor.net)
        if isinstance(layer, torch.nn.Linear)
    ]
    for k, (name, _) in enumerate(linears):
        last = k == len(linears) - 1
        path = (
            ("modules_actor", "mean_net") if last else ("modules_actor", "actor_net", f"Dense_{k}")
        )
        out.append((f"{name}.weight", (*path, "kernel"), "T"))
        out.append((f"{name}.bias", (*path, "bias"), "same"))
    if any(isinstance(layer, torch.nn.LayerNorm) for layer in module.actor.net):
        raise SystemExit("the authors' actor has no LayerNorm: set actor_layer_norm=False")
    # critic encoders: StateRepresentation.phi = ensemblize(MLP)(hidden + latent)
    for enc in ("phi", "psi"):
        seq = getattr(module.critic, enc).net
        dense = norm = 0
        for i, layer in enumerate(seq):
            name = f"critic.{enc}.net.{i}"
            if isinstance(layer, EnsembleLinear):
                path = (f"modules_{enc}", "phi", f"Dense_{dense}")
                out.append((f"{name}.weight", (*path, "kernel"), "same"))
                out.append((f"{name}.bias", (*path, "bias"), "ens_bias"))
                dense += 1
            elif isinstance(layer, EnsembleLayerNorm):
                path = (f"modules_{enc}", "phi", f"LayerNorm_{norm}")
                out.append((f"{name}.weight", (*path, "scale"), "ens_bias"))
                out.append((f"{name}.bias", (*path, "bias"), "ens_bias"))
                norm += 1
    return out


def to_torch_layout(value: np.ndarray, layout: str) -> np.ndarray:
    if layout == "T":
        return value.T
    if layout == "ens_bias":
        return value[:, None, :]
    return value


def get_path(tree: Any, path: tuple[str, ...]) -> np.ndarray:
    for key in path:
        tree = tree[key]
    return tree


def flax_leaf_paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if hasattr(tree, "items"):
        return [p for k, v in tree.items() for p in flax_leaf_paths(v, (*prefix, k))]
    return [prefix]


def copy_flax_into_torch(flax_params: Any, module: torch.nn.Module) -> list:
    """Copies every flax parameter into ``module``; asserts a one-to-one, shape-exact map."""
    mapping = parameter_map(module)
    torch_params = dict(module.named_parameters())
    torch_names = [m[0] for m in mapping]
    flax_paths = [m[1] for m in mapping]
    assert len(set(torch_names)) == len(torch_names), "a torch parameter is mapped twice"
    assert set(torch_names) == set(torch_params), (
        f"unmapped torch parameters: {sorted(set(torch_params) - set(torch_names))}; "
        f"unknown: {sorted(set(torch_names) - set(torch_params))}"
    )
    all_flax = flax_leaf_paths(flax_params)
    assert len(set(flax_paths)) == len(flax_paths), "a flax parameter is used twice"
    assert set(flax_paths) == set(all_flax), (
        f"unused flax parameters: {sorted(set(all_flax) - set(flax_paths))}"
    )
    with torch.no_grad():
        for name, path, layout in mapping:
            value = to_torch_layout(np.asarray(get_path(flax_params, path)), layout)
            param = torch_params[name]
            assert tuple(value.shape) == tuple(param.shape), (name, path, value.shape, param.shape)
            param.copy_(torch.from_numpy(np.array(value, dtype=np.float64)))
    return mapping


def group_of(name: str) -> str:
    return "actor" if name.startswith("actor") else name.split(".")[1]  # phi / psi


def parameter_differences(
    flax_params: Any, module: torch.nn.Module, mapping: list, init: dict[str, np.ndarray]
) -> dict[str, dict[str, float]]:
    """Per group (actor, phi, psi, all): max |authors - ours|, max |authors - init| (how far
    training moved the weights) and their ratio, and the same with L2 norms."""
    torch_params = dict(module.named_parameters())
    acc: dict[str, dict[str, float]] = {}
    for name, path, layout in mapping:
        a = to_torch_layout(np.asarray(get_path(flax_params, path)), layout)
        o = torch_params[name].detach().numpy()
        for group in (group_of(name), "all"):
            g = acc.setdefault(
                group, {"max_abs_diff": 0.0, "max_abs_moved": 0.0, "sq_diff": 0.0, "sq_moved": 0.0}
            )
            g["max_abs_diff"] = max(g["max_abs_diff"], float(np.abs(a - o).max()))
            g["max_abs_moved"] = max(g["max_abs_moved"], float(np.abs(a - init[name]).max()))
            g["sq_diff"] += float(np.square(a - o).sum())
            g["sq_moved"] += float(np.square(a - init[name]).sum())
    for g in acc.values():
        g["l2_diff"], g["l2_moved"] = math.sqrt(g.pop("sq_diff")), math.sqrt(g.pop("sq_moved"))
        g["rel_l2"] = g["l2_diff"] / max(g["l2_moved"], 1e-30)
        g["rel_max"] = g["max_abs_diff"] / max(g["max_abs_moved"], 1e-30)
    return acc


# ---- batches ---------------------------------------------------------------------------------
def random_batches(n: int, batch: int, obs_dim: int, act_dim: int, seed: int) -> list[dict]:
    """Plausible pointmaze-like batches: positions uniform in the maze's range, actions in
    [-1, 1], next = obs + 0.2 * action + noise, value goals a few units from obs (future
    states), actor goals anywhere."""
    rng = np.random.default_rng(seed)
    low = np.resize(MAZE_LOW, obs_dim)
    high = np.resize(MAZE_HIGH, obs_dim)
    out = []
    for _ in range(n):
        obs = rng.uniform(low, high, (batch, obs_dim))
        actions = rng.uniform(-1.0, 1.0, (batch, act_dim))
        step = np.resize(actions, (batch, obs_dim)) * 0.2
        next_obs = obs + step + rng.normal(0.0, 0.02, (batch, obs_dim))
        value_goals = np.clip(obs + rng.normal(0.0, 3.0, (batch, obs_dim)), low, high)
        actor_goals = rng.uniform(low, high, (batch, obs_dim))
        out.append(
            {
                "obs": obs,
                "actions": actions,
                "next_obs": next_obs,
                "value_goals": value_goals,
                "actor_goals": actor_goals,
            }
        )
    return [{k: v.astype(np.float32) for k, v in b.items()} for b in out]


def dataset_batches(path: str, n: int, batch: int, args: argparse.Namespace) -> list[dict]:
    """Batches of our own numpy goal sampler on an OGBench .npz or our Parquet folder."""
    from rllib_tmd.data.episodes import read_episodes
    from rllib_tmd.data.goals import GoalConfig
    from rllib_tmd.data.samplers import NumpySampler

    episodes = read_episodes(path, engine="pyarrow")
    goals = GoalConfig(
        discount=args.discount,
        actor_p_trajgoal=1.0 - args.actor_p_randomgoal,
        actor_p_randomgoal=args.actor_p_randomgoal,
    )
    sampler = NumpySampler(episodes, goals, seed=args.seed)
    return [{k: v.numpy() for k, v in sampler.sample(batch).items()} for _ in range(n)]


def authors_batch(b: dict[str, np.ndarray]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {
        "observations": jnp.asarray(b["obs"]),
        "actions": jnp.asarray(b["actions"]),
        "next_observations": jnp.asarray(b["next_obs"]),
        "value_goals": jnp.asarray(b["value_goals"]),
        "actor_goals": jnp.asarray(b["actor_goals"]),
    }


# ---- our step ----------------------------------------------------------------------------------
def our_terms(fwd: dict, terms: dict, batch: dict, latent_dim: int) -> dict[str, float]:
    """Our loss terms, plus the authors' diagnostics computed with the authors' definitions."""
    with torch.no_grad():
        dist = fwd[DIST_SA_G]  # [E, B, B]
        logits = (-fwd[DIST_CONTRASTIVE] / math.sqrt(latent_dim)).mean(0)  # [B, B]
        b = logits.shape[0]
        eye = torch.eye(b, dtype=torch.bool)
        q = fwd[Q_ACTOR].min(0).values
        mean = fwd[ACTOR_MEAN]
        # the authors' 'categorical_accuracy': argmax over goals j for each state-action row i
        accuracy = (logits.argmax(dim=1) == torch.arange(b)).float().mean()
        out = {
            "contrastive_loss": terms[keys.CONTRASTIVE_LOSS],
            "action_invariance_loss": terms[keys.ACTION_INVARIANCE_LOSS],
            "backup_loss": terms[keys.TEMPORAL_INVARIANCE_LOSS],
            "critic_loss": terms[keys.CRITIC_LOSS],
            "q_loss": terms[keys.ACTOR_Q_LOSS],
            "bc_loss": terms[keys.ACTOR_BC_LOSS],
            "actor_loss": terms[keys.ACTOR_LOSS],
            "total_loss": terms[keys.TOTAL_LOSS],
            "categorical_accuracy": accuracy,
            "dist_mean": dist.mean(),
            "logits_pos": logits[eye].mean(),
            "logits_neg": logits[~eye].mean(),
            "q_mean": q.mean(),
            "q_abs_mean": q.abs().mean(),
            "bc_log_prob": gaussian_log_prob(batch["actions"], mean, fwd[ACTOR_LOG_STD]).mean(),
            "mse": (mean - batch["actions"]).pow(2).mean(),
            # ours only: our own accuracy definition (argmax over candidates i per goal j)
            "ours_top1_accuracy_per_goal": terms[keys.CONTRASTIVE_ACCURACY],
        }
    return {k: float(v.detach()) for k, v in out.items()}


def grad_stats(module: torch.nn.Module) -> dict[str, float]:
    """The authors' grad/max, grad/min, grad/norm (L1 norm of the per-leaf L2 norms) on our
    gradients; plus the count of elements with |g| > 1 (where an elementwise clip would act)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return {
        "grad_max": float(max(g.max() for g in grads)),
        "grad_min": float(min(g.min() for g in grads)),
        "grad_norm": float(sum(g.norm() for g in grads)),
        "ours_grad_elements_abs_gt_1": float(sum(int((g.abs() > 1).sum()) for g in grads)),
    }


# ---- main --------------------------------------------------------------------------------------
def progress_line(step: int, steps: int, seconds: float, authors: dict, ours: dict) -> str:
    """One line while it runs: the contrastive loss and accuracy of both sides at ``step``."""
    both = "  ".join(
        f"{side} nce {vals['contrastive_loss']:.3f} acc {vals['categorical_accuracy']:.3f}"
        for side, vals in (("authors", authors), ("ours", ours))
    )
    return f"step {step:>6,}/{steps:,}  {seconds:7.0f} s  {both}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--authors-impls", type=Path, required=True, help="the authors' impls folder")
    p.add_argument("--steps", type=int, default=201)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default=None, help="OGBench .npz or our Parquet folder")
    p.add_argument("--obs-dim", type=int, default=2, help="without --dataset (pointmaze: 2)")
    p.add_argument("--act-dim", type=int, default=2, help="without --dataset (pointmaze: 2)")
    p.add_argument("--actor-p-randomgoal", type=float, default=0.0, help="with --dataset")
    add_loss_arguments(p)
    p.add_argument("--param-every", type=int, default=50)
    p.add_argument("--log-every", type=int, default=100, help="progress line every N steps")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument(
        "--float64",
        action="store_true",
        help="run both sides in float64 (control: separates math differences from float32 "
        "rounding that training amplifies)",
    )
    p.add_argument("--out", default=str(REPO / "benchmarks/results/authors_side_by_side.json"))
    return p.parse_args(argv)


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    tmd_mod = import_authors(args.authors_impls.resolve())
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    if args.float64:
        jax.config.update("jax_enable_x64", True)
        use_float64_torch_layers()
    dtype = np.float64 if args.float64 else np.float32

    if args.dataset:
        batches = dataset_batches(args.dataset, args.steps, args.batch, args)
    else:
        batches = random_batches(args.steps, args.batch, args.obs_dim, args.act_dim, args.seed)
    batches = [{k: v.astype(dtype) for k, v in b.items()} for b in batches]
    obs_dim, act_dim = batches[0]["obs"].shape[1], batches[0]["actions"].shape[1]

    # 1. the authors' agent
    config = authors_config(tmd_mod, args)
    ex_obs = np.zeros((1, obs_dim), np.float32)
    ex_act = np.zeros((1, act_dim), np.float32)
    agent = tmd_mod.TMDAgent.create(args.seed, ex_obs, ex_act, config)
    if args.float64:
        agent = agent_in_float64(agent)

    # 2. our module with the authors' initial weights
    torch.manual_seed(args.seed)
    module = build_ours(obs_dim, act_dim, config)
    if args.float64:
        module = module.double()
    mapping = copy_flax_into_torch(as_numpy_tree(agent.network.params), module)
    init = {n: p.detach().numpy().copy() for n, p in module.named_parameters()}
    optimizer = torch.optim.Adam(module.parameters(), lr=args.lr)  # RLlib's default optimizer
    hp = {
        "latent_dim": config.latent_dim,
        "gamma": args.discount,
        "zeta": args.zeta,
        "contrastive_weight": 1.0,
        "action_invariance_weight": 1.0,
        "linex_threshold": args.t,
        "diag_backup": args.diag_backup,
        "divergence": "linex",
        "stopgrad_backup_target": True,
        "alpha": args.alpha,
    }
    n_params = sum(p.numel() for p in module.parameters())
    print(
        f"{len(mapping)} tensors / {n_params} parameters mapped flax -> torch "
        f"(obs_dim {obs_dim}, act_dim {act_dim}, batch {args.batch})"
    )

    records: list[dict] = []
    param_checks: list[dict] = []
    step0_grads: dict[str, Any] = {}
    time_authors = time_ours = 0.0
    for step, b in enumerate(batches):
        if step % args.param_every == 0:
            diffs = parameter_differences(
                as_numpy_tree(agent.network.params), module, mapping, init
            )
            param_checks.append({"step": step, **diffs})
        jb = authors_batch(b)
        tb = {k: torch.from_numpy(v) for k, v in b.items()}

        # authors: one update (loss terms in info are computed before the update)
        if step == 0:
            grads_a = authors_gradients(agent, jb)
        t0 = time.perf_counter()
        agent, info = agent.update(jb)
        info = {k: float(v) for k, v in jax.device_get(info).items()}
        time_authors += time.perf_counter() - t0
        a_vals = {name: info[key] for name, key in TERMS.items() if key is not None}
        a_vals["total_loss"] = info["critic/critic_loss"] + info["actor/actor_loss"]

        # ours: forward_train -> loss terms -> backward -> Adam
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        fwd = module.forward_train(tb)
        terms = tmd_loss_terms(fwd, tb["actions"], hp)
        terms[keys.TOTAL_LOSS].backward()
        o_vals = our_terms(fwd, terms, tb, config.latent_dim)
        o_vals.update(grad_stats(module))
        if step == 0:
            torch_params = dict(module.named_parameters())
            for name, path, layout in mapping:
                ga = to_torch_layout(get_path(grads_a, path), layout)
                go = torch_params[name].grad.numpy()
                scale = max(float(np.abs(ga).max()), 1e-30)
                step0_grads[name] = {
                    "flax": "/".join(path),
                    "max_abs_grad": scale,
                    "max_abs_diff": float(np.abs(ga - go).max()),
                    "rel": float(np.abs(ga - go).max()) / scale,
                }
        optimizer.step()
        time_ours += time.perf_counter() - t0

        if not all(math.isfinite(v) for v in [*a_vals.values(), *o_vals.values()]):
            print(f"non-finite value at step {step}: authors {a_vals} ours {o_vals}")
        records.append({"step": step, "authors": a_vals, "ours": o_vals})
        if args.log_every and step % args.log_every == 0:
            print(progress_line(step, len(batches), time.perf_counter() - t_start, a_vals, o_vals))

    diffs = parameter_differences(as_numpy_tree(agent.network.params), module, mapping, init)
    param_checks.append({"step": len(batches), **diffs})
    wall = time.perf_counter() - t_start

    # ---- report --------------------------------------------------------------------------
    shown = sorted({s for s in REPORT_STEPS if s < len(records)} | {len(records) - 1})
    print(f"\n{'step':>5} {'term':<24} {'authors':>14} {'ours':>14} {'rel. diff':>10}")
    for s in shown:
        r = records[s]
        for name in TERMS:
            a, o = r["authors"][name], r["ours"][name]
            print(f"{s:>5} {name:<24} {a:>14.7g} {o:>14.7g} {rel_diff(a, o):>10.2e}")
        print()
    print("largest relative difference over all steps, per term (and its step):")
    for name in TERMS:
        rels = [rel_diff(r["authors"][name], r["ours"][name]) for r in records]
        i = int(np.argmax(rels))
        print(f"  {name:<24} {rels[i]:.2e} at step {i}")
    clip_steps = [r["step"] for r in records if r["ours"]["ours_grad_elements_abs_gt_1"] > 0]
    print(
        f"steps with a gradient element |g| > 1 (ours): {len(clip_steps)} of {len(records)}"
        f" ({clip_steps[:10]}{' ...' if len(clip_steps) > 10 else ''})"
    )
    worst = sorted(step0_grads.items(), key=lambda kv: -kv[1]["rel"])[:5]
    print("step-0 gradients, largest relative differences (max|ga-go| / max|ga|):")
    for name, g in worst:
        print(f"  {name:<28} {g['flax']:<40} {g['rel']:.2e} (max|g| {g['max_abs_grad']:.3g})")
    print("\nparameters: max|authors - ours| (and relative to how far they moved from init)")
    for c in param_checks:
        parts = [
            f"{g}: {c[g]['max_abs_diff']:.2e} ({c[g]['rel_l2']:.1e} of L2 moved)"
            for g in ("actor", "phi", "psi")
        ]
        print(f"  after {c['step']:>4} updates: " + "; ".join(parts))
    print(
        f"\nwall {wall:.1f} s (authors' updates {time_authors:.1f} s incl. jit, "
        f"ours {time_ours:.1f} s)"
    )

    result = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": {"jax": jax.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "wall_s": wall,
        "authors_update_s": time_authors,
        "ours_update_s": time_ours,
        "records": records,
        "param_checks": param_checks,
        "step0_grads": step0_grads,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
