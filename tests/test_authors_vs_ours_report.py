"""benchmarks/authors_vs_ours_report.py on a small job folder laid out as authors_vs_ours.sh
leaves it: the authors' runs (authors_training_run.py) and ours (suite.py's curves)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_authors_run(out: Path, seed: int, success: dict[int, float], nce: float) -> None:
    run = out / f"authors-seed{seed}"
    run.mkdir(parents=True)
    evals = [{"step": step, "success": s} for step, s in success.items()]
    (run / "results.json").write_text(json.dumps({"evaluations": evals}))
    rows = [
        {
            "step": step,
            "critic/contrastive_loss": nce,
            "critic/action_invariance_loss": 0.05,
            "critic/backup_loss": -20.0,
            "actor/q_abs_mean": 22.0,
        }
        for step in (50_000, 100_000)
    ]
    rows.append({"step": 100_000, "evaluation": evals[-1]})  # evaluation lines are skipped
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_our_runs(out: Path) -> None:
    exp = out / "curves" / "tmd-pointmaze-teleport-stitch"
    exp.mkdir(parents=True)
    history = [{"updates": 100_000, "success/overall": 0.30}]
    (exp / "results.json").write_text(json.dumps([{"trial": "seed 0", "history": history}]))
    with (exp / "learner.csv").open("w", newline="") as f:
        writer = csv.DictWriter(
            f,
            [
                "seed",
                "updates",
                "contrastive_loss",
                "action_invariance_loss",
                "temporal_invariance_loss",
                "mean_abs_q",
            ],
        )
        writer.writeheader()
        writer.writerow(
            {
                "seed": 0,
                "updates": 100_000,
                "contrastive_loss": 4.4,
                "action_invariance_loss": 0.04,
                "temporal_invariance_loss": -21.0,
                "mean_abs_q": 24.0,
            }
        )


def run_report(job_out: Path) -> subprocess.CompletedProcess:
    script = REPO / "benchmarks" / "authors_vs_ours_report.py"
    return subprocess.run(
        [sys.executable, str(script), str(job_out)], capture_output=True, text=True, timeout=300
    )


def test_report_puts_both_codes_side_by_side_at_shared_update_counts(tmp_path):
    write_authors_run(tmp_path, 0, {50_000: 0.2, 100_000: 0.28}, nce=4.5)
    write_authors_run(tmp_path, 1, {50_000: 0.24, 100_000: 0.30}, nce=4.3)
    write_our_runs(tmp_path)
    proc = run_report(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = (tmp_path / "comparison.md").read_text()
    assert "| 100,000 | 29 ± 1 (n=2) | 30 ± 0 (n=1) |" in report  # success %, seed mean ± s.d.
    assert "| 50,000 | 22 ± 2 (n=2) | - |" in report  # only the authors evaluated there
    assert "| 100,000 | L_NCE | 4.4 ± 0.1 (n=2) | 4.4 ± 0 (n=1) |" in report
    assert "| 50,000 | L_NCE" not in report  # loss terms only where both logged
    assert (tmp_path / "comparison.png").stat().st_size > 0


def test_report_without_both_sides_names_what_is_missing(tmp_path):
    write_our_runs(tmp_path)
    proc = run_report(tmp_path)
    assert proc.returncode != 0
    assert "found 0 authors' runs, 1 of ours" in proc.stderr
