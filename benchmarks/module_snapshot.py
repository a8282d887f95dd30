"""Half-precision snapshots of trained TMD modules: small enough to come back from a device job.

A device command returns at most 7 extra files of < 16 MiB (``device_job.sh`` bundles more into
one ``carry.tar``), and a full TMD checkpoint (module,
optimizer, learner state) is several times that. The trained RLModule alone (actor and critic,
~4M parameters at the default sizes) in float16 is ~8 MB. This packs it, with the trial's
settings, so that the policy and the critic can be studied and evaluated on the CPU later.

    python benchmarks/module_snapshot.py pack-runs /tmp/job/runs /tmp/job/carry   # on the device
    python benchmarks/module_snapshot.py unpack tmd-scene-noisy-seed0.tar.gz DIR  # here
    python benchmarks/module_snapshot.py evaluate tmd-scene-noisy-seed0.tar.gz --episodes 50

``pack-runs`` packs the last checkpoint of every Tune trial under a storage folder (one
``<experiment>-seed<k>.tar.gz`` each; ``benchmarks/device_job.sh`` brings files left in
``/tmp/job/carry`` back once the job has ended). ``unpack`` writes an RLModule checkpoint folder
(float32 again) that ``ray.rllib.core.rl_module.RLModule.from_checkpoint`` restores;
``evaluate`` runs the OGBench protocol on it with the trial's environment. The float16 round
trip changes weights by at most a relative 2**-11 (and values beyond float16's range would be
refused, not clipped).
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODULE_DIR = Path("learner_group", "learner", "rl_module", "default_policy")
STATE_FILE = "module_state.pkl"
INFO_FILE = "snapshot.json"


def last_checkpoint(trial_dir: Path) -> Path:
    """The trial's highest-numbered ``checkpoint_*`` folder (raises if it has none)."""
    from rllib_tmd.experiments import latest_checkpoint

    checkpoint = latest_checkpoint(trial_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"{trial_dir}: no checkpoint_* folder")
    return checkpoint


def half_state(state: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """float32 arrays as float16 (the others as they are), and the names converted."""
    out, halved = dict(state), []
    for name, value in state.items():
        if isinstance(value, np.ndarray) and value.dtype == np.float32:
            if value.size and np.abs(value).max() > np.finfo(np.float16).max:
                raise ValueError(f"{name}: values beyond float16's range; not packing")
            out[name] = value.astype(np.float16)
            halved.append(name)
    return out, halved


def pack(trial_dir: Path, out_file: Path) -> Path:
    """The last checkpoint's module of ``trial_dir`` (with the trial's ``params.json``) as a
    float16 ``.tar.gz``."""
    checkpoint = last_checkpoint(trial_dir)
    module_dir = checkpoint / MODULE_DIR
    state, halved = half_state(pickle.loads((module_dir / STATE_FILE).read_bytes()))
    params = json.loads((trial_dir / "params.json").read_text())
    info = {
        "trial": trial_dir.name,
        "checkpoint": checkpoint.name,
        "ogbench_env": params.get("ogbench_env"),
        "seed": params.get("seed"),
        "float16": halved,
        "params": params,
    }
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out_file, "w:gz") as tar:
        for path in sorted(module_dir.iterdir()):
            if path.name != STATE_FILE:
                tar.add(path, arcname=path.name)
        for name, data in (
            (STATE_FILE, pickle.dumps(state)),
            (INFO_FILE, json.dumps(info, indent=1).encode()),
        ):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return out_file


def pack_runs(
    runs: Path, carry: Path, limit: int | None = None, experiments: list[str] | None = None
) -> list[Path]:
    """:func:`pack` for every trial (``<experiment>/<trial>/params.json``) under ``runs`` that
    has a checkpoint (of ``experiments`` only, if given), into
    ``carry/<experiment>-seed<k>.tar.gz``; refuses more than ``limit`` (if given) before
    packing any. ``device_job.sh`` brings up to 7 back one by one, more as one ``carry.tar``."""
    from rllib_tmd.experiments import latest_checkpoint

    trials = sorted(
        p.parent
        for p in runs.glob("*/*/params.json")
        if latest_checkpoint(p.parent) is not None
        and (experiments is None or p.parent.parent.name in experiments)
    )
    if limit is not None and len(trials) > limit:
        raise SystemExit(f"{len(trials)} trials with checkpoints, more than {limit} files")
    packed = []
    for trial in trials:
        seed = json.loads((trial / "params.json").read_text()).get("seed")
        packed.append(pack(trial, carry / f"{trial.parent.name}-seed{seed}.tar.gz"))
    return packed


def unpack(snapshot: Path, out_dir: Path) -> dict[str, Any]:
    """Writes the RLModule checkpoint folder (float32) to ``out_dir``; returns the snapshot's
    info (``ogbench_env``, ``seed``, ``params``, ...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(snapshot, "r:gz") as tar:
        tar.extractall(out_dir, filter="data")
    info = json.loads((out_dir / INFO_FILE).read_text())
    state = pickle.loads((out_dir / STATE_FILE).read_bytes())
    for name in info["float16"]:
        state[name] = state[name].astype(np.float32)
    (out_dir / STATE_FILE).write_bytes(pickle.dumps(state))
    return info


def load_module(snapshot: Path, out_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The restored RLModule (CPU, float32) and the snapshot's info."""
    from ray.rllib.core.rl_module import RLModule

    import rllib_tmd  # noqa: F401  (the module's class)

    info = unpack(snapshot, out_dir)
    return RLModule.from_checkpoint(str(out_dir)), info


def evaluate(snapshot: Path, episodes: int, workers: int | None, seed: int) -> Any:
    """OGBench's protocol for the snapshot's policy on its trial's environment."""
    from rllib_tmd.envs.evaluation import evaluate_policy
    from rllib_tmd.tmd.tmd import module_act_fn

    with tempfile.TemporaryDirectory() as tmp:
        module, info = load_module(snapshot, Path(tmp))
    return evaluate_policy(
        module_act_fn(module),
        info["ogbench_env"],
        episodes_per_task=episodes,
        seed=seed,
        num_workers=workers,
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    one = sub.add_parser("pack", help="one trial folder's last checkpoint")
    one.add_argument("trial_dir", type=Path)
    one.add_argument("out_file", type=Path)
    many = sub.add_parser("pack-runs", help="every trial under a Tune storage folder")
    many.add_argument("runs", type=Path)
    many.add_argument("carry", type=Path)
    out = sub.add_parser("unpack", help="an RLModule checkpoint folder (float32)")
    out.add_argument("snapshot", type=Path)
    out.add_argument("out_dir", type=Path)
    ev = sub.add_parser("evaluate", help="OGBench's protocol on the trial's environment")
    ev.add_argument("snapshot", type=Path)
    ev.add_argument("--episodes", type=int, default=50, help="per task")
    ev.add_argument("--workers", type=int, default=None)
    ev.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.command == "pack":
        print(pack(args.trial_dir, args.out_file))
    elif args.command == "pack-runs":
        for path in pack_runs(args.runs, args.carry):
            print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")
    elif args.command == "unpack":
        info = unpack(args.snapshot, args.out_dir)
        print(f"{args.out_dir}: {info['trial']} {info['checkpoint']} ({info['ogbench_env']})")
    else:
        result = evaluate(args.snapshot, args.episodes, args.workers, args.seed)
        print(result.format_table())


if __name__ == "__main__":
    main()
