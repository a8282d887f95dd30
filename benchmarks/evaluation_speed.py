"""Wall time of one OGBench-protocol evaluation with the envs in 0, 1, 2, ... worker processes.

The policy is a full-size TMD RLModule (the tuned examples' network) with its initial weights,
run the way ``TMD.evaluate_ogbench`` runs it: on the CPU, one thread, one batched call per
lock-step. Its actions are near zero, so nearly every episode runs to the time limit: the most
steps an evaluation can take. Every worker count must give the same per-episode outcomes
(checked here); the table gives the wall time and the speed-up over envs in this process.

    python benchmarks/evaluation_speed.py --env pointmaze-teleport-stitch-v0 --workers 0 2 4 8

Writes ``<out>/evaluation_speed.json`` and ``.md`` (default ``benchmarks/results``).
``--step-cost ENV ...`` instead measures, per env, the time of one ``step`` (our wrapper,
zero action, in this process) and the memory one more env instance takes:

    python benchmarks/evaluation_speed.py --step-cost pointmaze-teleport-stitch-v0 scene-play-v0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="pointmaze-teleport-stitch-v0")
    p.add_argument("--episodes", type=int, default=50, help="per task (OGBench: 50)")
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4, 8])
    p.add_argument("--num-envs", type=int, default=None, help="lock-step envs (default: episodes)")
    p.add_argument("--step-cost", nargs="+", default=None, metavar="ENV")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    return p.parse_args(argv)


def resident_mb() -> float:
    """This process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def step_cost(env_name: str, steps: int = 1000, copies: int = 10) -> dict[str, Any]:
    """ms per ``step`` of one env and MB of resident memory per extra env instance (run it in
    a fresh process: memory freed by earlier envs would be reused and hide the growth)."""
    from rllib_tmd.envs.ogbench_env import OGBenchGoalEnv

    env = OGBenchGoalEnv({"env_name": env_name})
    env.reset(seed=0, options={"task_id": 1})
    action = np.zeros(env.action_space.shape, dtype=env.action_space.dtype)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(action)
    ms_per_step = 1e3 * (time.perf_counter() - start) / steps
    before = resident_mb()
    extra = [OGBenchGoalEnv({"env_name": env_name}) for _ in range(copies)]
    for copy in extra:
        copy.reset(seed=1, options={"task_id": 1})
    grown = resident_mb() - before
    for copy in [env, *extra]:
        copy.close()
    mb_per_env = grown / copies
    return {
        "env": env_name,
        "ms_per_step": round(ms_per_step, 3),
        "mb_per_env": round(mb_per_env, 1),
    }


def tmd_policy(env_name: str):
    """``act_fn`` of a freshly initialised full-size TMD module, as the algorithm builds it."""
    import gymnasium as gym
    import torch

    from rllib_tmd.envs.ogbench_env import OGBenchGoalEnv
    from rllib_tmd.tmd.default_tmd_rl_module import DEFAULT_MODEL_CONFIG
    from rllib_tmd.tmd.tmd import module_act_fn
    from rllib_tmd.tmd.torch.default_tmd_torch_rl_module import DefaultTMDTorchRLModule

    torch.manual_seed(0)
    env = OGBenchGoalEnv({"env_name": env_name})
    module = DefaultTMDTorchRLModule(
        observation_space=env.observation_space,
        action_space=gym.spaces.Box(-1.0, 1.0, env.action_space.shape, np.float32),
        model_config=dict(DEFAULT_MODEL_CONFIG),
    )
    env.close()
    module.eval()
    torch.set_num_threads(1)  # as TMD.evaluate_ogbench
    return module_act_fn(module)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    from rllib_tmd.envs.evaluation import evaluate_policy

    act = tmd_policy(args.env)
    rows, reference = [], None
    for workers in args.workers:
        start = time.perf_counter()
        result = evaluate_policy(
            act, args.env, episodes_per_task=args.episodes, task_ids=args.tasks,
            num_envs=args.num_envs, num_workers=workers,
        )  # fmt: skip
        wall = time.perf_counter() - start
        outcome = [(t.successes.tolist(), t.lengths.tolist()) for t in result.tasks]
        reference = reference or outcome
        steps = int(sum(t.lengths.sum() for t in result.tasks))
        rows.append(
            {
                "workers": workers,
                "wall_s": round(wall, 2),
                "env_steps": steps,
                "env_steps_per_s": round(steps / wall),
                "success": result.overall_success,
                "same_outcomes_as_first": outcome == reference,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    for row in rows:
        row["speedup"] = round(rows[0]["wall_s"] / row["wall_s"], 2)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workers | wall s | env steps/s | speed-up vs first row | same outcomes |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['wall_s']:.1f} | {r['env_steps_per_s']:,} | "
            f"{r['speedup']:.2f}x | {'yes' if r['same_outcomes_as_first'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.step_cost:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        spawn = multiprocessing.get_context("spawn")  # a fresh process per env
        with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
            costs = list(pool.map(step_cost, args.step_cost))
        for row in costs:
            print(json.dumps(row), flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "evaluation_step_cost.json").write_text(json.dumps(costs, indent=2))
        return {"step_costs": costs}
    rows = measure(args)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    result = {
        "command": "python benchmarks/evaluation_speed.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "env": args.env,
        "episodes_per_task": args.episodes,
        "tasks": args.tasks,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": cores},
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    text = (
        f"{args.env}, {len(args.tasks)} tasks x {args.episodes} episodes, {cores} cores\n\n"
        + table(rows)
    )
    (out / "evaluation_speed.md").write_text(
        f"# OGBench evaluation wall time\n\ncommand: `{result['command']}`\n\n{text}\n"
    )
    print(text)
    if not all(r["same_outcomes_as_first"] for r in rows):
        raise SystemExit("worker counts gave different episode outcomes")
    return result


if __name__ == "__main__":
    main()
