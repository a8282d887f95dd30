"""A warning when the critic stops telling goals apart: its contrastive top-1 accuracy sits at
chance for a long stretch of training.

Two failures we ran into look like this (RESULTS.md): the paper-text weighting on
pointmaze-teleport-stitch (accuracy at 1/B from ~350k updates on while every distance grew
without bound) and the released weighting on scene-noisy and on pointmaze-medium/large-navigate
(accuracy at 1/B from ~2-5k updates on, every distance shrinking towards 0, the contrastive loss
at log B). Training goes on (a warning, not an error): the run stays the user's to judge.

While such a stretch lasts (from ``patience_updates`` into it), the algorithm also reports its
first update in the results under :data:`AT_CHANCE_KEY`, because Ray keeps a Tune trial's log
lines away from the driver here (``log_to_driver=False``): the driver's progress line and the
suite's table show it from there (:func:`at_chance_message`).
"""

from __future__ import annotations

import dataclasses

CHANCE_FACTOR = 2.0  # "at chance": accuracy <= CHANCE_FACTOR / candidates
MIN_UPDATES = 10_000  # no verdict before this many updates (a healthy critic leaves chance in
# ~100 updates; on scene-noisy the collapse to chance came at ~5k)
PATIENCE_UPDATES = 20_000  # how long the accuracy must stay at chance
AT_CHANCE_KEY = "critic_at_chance_since"  # result key: first update of the stretch at chance


def at_chance_message(since: int, updates: int, candidates: int | None = None) -> str:
    """The warning for a critic at chance since update ``since`` (now ``updates``)."""
    level = f"{CHANCE_FACTOR:g}/{candidates}" if candidates else f"{CHANCE_FACTOR:g}/batch"
    return (
        f"TMD: the critic's contrastive top-1 accuracy has been at chance (<= {level}) since "
        f"update {since:,}, now {updates:,}: it no longer tells goals apart. Seen with the "
        "paper-text loss weighting on pointmaze-teleport-stitch (distances growing without "
        "bound) and with the released weighting on scene-noisy and pointmaze-*-navigate "
        "(distances shrinking to 0, contrastive loss at log(batch)); RESULTS.md. "
        "Training continues."
    )


@dataclasses.dataclass
class ChanceAccuracyWatch:
    """Watches the contrastive top-1 accuracy, whose chance level is ``1 / candidates``
    (the state-actions each goal's softmax runs over: the batch, or all learners' batches with
    global negatives).

    :meth:`observe` returns a warning message once: the first time the accuracy has stayed at
    or below ``CHANCE_FACTOR / candidates`` for ``patience_updates`` updates, counted from
    ``min_updates`` on. Otherwise it returns None.
    """

    candidates: int
    min_updates: int = MIN_UPDATES
    patience_updates: int = PATIENCE_UPDATES
    since: int | None = None  # first update of the current stretch at chance
    warned: bool = False

    def observe(self, updates: int, accuracy: float) -> str | None:
        """``updates``: lifetime updates so far; ``accuracy``: the last iteration's mean."""
        if updates < self.min_updates:
            return None
        if accuracy > CHANCE_FACTOR / self.candidates:
            self.since = None
            return None
        if self.since is None:
            self.since = updates
        if self.warned or self.stuck_since(updates) is None:
            return None
        self.warned = True
        return at_chance_message(self.since, updates, self.candidates)

    def stuck_since(self, updates: int) -> int | None:
        """First update of the current stretch at chance if it has lasted ``patience_updates``
        by ``updates``, else None (also once the accuracy has left chance)."""
        if self.since is None or updates - self.since < self.patience_updates:
            return None
        return self.since
