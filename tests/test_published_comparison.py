"""benchmarks/published_comparison.py: suite scores beside OGBench's published baselines."""

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import published_comparison as comparison  # noqa: E402


def suite_file(path: Path, *rows: tuple[str, float, float]) -> Path:
    """A suite.json with rows ``(dataset label, success_mean, success_stderr)``, 2 seeds each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "rows": [
                    {"dataset": d, "seeds": 2, "success_mean": m, "success_stderr": e}
                    for d, m, e in rows
                ]
            }
        )
    )
    return path


def test_the_table_puts_ours_beside_the_published_numbers(tmp_path):
    first = suite_file(
        tmp_path / "a" / "suite.json",
        ("pointmaze-large-navigate", 0.5, 0.1),
        ("pointmaze-teleport-stitch [released]", 0.123, 0.026),
        ("pointmaze-teleport-stitch [paper]", 0.043, 0.007),
    )
    later = suite_file(tmp_path / "b" / "suite.json", ("pointmaze-large-navigate", 0.593, 0.083))
    rows = comparison.main(
        [str(first), str(later), "--variants", "released", "--out", str(tmp_path / "cmp")]
    )
    assert sorted(rows) == ["pointmaze-large-navigate", "pointmaze-teleport-stitch"]
    assert rows["pointmaze-large-navigate"]["success_mean"] == 0.593  # the later file wins
    table = (tmp_path / "cmp.md").read_text()
    published = "29 | 45 | 34 | 86 | 39 | 58 | QRL 86 | – |"
    assert f"| pointmaze-large-navigate | 59.3 ± 8.3 | 2 | {published}" in table
    assert "| pointmaze-teleport-stitch [released] | 12.3 ± 2.6 | 2 |" in table
    assert table.rstrip().endswith("![ours vs published](cmp.png)")
    assert "29.3 ± 2.2" in table and "[paper]" not in table  # unnamed variants stay out
    assert (tmp_path / "cmp.png").stat().st_size > 0


def test_no_scored_row_is_an_error(tmp_path):
    empty = suite_file(tmp_path / "suite.json", ("scene-noisy [w01]", 0.007, 0.002))
    with pytest.raises(SystemExit, match="no scored rows"):
        comparison.main([str(empty), "--out", str(tmp_path / "cmp")])


@pytest.mark.parametrize(
    ("label", "expected"),
    [("scene-noisy", ("scene-noisy", None)), ("a-b [v1]", ("a-b", "v1"))],
)
def test_split_label(label, expected):
    assert comparison.split_label(label) == expected
