"""Train the authors' released TMD agent (JAX) end to end on our data, and score it with our
OGBench evaluation: the reference run that ours is compared with.

Everything on the training side is the authors': their ``TMDAgent`` (``agents/tmd.py``), their
``GCDataset`` goal sampler (``utils/datasets.py``) over OGBench's loader, their update, JAX's
default matmul precision. Only the data (a dataset made by our generator, or any OGBench
``.npz``) and the evaluation are ours: :func:`rllib_tmd.envs.evaluation.evaluate_policy`
with the authors' ``sample_actions(temperature=0)`` as the policy (OGBench's protocol:
5 tasks x 50 episodes, deterministic actions; the score is the mean of the last three
evaluations). That evaluation reproduces OGBench's published GCBC number on our teleport-stitch
data (36.1 % vs 31.5 +- 3.2 %, RESULTS.md), so a gap between this run and ours is in training.

The authors' code is not part of this repository: ``--authors-impls`` is the ``impls`` folder of
a checkout of github.com/vivekmyers/tmd-release (``agents/tmd.py``, ``utils/networks.py``,
``utils/datasets.py``) plus OGBench's ``utils/flax_utils.py`` and ``utils/encoders.py``. It
needs jax, flax, optax, distrax and ml_collections next to our package (see
``benchmarks/authors_side_by_side.py``).

Usage (one process per GPU; ``--max-minutes`` stops a run that would not finish)::

    CUDA_VISIBLE_DEVICES=0 python benchmarks/authors_training_run.py \\
        --authors-impls .authors/impls --dataset datasets/pointmaze-teleport-stitch-v0.npz \\
        --batch 256 --discount 0.995 --alpha 0.03 --actor-p-randomgoal 0.5 \\
        --steps 1000000 --eval-every 100000 --max-minutes 24 --out runs/authors-b256-seed0

Writes ``<out>/log.jsonl`` (the mean of the authors' update info over every ``--log-every``
updates, and each evaluation, as they happen) and ``<out>/results.json`` (config, evaluations,
score), rewritten after every evaluation so a killed run keeps what it had. With
``--checkpoint-dir`` a run that stops (``--max-minutes`` or the last step) saves the agent and
its state, and ``--resume-from`` continues from there with the same settings
(``benchmarks/authors_to_1m.sh`` takes one seed to 1M updates this way, session by session).
On pointmaze each evaluation also runs our critic checks on the authors' critic
(``distance_rank_corr_bfs``, ``greedy_descent/task<k>``) and draws ``<out>/maze_map_<step>.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from action_probe import LOG_POINT_SAMPLES, actor_goal_batch, log_point_numbers  # noqa: E402
from authors_code import add_loss_arguments, authors_config  # noqa: E402

AUTHORS_FILES = ("agents/tmd.py", "utils/networks.py", "utils/datasets.py", "utils/flax_utils.py")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--authors-impls", type=Path, required=True, help="the authors' impls folder")
    p.add_argument("--dataset", type=Path, required=True, help="OGBench-format .npz")
    p.add_argument(
        "--env", default=None, help="OGBench env to evaluate on (default: from --dataset)"
    )
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    # the authors' config keys (get_config() defaults for the others)
    p.add_argument("--batch", type=int, default=512)
    add_loss_arguments(p)
    p.add_argument("--actor-p-randomgoal", type=float, default=0.0)
    # loop
    p.add_argument("--log-every", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=100_000)
    p.add_argument("--eval-start", type=int, default=0, help="no evaluation before this step")
    p.add_argument("--eval-episodes", type=int, default=50, help="per task (OGBench: 50)")
    p.add_argument("--eval-workers", type=int, default=None, help="env processes (default: auto)")
    p.add_argument(
        "--maze-map-episodes",
        type=int,
        default=5,
        help="pointmaze: paths per task drawn over the authors' learned distance at each "
        "evaluation (<out>/maze_map_<step>.png)",
    )
    p.add_argument(
        "--action-probe",
        action="store_true",
        help="at every log point, also ask the authors' critic about actions "
        "(benchmarks/action_probe.py's ranks and Q changes, on 1,024 of the dataset's transitions)",
    )
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this long")
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="when the run stops, save the agent and the run's state there (CHECKPOINT_FILES)",
    )
    p.add_argument(
        "--resume-from",
        type=Path,
        default=None,
        help="a --checkpoint-dir of an earlier run with the same settings: continue it",
    )
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def file_digests(impls: Path) -> dict[str, str]:
    """sha256 (first 16 hex digits) of the authors' files this run uses, to name the checkout."""
    return {
        rel: hashlib.sha256((impls / rel).read_bytes()).hexdigest()[:16] for rel in AUTHORS_FILES
    }


