"""Our suite scores next to OGBench's published baselines: one table and one bar chart.

Reads ``suite.json`` files written by ``benchmarks/suite.py`` (one row per dataset, or per
dataset and variant), keeps one row per dataset and writes ``<out>.md`` (our success, mean
+- standard error over seeds, beside GCBC / GCIVL / GCIQL / QRL / CRL / HIQL and the TMD
paper's number where it has one) and ``<out>.png`` (grouped bars, a group per dataset).

    python benchmarks/published_comparison.py \\
        benchmarks/results/suite-2xh200-navigate-1m/{medium-large,giant}/suite.json \\
        benchmarks/results/suite-2xh200-stitch-1m/*/suite.json \\
        benchmarks/results/suite-4xh100-teleport-weightings/suite.json --variants released \\
        --out benchmarks/results/pointmaze-vs-published

A row of a variant (``"dataset": "pointmaze-teleport-stitch [released]"``) is used only when
``--variants`` names it; a dataset found in several files takes the last file's row.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import row_label, split_label  # noqa: E402

BASELINES = ("GCBC", "GCIVL", "GCIQL", "QRL", "CRL", "HIQL")

# OGBench paper, Table 2 (success %, mean over 8 seeds; 1M updates, last three evaluations).
PUBLISHED: dict[str, tuple[int, ...]] = {
    "pointmaze-medium-navigate": (9, 63, 53, 82, 29, 79),
    "pointmaze-large-navigate": (29, 45, 34, 86, 39, 58),
    "pointmaze-giant-navigate": (1, 0, 0, 68, 27, 46),
    "pointmaze-teleport-navigate": (25, 45, 24, 4, 24, 18),
    "pointmaze-medium-stitch": (23, 70, 21, 80, 0, 74),
    "pointmaze-large-stitch": (7, 12, 31, 84, 0, 13),
    "pointmaze-giant-stitch": (0, 0, 0, 50, 0, 0),
    "pointmaze-teleport-stitch": (31, 44, 25, 9, 4, 34),
    "cube-single-play": (6, 53, 68, 5, 19, 15),
    "cube-double-play": (1, 36, 40, 1, 10, 6),
    "scene-play": (5, 42, 51, 5, 19, 38),
    "puzzle-3x3-play": (2, 6, 95, 1, 3, 12),
    "cube-single-noisy": (8, 71, 99, 25, 38, 41),
    "scene-noisy": (1, 26, 26, 9, 1, 25),
    "puzzle-3x3-noisy": (1, 42, 94, 0, 30, 51),
}
# The TMD paper's Table 1, for the datasets we can generate (success %, mean +- s.e.).
TMD_PAPER: dict[str, tuple[float, float]] = {
    "pointmaze-teleport-stitch": (29.3, 2.2),
    "scene-noisy": (19.6, 1.7),
}


def collect_rows(paths: list[Path], variants: list[str]) -> dict[str, dict[str, Any]]:
    """``{dataset: row}`` from suite.json files, in file order (later files win); variant rows
    only for ``variants``. Each row gains ``source`` (the file) and ``variant``."""
    rows: dict[str, dict[str, Any]] = {}
    for path in paths:
        for row in json.loads(path.read_text())["rows"]:
            name, variant = split_label(row["dataset"])
            if variant is not None and variant not in variants:
                continue
            if row.get("success_mean") is None:
                continue
            rows[name] = {**row, "source": str(path), "variant": variant}
    return rows


def comparison_table(rows: dict[str, dict[str, Any]]) -> str:
    """Markdown: a line per dataset in ``PUBLISHED`` order, ours in %, the best baseline
    named."""
    head = ["dataset", "ours (mean ± s.e.)", "seeds", *BASELINES, "best published", "TMD paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in [n for n in PUBLISHED if n in rows] + sorted(set(rows) - set(PUBLISHED)):
        row = rows[name]
        ours = f"{100 * row['success_mean']:.1f} ± {100 * row['success_stderr']:.1f}"
        published = PUBLISHED.get(name)
        cells = [str(v) for v in published] if published else ["–"] * len(BASELINES)
        best = (
            f"{BASELINES[published.index(max(published))]} {max(published)}" if published else "–"
        )
        paper = "{:.1f} ± {:.1f}".format(*TMD_PAPER[name]) if name in TMD_PAPER else "–"
        lines.append(
            "| "
            + " | ".join(
                [row_label(name, row["variant"]), ours, str(row["seeds"]), *cells, best, paper]
            )
            + " |"
        )
    return "\n".join(lines)


def plot_comparison(rows: dict[str, dict[str, Any]], path: Path) -> Path:
    """Grouped bars per dataset: the six baselines in greys, ours in colour with its standard
    error, the TMD paper's number as a black tick where there is one."""
    from rllib_tmd.figures import pyplot, save_png

    plt = pyplot()
    import numpy as np

    names = [n for n in PUBLISHED if n in rows]
    width = 0.8 / (len(BASELINES) + 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names)), 4.6))
    x = np.arange(len(names))
    greys = plt.cm.Greys(np.linspace(0.25, 0.75, len(BASELINES)))
    for k, baseline in enumerate(BASELINES):
        values = [PUBLISHED[n][k] for n in names]
        ax.bar(x + k * width, values, width, color=greys[k], label=baseline)
    ours = [100 * rows[n]["success_mean"] for n in names]
    errors = [100 * rows[n]["success_stderr"] for n in names]
    at = x + len(BASELINES) * width
    ax.bar(at, ours, width, yerr=errors, color="tab:red", label="TMD (ours)", capsize=2)
    for i, name in enumerate(names):
        if name in TMD_PAPER:
            ax.hlines(TMD_PAPER[name][0], at[i] - width, at[i] + width, color="black", lw=2)
    if any(n in TMD_PAPER for n in names):
        ax.plot([], [], color="black", lw=2, label="TMD (paper)")
    ax.set_xticks(x + 0.4 - width / 2, [n.replace("pointmaze-", "") for n in names], fontsize=8)
    ax.set_ylabel("success % (OGBench protocol)")
    ax.set_ylim(0, 100)
    ax.legend(ncol=8, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.set_title("TMD (rllib-tmd) next to OGBench's published baselines", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=120)


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("suites", nargs="+", type=Path, help="suite.json files")
    p.add_argument("--variants", nargs="*", default=[], help="variant rows to use")
    p.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.png")
    args = p.parse_args(argv)
    rows = collect_rows(args.suites, args.variants)
    if not rows:
        raise SystemExit("no scored rows in the given suite.json files")
    sources = sorted({row["source"] for row in rows.values()})
    text = (
        "# Our scores next to OGBench's published baselines\n\n"
        + "Success % (OGBench's protocol); ours: mean ± standard error over seeds. From:\n"
        + "".join(f"- `{s}`\n" for s in sources)
        + "\n"
        + comparison_table(rows)
        + "\n\n![ours vs published]("
        + args.out.name
        + ".png)\n"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    plot_comparison(rows, args.out.with_suffix(".png"))
    print(text)
    return rows


if __name__ == "__main__":
    main()
