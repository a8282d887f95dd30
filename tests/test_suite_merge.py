"""benchmarks/suite_merge.py: more seeds from a later suite run, one table."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import suite_merge  # noqa: E402

OVERRIDES = ["latent_dim=64", "zeta=0.05"]


def row(label: str, seeds: dict[int, float], wall_s: float) -> dict:
    """A suite row as ``suite.collect`` writes it: ``seeds`` maps seed -> success."""
    values = list(seeds.values())
    return {
        "dataset": label,
        "experiment": "tmd-" + label.split(" ")[0],
        "seeds": len(values),
        "success_per_seed": values,
        "success_mean": sum(values) / len(values),
        "success_stderr": 0.0,
        "stalled_per_seed": [0.5] * len(values),
        "trial_wall_s": wall_s,
        "updates_per_seed": [1000] * len(values),
        "failed": [],
        "critic_at_chance_since": {},
        "scored_at_updates": [800, 900, 1000],
        "checkpoint_per_seed": {str(s): f"/runs/seed{s}/checkpoint_000009" for s in seeds},
    }


def result(*rows: dict, variants: dict | None = None, updates: int = 1000) -> dict:
    return {
        "command": "python benchmarks/suite.py ...",
        "updates": updates,
        "eval_episodes_per_task": 50,
        "overrides": OVERRIDES,
        "variants": variants or {},
        "total_wall_s": 100.0,
        "rows": list(rows),
    }


def test_seeds_of_two_runs_make_one_row_with_their_mean_and_standard_error(tmp_path):
    released = {"released": [*OVERRIDES, "action_invariance_weight=1.0"]}
    first = result(
        row("maze [released]", {0: 0.30, 1: 0.20}, wall_s=800.0),
        row("maze [noLT]", {0: 0.10, 1: 0.14}, wall_s=800.0),
        variants={**released, "noLT": [*OVERRIDES, "zeta=0"]},
    )
    second = result(row("maze [released]", {2: 0.25, 3: 0.25}, wall_s=430.0), variants=released)
    files = []
    for name, res in (("a", first), ("b", second)):
        files.append(tmp_path / name / "suite.json")
        files[-1].parent.mkdir()
        files[-1].write_text(json.dumps(res))

    merged = suite_merge.main([*map(str, files), "--out", str(tmp_path / "m")])

    released_row, no_lt = merged["rows"]
    assert released_row["seeds"] == 4
    assert released_row["success_per_seed"] == [0.30, 0.20, 0.25, 0.25]
    assert released_row["success_mean"] == pytest.approx(0.25)
    assert released_row["success_stderr"] == pytest.approx(0.0204124, rel=1e-4)  # s.d. / 2
    assert set(released_row["checkpoint_per_seed"]) == {"0", "1", "2", "3"}
    assert released_row["trial_wall_s"] == pytest.approx(615.0)
    assert no_lt["seeds"] == 2  # a row of one run passes through
    assert no_lt["overrides"] == [*OVERRIDES, "zeta=0"]  # each row says how it was trained
    text = (tmp_path / "m" / "suite.md").read_text()
    assert (
        "| maze [released] | 25.0 ± 2.0 | 4 | 30.0, 20.0, 25.0, 25.0 | 50 | 7.2-13.3 min |" in text
    )
    assert text.count("python benchmarks/suite.py") == 2  # both commands named

    # a merged file merges again, e.g. with a third run's seeds
    third = result(row("maze [released]", {4: 0.2}, wall_s=430.0), variants=released)
    again = suite_merge.merge_results([merged, third])
    assert again["rows"][0]["seeds"] == 5 and len(again["commands"]) == 3


def test_the_same_seed_in_two_runs_is_refused():
    first = result(row("maze", {0: 0.3, 1: 0.2}, 10.0))
    second = result(row("maze", {1: 0.25}, 10.0))
    with pytest.raises(SystemExit, match=r"maze: seed\(s\) \['1'\] in two runs"):
        suite_merge.merge_results([first, second])


def test_rows_trained_differently_are_not_merged():
    first = result(row("maze [v]", {0: 0.3}, 10.0), variants={"v": [*OVERRIDES, "zeta=0"]})
    second = result(row("maze [v]", {1: 0.2}, 10.0), variants={"v": [*OVERRIDES, "zeta=0.5"]})
    with pytest.raises(SystemExit, match="maze \\[v\\]: trained with .* not the same"):
        suite_merge.merge_results([first, second])


def test_runs_of_different_lengths_are_not_one_table():
    first = result(row("maze", {0: 0.3}, 10.0), updates=1000)
    second = result(row("maze", {1: 0.2}, 10.0), updates=2000)
    with pytest.raises(SystemExit, match="differ in 'updates'"):
        suite_merge.merge_results([first, second])
