"""The ``rllib-tmd`` command: quickstart | make-dataset | convert | evaluate.

The CLI only parses arguments and calls the same functions a Python user would.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _cmd_quickstart(args: argparse.Namespace) -> int:
    from rllib_tmd.quickstart import run_quickstart

    run_quickstart(
        out_dir=args.out,
        dataset=args.dataset,
        episodes=args.episodes,
        minutes=args.minutes,
        eval_episodes=args.eval_episodes,
        seed=args.seed,
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from rllib_tmd.experiments import resume_tuned_example, run_tuned_example

    if args.resume:
        resume_tuned_example(args.resume)
        return 0
    if not args.file:
        raise SystemExit("rllib-tmd train: give --file X.yaml (or --resume RUN_DIR)")
    run_tuned_example(
        args.file,
        seed=args.seed,
        num_samples=args.num_samples,
        num_gpus=args.num_gpus,
        stop_updates=args.stop_updates,
        overrides=args.override,
        generate=args.generate,
        storage=args.output,
    )
    return 0


def _cmd_make_dataset(args: argparse.Namespace) -> int:
    from rllib_tmd.data.catalog import make_dataset

    paths = make_dataset(
        args.name, args.out, episodes=args.episodes, seed=args.seed, workers=args.workers
    )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from rllib_tmd.data.convert import convert_npz

    print(convert_npz(args.file, args.out))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from rllib_tmd.experiments import resolve_checkpoint
    from rllib_tmd.tmd import TMD

    if args.maze_map and args.maze_map_episodes < 1:
        raise SystemExit(f"--maze-map-episodes must be >= 1, got {args.maze_map_episodes}")
    if args.episodes < 1:
        raise SystemExit(f"--episodes must be >= 1, got {args.episodes}")
    checkpoint = resolve_checkpoint(args.checkpoint)
    if checkpoint != Path(args.checkpoint).expanduser():
        print(f"checkpoint: {checkpoint}")
    algo = TMD.from_checkpoint(str(checkpoint))
    if args.maze_map and not algo._is_pointmaze():
        algo.stop()
        raise SystemExit(
            f"--maze-map draws pointmaze envs only; this checkpoint evaluates on "
            f"{algo.config.ogbench_env!r}"
        )
    result = algo.evaluate_ogbench(
        episodes_per_task=args.episodes,
        seed=args.seed,
        video_dir=args.video,
        progress=True,
        num_workers=args.workers,
        num_envs=args.envs,
        record_paths=args.maze_map_episodes if args.maze_map else 0,
    )
    print(result.format_table())
    if args.maze_map:
        print(f"maze map: {algo.maze_map(result, args.maze_map)}")
    algo.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rllib-tmd",
        description="Temporal Metric Distillation (TMD) for Ray RLlib: offline goal-conditioned "
        "RL on OGBench.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    quick = sub.add_parser(
        "quickstart",
        help="generate a small dataset, train for a few minutes on the CPU, evaluate",
    )
    quick.add_argument("--out", default="runs/quickstart", help="output folder")
    quick.add_argument("--dataset", default="pointmaze-medium-navigate-v0")
    quick.add_argument("--episodes", type=int, default=100, help="training episodes to generate")
    quick.add_argument("--minutes", type=float, default=4.0, help="training wall-time budget")
    quick.add_argument("--eval-episodes", type=int, default=10, help="episodes per task")
    quick.add_argument("--seed", type=int, default=0)
    quick.set_defaults(func=_cmd_quickstart)

    train = sub.add_parser(
        "train", help="run a tuned-example YAML (RLlib/Tune experiment spec) with Tune"
    )
    train.add_argument("--file", help="e.g. tuned_examples/tmd/pointmaze-medium-navigate.yaml")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--num-samples", type=int, default=None, help="trials (e.g. seeds)")
    train.add_argument("--num-gpus", type=float, default=None, help="GPUs per learner")
    train.add_argument("--stop-updates", type=int, default=None, help="stop after N updates")
    train.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides (values parsed as YAML), or stop.KEY=VALUE",
    )
    train.add_argument("--generate", action="store_true", help="generate a missing dataset")
    train.add_argument("--output", default="runs", help="Tune storage folder")
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run (runs/<experiment name>)",
    )
    train.set_defaults(func=_cmd_train)

    make = sub.add_parser("make-dataset", help="generate an OGBench dataset locally (no internet)")
    make.add_argument("name", help="e.g. pointmaze-medium-navigate-v0")
    make.add_argument("--out", required=True, help="folder for <name>.npz, -val.npz and Parquet")
    make.add_argument(
        "--episodes", type=int, default=None, help="training episodes (default: the official count)"
    )
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--workers", type=int, default=1, help="parallel processes")
    make.set_defaults(func=_cmd_make_dataset)

    conv = sub.add_parser("convert", help="OGBench .npz -> sharded Parquet episodes")
    conv.add_argument("file", help="an official or generated OGBench .npz")
    conv.add_argument("--out", required=True, help="output folder")
    conv.set_defaults(func=_cmd_convert)

    ev = sub.add_parser("evaluate", help="evaluate a checkpoint on the 5 OGBench tasks")
    ev.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint folder, or a trial or one-trial experiment folder (its latest)",
    )
    ev.add_argument("--episodes", type=int, default=50, help="episodes per task")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--video", default=None, help="folder for one video per task")
    ev.add_argument(
        "--maze-map",
        default=None,
        metavar="PNG",
        help="pointmaze only: draw the paths of the first episodes of each task over the "
        "learned distance to its goal into this PNG",
    )
    ev.add_argument("--maze-map-episodes", type=int, default=5, help="paths drawn per task")
    ev.add_argument(
        "--workers",
        type=int,
        default=None,
        help="env worker processes (default: the checkpoint's eval_num_workers; 0: none)",
    )
    ev.add_argument(
        "--envs",
        type=int,
        default=None,
        help="envs stepped in lock-step (default: the checkpoint's eval_num_envs); more envs "
        "mean fewer, larger policy calls; results do not change",
    )
    ev.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs a subcommand; a user error (bad file, unknown dataset or key) prints one clear
    line and exits with status 2 instead of a traceback; a training run that stopped (e.g. on
    a non-finite loss) names the error and the last checkpoint and exits with status 1."""
    from rllib_tmd.errors import TrainingFailed

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # DatasetError, ExperimentFileError, config errors, ...
        print(f"rllib-tmd {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingFailed as err:  # a trial stopped (e.g. non-finite loss); results kept
        print(f"rllib-tmd {args.command}: training stopped: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