def authors_agent_and_data(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(agent, GCDataset, config): the authors' agent at ``--seed`` and their goal sampler over
    OGBench's loader output of ``--dataset``, both with this run's config."""
    from ogbench.utils import load_dataset
    from sampler_side_by_side import import_authors

    dataset_cls, gc_dataset_cls, _ = import_authors(args.authors_impls.resolve())
    import agents.tmd as tmd_mod  # imported by import_authors from --authors-impls

    config = authors_config(tmd_mod, args)
    config.actor_p_trajgoal = 1.0 - args.actor_p_randomgoal
    config.actor_p_randomgoal = args.actor_p_randomgoal
    data = load_dataset(str(args.dataset), compact_dataset=False)
    dataset = gc_dataset_cls(dataset_cls.create(**data), config)
    ex_obs = data["observations"][:1].astype(np.float32)
    ex_act = data["actions"][:1].astype(np.float32)
    agent = tmd_mod.TMDAgent.create(args.seed, ex_obs, ex_act, config)
    return agent, dataset, config


def mean_info(infos: list[dict]) -> dict[str, float]:
    """The mean of each key over a list of the authors' update infos (fetched in one go)."""
    import jax

    fetched = jax.device_get(infos)
    return {k: float(np.mean([float(i[k]) for i in fetched])) for k in fetched[0]}


def authors_policy(agent: Any, max_rows: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``act_fn(obs [N, d], goals [N, d]) -> actions [N, a]``: the authors' deterministic
    ``sample_actions(temperature=0)``, clipped to [-1, 1]; rows padded to ``max_rows`` so that
    JAX compiles it once."""
    import jax

    key = jax.random.PRNGKey(0)

    def act(obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        n = obs.shape[0]
        pad = max(max_rows - n, 0)
        o = np.pad(obs.astype(np.float32), ((0, pad), (0, 0)))
        g = np.pad(goals.astype(np.float32), ((0, pad), (0, 0)))
        actions = agent.sample_actions(observations=o, goals=g, seed=key, temperature=0.0)
        return np.clip(np.asarray(jax.device_get(actions))[:n], -1.0, 1.0)

    return act


def authors_distance(agent: Any) -> Callable[..., np.ndarray]:
    """``distance(obs [N, d], goals [N or M, d], pairwise=False) -> [N] or [N, M]``: the
    authors' critic d(psi(s), psi(g)), averaged over its ensemble (as our
    ``TMD.temporal_distance``), for the critic checks and the maze maps."""
    import jax

    psi = agent.network.select("psi")

    def distance(obs: np.ndarray, goals: np.ndarray, pairwise: bool = False) -> np.ndarray:
        psi_s = psi(np.asarray(obs, np.float32))
        psi_g = psi(np.asarray(goals, np.float32))
        if pairwise:
            psi_s, psi_g = psi_s[..., :, None, :], psi_g[..., None, :, :]
        d = np.asarray(jax.device_get(agent.distance(psi_s, psi_g)))
        return d.mean(axis=0) if d.ndim == (3 if pairwise else 2) else d

    return distance


class AuthorsModule:
    """The authors' agent behind the two calls ``benchmarks/action_probe.py`` makes of a
    module: ``critic(obs, actions, goals) -> Q [E, N]`` (-d(phi(s, a), psi(g)) per ensemble
    member) and ``act(obs, goals) -> actions [N, A]``, torch tensors in and out."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def critic(self, obs: Any, actions: Any, goals: Any) -> Any:
        import torch

        phi = self.agent.network.select("phi")(obs.numpy(), actions.numpy())
        psi_g = self.agent.network.select("psi")(goals.numpy())
        return torch.as_tensor(-np.asarray(self.agent.distance(phi, psi_g)))

    def act(self, obs: Any, goals: Any) -> Any:
        import torch

        policy = authors_policy(self.agent, len(obs))
        return torch.as_tensor(policy(obs.numpy(), goals.numpy()))


def write_results(out: Path, header: dict, evals: list[dict], steps_done: int, seconds: float):
    from rllib_tmd.envs.evaluation import record_score

    result = {
        **header,
        "steps_done": steps_done,
        "train_seconds": seconds,
        "evaluations": evals,
        "score": record_score(evals),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


# What --checkpoint-dir holds: three .npz of the agent's leaves (each under the 16 MiB a device
# command brings back), the run's state and its log so far.
CHECKPOINT_FILES = (
    "authors_state.npz",  # every array leaf but Adam's moments, exact (parameters, rng, counts)
    "authors_adam_mu.npz",  # Adam's first moments, as bfloat16 bits
    "authors_adam_nu.npz",  # Adam's second moments, as bfloat16 bits
    "authors_run.json",  # step, train seconds, evaluations, numpy's RNG, the leaves' paths
    "log.jsonl",
)


def leaf_group(path: str) -> str:
    """Which checkpoint file a leaf of the agent goes to, by its key path."""
    for moment in ("mu", "nu"):
        if f".opt_state[0].{moment}[" in path:
            return f"adam_{moment}"
    return "state"


def save_checkpoint(agent: Any, folder: Path, run_state: dict, log_path: Path) -> None:
    """The agent and ``run_state`` (JSON-able) under ``folder`` (:data:`CHECKPOINT_FILES`).

    Adam's moments are stored in bfloat16 so that one seed's checkpoint (3.7M parameters:
    ~30 MB) fits next to the wheels in what travels to a device machine; a resumed run's
    moments carry bfloat16's relative rounding (< 0.4 %). Everything else is exact."""
    import jax
    import ml_dtypes

    folder.mkdir(parents=True, exist_ok=True)
    leaves = jax.tree_util.tree_flatten_with_path(agent)[0]
    groups: dict[str, dict[str, np.ndarray]] = {"state": {}, "adam_mu": {}, "adam_nu": {}}
    scalars, paths = {}, []
    for i, (key_path, leaf) in enumerate(leaves):
        path = jax.tree_util.keystr(key_path)
        paths.append(path)
        if not hasattr(leaf, "shape"):
            scalars[str(i)] = leaf
            continue
        array = np.asarray(jax.device_get(leaf))
        group = leaf_group(path)
        if group != "state":
            array = array.astype(ml_dtypes.bfloat16).view(np.uint16)
        groups[group][str(i)] = array
    for group, arrays in groups.items():
        np.savez(folder / f"authors_{group}.npz", **arrays)
    rng = np.random.get_state()
    state = {
        **run_state,
        "leaf_paths": paths,
        "scalar_leaves": scalars,
        "numpy_rng": [rng[0], rng[1].tolist(), *rng[2:]],
    }
    (folder / "authors_run.json").write_text(json.dumps(state) + "\n")
    (folder / "log.jsonl").write_bytes(log_path.read_bytes())


def restore_checkpoint(agent: Any, folder: Path) -> tuple[Any, dict]:
    """``(agent, run_state)`` from :func:`save_checkpoint`'s files; ``agent`` (built with this
    run's settings) gives the structure, and a checkpoint of another structure is an error."""
    import jax
    import jax.numpy as jnp
    import ml_dtypes

    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"--resume-from {folder}: missing {', '.join(missing)}")
    state = json.loads((folder / "authors_run.json").read_text())
    leaves, treedef = jax.tree_util.tree_flatten_with_path(agent)
    paths = [jax.tree_util.keystr(key_path) for key_path, _ in leaves]
    if paths != state["leaf_paths"]:
        raise SystemExit(
            f"--resume-from {folder}: the checkpoint's agent has another structure than this "
            f"run's ({len(state['leaf_paths'])} vs {len(paths)} leaves): other settings?"
        )
    arrays: dict[str, np.ndarray] = {}
    for group in ("state", "adam_mu", "adam_nu"):
        with np.load(folder / f"authors_{group}.npz") as stored:
            for key in stored.files:
                array = stored[key]
                if group != "state":
                    array = array.view(ml_dtypes.bfloat16).astype(np.float32)
                arrays[key] = array
    restored = []
    for i, (path, (_, leaf)) in enumerate(zip(paths, leaves, strict=True)):
        if str(i) in state["scalar_leaves"]:
            restored.append(state["scalar_leaves"][str(i)])
            continue
        array = arrays[str(i)]
        if not hasattr(leaf, "shape"):  # a Python number in a new agent, an array after updates
            restored.append(jnp.asarray(array))
            continue
        if array.shape != leaf.shape:
            raise SystemExit(
                f"--resume-from {folder}: {path} has shape {array.shape}, "
                f"this run's agent {leaf.shape}"
            )
        restored.append(jnp.asarray(array, dtype=leaf.dtype))
    rng = state["numpy_rng"]
    np.random.set_state((rng[0], np.asarray(rng[1], dtype=np.uint32), *rng[2:]))
    return jax.tree_util.tree_unflatten(treedef, restored), state


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax

    from rllib_tmd.data.catalog import describe_dataset
    from rllib_tmd.envs.evaluation import evaluate_policy, fresh_evaluation_seed
    from rllib_tmd.envs.maze_distances import critic_checks, is_pointmaze
    from rllib_tmd.envs.maze_maps import write_maze_map

    env = args.env or describe_dataset(args.dataset)["env_name"]
    args.out.mkdir(parents=True, exist_ok=True)
    np.random.seed(args.seed)  # the authors' GCDataset samples with numpy's global RNG
    agent, dataset, config = authors_agent_and_data(args)
    header = {
        "command": "python benchmarks/authors_training_run.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "env": env,
        "authors_files_sha256": file_digests(args.authors_impls.resolve()),
        "authors_config": config.to_dict(),
        "jax": jax.__version__,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
    }
    print(f"authors' TMD on {args.dataset} ({env}), {jax.devices()[0]}", flush=True)
    evals: list[dict] = []
    first_step, train_seconds = 1, 0.0
    if args.resume_from:
        agent, state = restore_checkpoint(agent, args.resume_from)
        first_step, train_seconds, evals = state["step"] + 1, state["train_seconds"], state["evals"]
        (args.out / "log.jsonl").write_bytes((args.resume_from / "log.jsonl").read_bytes())
        print(f"resumed from {args.resume_from} at {state['step']:,} updates", flush=True)
    log = (args.out / "log.jsonl").open("a")
    probe_batch = (
        actor_goal_batch(args.dataset, LOG_POINT_SAMPLES, args.seed) if args.action_probe else None
    )
    infos: list[dict] = []
    start = time.perf_counter()
    window_start, step = start, first_step - 1
    for step in range(first_step, args.steps + 1):
        agent, info = agent.update(dataset.sample(args.batch))
        infos.append(info)
        if step % args.log_every == 0:
            row = mean_info(infos)  # also waits for the device: the window's time is honest
            now = time.perf_counter()
            train_seconds += now - window_start
            row.update(step=step, updates_per_s=len(infos) / (now - window_start))
            if probe_batch is not None:
                numbers = log_point_numbers(AuthorsModule(agent), probe_batch, seed=0)
                row.update({f"action_probe/{k}": v for k, v in numbers.items()})
                print(
                    f"{step:>8,} action probe: "
                    + json.dumps({k: round(v, 3) for k, v in numbers.items()}),
                    flush=True,
                )
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(
                f"{step:>8,} updates {row['updates_per_s']:7.1f}/s"
                f"  L_NCE {row['critic/contrastive_loss']:.3f}"
                f"  acc {row['critic/categorical_accuracy']:.3f}  mse {row['actor/mse']:.3f}",
                flush=True,
            )
            infos = []
            window_start = time.perf_counter()  # the probe's time is not the update's
        if step % args.eval_every == 0 and step >= args.eval_start or step == args.steps:
            result = evaluate_policy(
                authors_policy(agent, args.eval_episodes),
                env,
                episodes_per_task=args.eval_episodes,
                seed=fresh_evaluation_seed(args.seed, step),
                num_workers=args.eval_workers,
                record_paths=args.maze_map_episodes if is_pointmaze(env) else 0,
            )
            if result.paths:
                write_maze_map(
                    result, authors_distance(agent), args.out / f"maze_map_{step:07d}.png"
                )
            evals.append({**result.record(step), **critic_checks(authors_distance(agent), env)})
            log.write(json.dumps({"step": step, "evaluation": evals[-1]}) + "\n")
            log.flush()
            print(f"{step:>8,} updates: success {result.overall_success:.3f}", flush=True)
            write_results(args.out, header, evals, step, train_seconds)
            window_start = time.perf_counter()
        if args.max_minutes and time.perf_counter() - start > 60 * args.max_minutes:
            print(f"stopping at {step:,} updates: --max-minutes {args.max_minutes}", flush=True)
            break
    log.close()
    if args.checkpoint_dir:
        run_state = {"step": step, "train_seconds": train_seconds, "evals": evals}
        save_checkpoint(agent, args.checkpoint_dir, run_state, args.out / "log.jsonl")
        print(f"checkpoint at {step:,} updates in {args.checkpoint_dir}", flush=True)
    return write_results(args.out, header, evals, step, train_seconds)


if __name__ == "__main__":
    main()
