"""One table from several suite runs: more seeds of the same configuration, run later.

``benchmarks/suite.py --first-seed K`` runs further seeds of a dataset (and variant) in a later
job; this combines the ``suite.json`` files of such runs into one ``suite.json`` and
``suite.md``, a row per dataset (and variant) with every seed of every file. Rows are merged
only where the runs agree on what a row means (updates, episodes per task, and the overrides
of the row's variant); a seed found in two files is refused, not counted twice.

    python benchmarks/suite_merge.py jobA/suite.json jobB/suite.json --out merged/
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import split_label, standard_error, table  # noqa: E402

SAME_ACROSS_RUNS = ("updates", "eval_episodes_per_task")


def row_overrides(result: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """The overrides a row was trained with: its own (a merged file's rows carry them), its
    variant's (which include ``--override``), or ``--override`` alone for a row without one."""
    if "overrides" in row:
        return list(row["overrides"])
    _, variant = split_label(row["dataset"])
    if variant is not None:
        return list(result["variants"][variant])
    return list(result.get("overrides") or [])


def merge_row(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two rows of one dataset (and variant) as one: per-seed lists joined, mean and
    standard error recomputed, wall time averaged over the scored seeds (and kept per run)."""
    seeds_a, seeds_b = set(first["checkpoint_per_seed"]), set(second["checkpoint_per_seed"])
    if seeds_a & seeds_b:
        raise SystemExit(
            f"{first['dataset']}: seed(s) {sorted(seeds_a & seeds_b)} in two runs; "
            "run further seeds with suite.py --first-seed"
        )
    success = first["success_per_seed"] + second["success_per_seed"]
    walls = [(r["trial_wall_s"], r["seeds"]) for r in (first, second) if r["seeds"]]
    return {
        **first,
        "seeds": len(success),
        "success_per_seed": success,
        "success_mean": statistics.mean(success) if success else None,
        "success_stderr": standard_error(success) if success else None,
        "stalled_per_seed": first["stalled_per_seed"] + second["stalled_per_seed"],
        "trial_wall_s": (
            sum(wall * n for wall, n in walls) / sum(n for _, n in walls) if walls else None
        ),
        "trial_wall_s_per_run": [
            wall
            for r in (first, second)
            for wall in r.get("trial_wall_s_per_run", [r["trial_wall_s"]])
            if wall is not None
        ],
        "updates_per_seed": first["updates_per_seed"] + second["updates_per_seed"],
        "failed": first["failed"] + second["failed"],
        "critic_at_chance_since": {
            **first["critic_at_chance_since"],
            **second["critic_at_chance_since"],
        },
        "scored_at_updates": sorted({*first["scored_at_updates"], *second["scored_at_updates"]}),
        "checkpoint_per_seed": {**first["checkpoint_per_seed"], **second["checkpoint_per_seed"]},
    }


def merge_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The suite results of several runs as one (rows in first-seen order)."""
    for key in SAME_ACROSS_RUNS:
        values = {r[key] for r in results}
        if len(values) > 1:
            raise SystemExit(f"the runs differ in {key!r}: {sorted(values)}; not one table")
    rows: dict[str, dict[str, Any]] = {}
    overrides: dict[str, list[str]] = {}
    for result in results:
        for row in result["rows"]:
            label, mine = row["dataset"], row_overrides(result, row)
            if label not in rows:
                rows[label], overrides[label] = {**row, "overrides": mine}, mine
                continue
            if sorted(overrides[label]) != sorted(mine):
                raise SystemExit(
                    f"{label}: trained with {overrides[label]} in one run and {mine} in "
                    "another; not the same configuration"
                )
            rows[label] = merge_row(rows[label], row)
    return {  # each row names its own overrides: the runs' --override / --variant may differ
        "commands": [c for r in results for c in r.get("commands", [r.get("command")])],
        **{key: results[0][key] for key in SAME_ACROSS_RUNS},
        "total_wall_s": sum(r.get("total_wall_s") or 0.0 for r in results),
        "rows": list(rows.values()),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("suites", nargs="+", type=Path, help="suite.json files, in seed order")
    p.add_argument("--out", type=Path, required=True, help="folder for suite.json / suite.md")
    args = p.parse_args(argv)
    if len(args.suites) < 2:
        raise SystemExit("give two or more suite.json files to merge")
    merged = merge_results([json.loads(path.read_text()) for path in args.suites])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "suite.json").write_text(json.dumps(merged, indent=2) + "\n")
    text = table(merged["rows"], merged["updates"])
    commands = "\n".join(f"- `{c}`" for c in merged["commands"])
    (args.out / "suite.md").write_text(
        f"# TMD on the generatable OGBench suite (merged runs)\n\nruns:\n{commands}\n\n{text}\n"
    )
    print(text)
    return merged


if __name__ == "__main__":
    main()
