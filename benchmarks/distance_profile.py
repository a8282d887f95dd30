"""How a trained critic's distance grows with the maze's BFS distance: a CPU check of snapshots.

For each module snapshot (``benchmarks/module_snapshot.py``; ``suite.py --snapshot-to``) of a
pointmaze trial, the learned distance ``d(cell centre i, cell centre j)`` (ensemble mean) over
every pair of free cells, grouped by their BFS distance: pairs, mean, 10th and 90th percentile
(``rllib_tmd.envs.maze_distances.distance_profile``), and over neighbouring cells the asymmetry
``|d(i, j) - d(j, i)|``. Rank correlation (the evaluations' ``rho``) says whether the order is
right; this says where the distance stops growing and how far apart the two directions are.
With ``--data`` (the trial's training ``.npz``) it also says whether that asymmetry follows the
data's direction of travel between neighbouring cells (``maze_distances.flow_agreement``).

    python benchmarks/distance_profile.py tmd-pointmaze-medium-navigate-cpusize-seed*.tar.gz \\
        --data datasets/pointmaze-medium-navigate-v0.npz --out profile.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def profile(snapshot: Path, data: Path | None = None) -> dict[str, Any]:
    """:func:`distance_profile` of one snapshot's critic on its trial's maze; with ``data``
    (an OGBench ``.npz`` of that maze) also ``flow``: :func:`flow_agreement`."""
    import functools

    import numpy as np
    from module_snapshot import load_module

    from rllib_tmd.envs import maze_distances as maze
    from rllib_tmd.tmd.tmd import module_distance

    with tempfile.TemporaryDirectory() as tmp:
        module, info = load_module(snapshot, Path(tmp))
    env = info["ogbench_env"]
    distance_fn = functools.partial(module_distance, module, ensemble="mean")
    learned, steps = maze.learned_cell_distances(distance_fn, env)
    result = {"snapshot": snapshot.name, "env": env, **maze.distance_profile(learned, steps)}
    if data is not None:
        with np.load(data) as npz:
            crossings = maze.cell_crossings(env, npz["observations"], npz["terminals"])
        result["flow"] = {"data": str(data), **maze.flow_agreement(learned, crossings, steps)}
    return result


def report(result: dict[str, Any]) -> str:
    """A few lines of text for one :func:`profile`."""
    adjacent = result["adjacent"]
    lines = [
        f"{result['snapshot']} ({result['env']}): neighbouring cells d {adjacent['mean']:.2f}, "
        f"smaller direction {adjacent['mean_min_direction']:.2f}, "
        f"|d(i,j) - d(j,i)| {adjacent['mean_asymmetry']:.2f}",
    ]
    if "flow" in result:
        flow = result["flow"]
        lines.append(
            f"  data's imbalance between neighbours {flow['data_imbalance']:.3f}; longer where "
            f"the data crosses less in {flow['agreement']:.2f} of {flow['pairs']} pairs "
            "(0.5: unrelated)"
        )
    lines.append("  BFS steps | pairs | mean d | p10 | p90")
    for r in result["by_steps"]:
        spread = f"{r['p10']:6.2f} | {r['p90']:6.2f}"
        lines.append(f"  {r['steps']:9d} | {r['pairs']:5d} | {r['mean']:6.2f} | {spread}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("snapshots", type=Path, nargs="+")
    p.add_argument("--data", type=Path, help="the trials' training .npz (same maze)")
    p.add_argument("--out", type=Path, help="JSON with every snapshot's profile")
    args = p.parse_args(argv)
    results = [profile(s, args.data) for s in args.snapshots]
    for result in results:
        print(report(result))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
