"""Side-by-side report of one ``benchmarks/authors_vs_ours.sh`` job: the authors' runs and ours,
evaluation by evaluation and loss term by loss term, at the update counts both reached.

    python benchmarks/authors_vs_ours_report.py OUT_DIR [--out REPORT_DIR]

``OUT_DIR`` is the job's ``--out`` folder (``/tmp/job/out`` on the device machine, or the
``out/`` folder of the job's ``job.tar.gz``): ``authors-seed<k>/{results.json,log.jsonl}`` from
``benchmarks/authors_training_run.py`` and ``curves/<experiment>/{results.json,learner.csv}``
from ``benchmarks/suite.py``. Writes ``REPORT_DIR/comparison.md`` (default: ``OUT_DIR``) and
``comparison.png`` (success, L_NCE, L_T and mean abs Q against updates, a line per seed).

Only the terms both codes define the same way are compared: the contrastive loss, the
action-invariance loss, the temporal-invariance (backup) loss and the actor's mean abs Q. Both
log the mean over the updates since the last log line; the authors' over every
``--log-every`` updates, ours RLlib's moving mean of the learner's results.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any

# (label, the authors' info key, our learner key)
SHARED_TERMS = [
    ("L_NCE", "critic/contrastive_loss", "contrastive_loss"),
    ("L_I", "critic/action_invariance_loss", "action_invariance_loss"),
    ("L_T", "critic/backup_loss", "temporal_invariance_loss"),
    ("mean abs Q", "actor/q_abs_mean", "mean_abs_q"),
]


def authors_runs(out_dir: Path) -> dict[str, dict[str, Any]]:
    """``{"authors seed k": {"evals": {updates: success}, "terms": {updates: {label: value}}}}``
    for every ``authors-seed<k>`` folder under ``out_dir``."""
    runs = {}
    for run_dir in sorted(out_dir.glob("authors-seed*")):
        if not (run_dir / "results.json").is_file():
            continue
        results = json.loads((run_dir / "results.json").read_text())
        evals = {e["step"]: e["success"] for e in results.get("evaluations", [])}
        terms = {}
        for line in (run_dir / "log.jsonl").read_text().splitlines():
            row = json.loads(line)
            if "critic/contrastive_loss" in row:
                terms[row["step"]] = {label: row[key] for label, key, _ in SHARED_TERMS}
        runs[f"authors seed {run_dir.name.removeprefix('authors-seed')}"] = {
            "evals": evals,
            "terms": terms,
        }
    return runs


def our_runs(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The same layout as :func:`authors_runs` for every seed of every experiment under
    ``out_dir/curves``."""
    runs: dict[str, dict[str, Any]] = {}
    for exp_dir in sorted((out_dir / "curves").glob("*")):
        for trial in json.loads((exp_dir / "results.json").read_text()):
            runs[f"ours {trial['trial']}"] = {
                "evals": {e["updates"]: e["success/overall"] for e in trial["history"]},
                "terms": {},
            }
        with (exp_dir / "learner.csv").open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                terms = runs[f"ours seed {row['seed']}"]["terms"]
                terms[int(row["updates"])] = {
                    label: float(row[key]) for label, _, key in SHARED_TERMS
                }
    return runs


def mean_over(runs: dict[str, dict[str, Any]], field: str, updates: int, label: str = "") -> str:
    """Mean ± spread (population s.d.) over ``runs`` of their ``field`` at ``updates``
    (formatted), or ``"-"`` where no run has that point."""
    values = []
    for run in runs.values():
        point = run[field].get(updates)
        if point is not None:
            values.append(point[label] if label else 100 * point)
    if not values:
        return "-"
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3g} ± {spread:.2g} (n={len(values)})"


def report(authors: dict[str, Any], ours: dict[str, Any]) -> str:
    """The Markdown comparison: success at every evaluation either side has, then the shared
    loss terms at every update count both logged."""
    lines = ["## Success % (OGBench's 5 tasks × 50 episodes), mean ± s.d. over seeds", ""]
    lines += ["| updates | authors' code | ours |", "|---|---|---|"]
    steps = sorted({s for run in {**authors, **ours}.values() for s in run["evals"]})
    for step in steps:
        lines.append(
            f"| {step:,} | {mean_over(authors, 'evals', step)} | {mean_over(ours, 'evals', step)} |"
        )
    lines += ["", "Per seed:", "", "| run | " + " | ".join(f"{s:,}" for s in steps) + " |"]
    lines.append("|---" * (len(steps) + 1) + "|")
    for name, run in {**authors, **ours}.items():
        cells = [f"{100 * run['evals'][s]:.1f}" if s in run["evals"] else "" for s in steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Loss terms both codes define alike, mean ± s.d. over seeds", ""]
    lines += ["| updates | term | authors' code | ours |", "|---|---|---|---|"]
    shared = sorted(
        {s for run in authors.values() for s in run["terms"]}
        & {s for run in ours.values() for s in run["terms"]}
    )
    for step in shared:
        for label, _, _ in SHARED_TERMS:
            lines.append(
                f"| {step:,} | {label} | {mean_over(authors, 'terms', step, label)} | "
                f"{mean_over(ours, 'terms', step, label)} |"
            )
    return "\n".join(lines) + "\n"


def plot(authors: dict[str, Any], ours: dict[str, Any], path: Path) -> None:
    """Success and the shared loss terms against updates: the authors' runs in orange, ours in
    blue, a line per seed."""
    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()

    panels = [("success %", None)] + [
        (label, label) for label, _, _ in SHARED_TERMS if label != "L_I"
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (title, label) in zip(axes, panels, strict=True):
        for runs, colour in ((authors, "tab:orange"), (ours, "tab:blue")):
            for i, (name, run) in enumerate(runs.items()):
                points = run["evals"] if label is None else run["terms"]
                xs = sorted(points)
                ys = [100 * points[x] if label is None else points[x][label] for x in xs]
                ax.plot(
                    xs,
                    ys,
                    color=colour,
                    marker="o" if label is None else None,
                    ms=3,
                    alpha=0.8,
                    label=name.split(" seed")[0] if i == 0 else None,
                )
        ax.set_title(title)
        ax.set_xlabel("updates")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    save_png(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=Path, help="the authors_vs_ours.sh job's --out folder")
    p.add_argument("--out", type=Path, default=None, help="report folder (default: OUT_DIR)")
    args = p.parse_args(argv)
    authors, ours = authors_runs(args.out_dir), our_runs(args.out_dir)
    if not authors or not ours:
        raise SystemExit(
            f"{args.out_dir}: needs authors-seed*/results.json and curves/*/ "
            f"(found {len(authors)} authors' runs, {len(ours)} of ours)"
        )
    target = args.out or args.out_dir
    target.mkdir(parents=True, exist_ok=True)
    (target / "comparison.md").write_text(report(authors, ours), encoding="utf-8")
    plot(authors, ours, target / "comparison.png")
    print((target / "comparison.md").read_text())
    print(f"wrote {target / 'comparison.md'} and {target / 'comparison.png'}")


if __name__ == "__main__":
    main()
