"""progress.csv keeps keys that first appear after the first result (evaluations)."""

import csv
from pathlib import Path

from rllib_tmd.csv_logger import WideningCSVLoggerCallback


class FakeTrial:
    """The parts of a Tune trial that the CSV logger uses."""

    checkpoint = None

    def __init__(self, path: Path) -> None:
        self.local_path = str(path)

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)


def result(updates: int, success: float | None = None) -> dict:
    out = {"num_updates_lifetime": updates, "learners": {"default_policy": {"loss": 1.0 / updates}}}
    if success is not None:
        out["evaluation"] = {"ogbench": {"success/overall": success}}
    return out


def read(path: Path) -> list[dict[str, str]]:
    with (path / "progress.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_evaluation_columns_that_appear_later_are_kept(tmp_path):
    trial, logger = FakeTrial(tmp_path), WideningCSVLoggerCallback()
    for i, updates in enumerate([10, 20, 30, 40]):
        logger.log_trial_result(i, trial, result(updates, 0.25 * i if i % 2 else None))
    logger.log_trial_end(trial)

    rows = read(tmp_path)
    assert [r["num_updates_lifetime"] for r in rows] == ["10", "20", "30", "40"]
    assert [r["evaluation/ogbench/success/overall"] for r in rows] == ["", "0.25", "", "0.75"]
    assert rows[0]["learners/default_policy/loss"] == "0.1"


def test_a_resumed_trial_appends_under_the_existing_header(tmp_path):
    trial = FakeTrial(tmp_path)
    first = WideningCSVLoggerCallback()
    first.log_trial_result(0, trial, result(10, 0.5))
    first.log_trial_end(trial)

    resumed = WideningCSVLoggerCallback()  # a new driver process after a crash
    later = result(20)
    later["learners"]["default_policy"]["new_metric"] = 7
    later = {"learners": later["learners"], "num_updates_lifetime": 20}  # other key order
    resumed.log_trial_result(1, trial, later)
    resumed.log_trial_end(trial)

    rows = read(tmp_path)
    assert [r["num_updates_lifetime"] for r in rows] == ["10", "20"]
    assert rows[0]["evaluation/ogbench/success/overall"] == "0.5"
    assert rows[1]["learners/default_policy/new_metric"] == "7"
    assert rows[1]["evaluation/ogbench/success/overall"] == ""
