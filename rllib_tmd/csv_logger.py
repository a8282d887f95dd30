"""Tune's ``progress.csv``, without losing the evaluation columns.

Tune's own CSV logger fixes the columns at a trial's first result and silently drops every key
that appears later. TMD evaluates every ``evaluation_interval`` iterations, so with an interval
above 1 the whole ``evaluation/ogbench/...`` family (success per task, overall success, episode
lengths) never reached ``progress.csv`` (seen on a 1M-update run: 9 evaluations, none in the
CSV). On a resumed trial Tune also appends rows in the first new result's key order under the
old header. :class:`WideningCSVLoggerCallback` keeps every key: when a result brings new keys,
the file is rewritten once with the wider header (earlier rows get empty cells there); rows are
always written under the file's header, also after a resume.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from ray.air.constants import EXPR_PROGRESS_FILE
from ray.tune.logger import CSVLoggerCallback
from ray.tune.utils import flatten_dict


def csv_header(path: Path) -> list[str]:
    """The column names of an existing CSV file (``[]`` if it is missing or empty)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def rewrite_with_header(path: Path, fields: list[str]) -> None:
    """Rewrites the CSV at ``path`` under ``fields`` (a superset of its header), atomically."""
    rows: list[dict[str, str]] = []
    if path.exists() and path.stat().st_size > 0:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def flat_result(result: dict[str, Any]) -> dict[str, Any]:
    """A Tune result as one CSV row: nested keys joined with ``/``, the config left out."""
    return flatten_dict({k: v for k, v in result.items() if k != "config"}, delimiter="/")


class WideningCSVLoggerCallback(CSVLoggerCallback):
    """``progress.csv`` per trial, with a column for every key any result ever had.

    Passing it in ``callbacks`` replaces Tune's default CSV logger (Tune adds its own only when
    no ``CSVLoggerCallback`` is given).
    """

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[Any, list[str]] = {}

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_files:
            self._setup_trial(trial)
        path = Path(trial.local_path, EXPR_PROGRESS_FILE)
        if trial not in self._fields:
            self._fields[trial] = csv_header(path)  # a resumed trial keeps its header
        row = flat_result(result)
        fields = self._fields[trial]
        new_keys = [k for k in row if k not in fields]
        if new_keys or not fields:
            fields = fields + new_keys
            self._trial_files[trial].close()
            rewrite_with_header(path, fields)
            self._trial_files[trial] = path.open("a", newline="", encoding="utf-8")
            self._fields[trial] = fields
        csv.DictWriter(self._trial_files[trial], fields).writerow(row)
        self._trial_files[trial].flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        self._fields.pop(trial, None)
        self._trial_csv.setdefault(trial, None)  # the base class deletes this entry
        super().log_trial_end(trial, failed)
