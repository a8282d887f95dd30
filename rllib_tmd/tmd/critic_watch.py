"""A warning when the critic stops telling goals apart: for a long stretch of training its
contrastive top-1 accuracy sits at chance, or its contrastive loss at log(candidates) (every
goal's softmax uniform over the candidate state-actions).

Failures we ran into look like this (RESULTS.md): the paper-text weighting on
pointmaze-teleport-stitch (accuracy at 1/B from ~350k updates on while every distance grew
without bound) and the released weighting on scene-noisy and on the pointmaze navigate datasets
(L_NCE at log B from ~2-5k updates on, every distance shrinking towards 0). With a small batch
a collapsed critic's accuracy can stay a few times above 1/B (its distances still order the
goals, by ~1 % of their size: batch 64 on pointmaze navigate data), so the loss is checked too.
Training goes on (a warning, not an error): the run stays the user's to judge.

While such a stretch lasts (from ``patience_updates`` into it), the algorithm also reports its
first update in the results under :data:`AT_CHANCE_KEY`, because Ray keeps a Tune trial's log
lines away from the driver here (``log_to_driver=False``): the driver's progress line and the
suite's table show it from there (:func:`at_chance_message`).
"""

from __future__ import annotations

import dataclasses
import math

CHANCE_FACTOR = 2.0  # "at chance": accuracy <= CHANCE_FACTOR / candidates, or
LOSS_MARGIN = 0.01  # contrastive loss >= log(candidates) - LOSS_MARGIN
MIN_UPDATES = 10_000  # no verdict before this many updates (a healthy critic leaves chance in
# ~100 updates; on scene-noisy the collapse to chance came at ~5k)
PATIENCE_UPDATES = 20_000  # how long the critic must stay at chance
AT_CHANCE_KEY = "critic_at_chance_since"  # result key: first update of the stretch at chance


def at_chance_message(since: int, updates: int, candidates: int | None = None) -> str:
    """The warning for a critic at chance since update ``since`` (now ``updates``)."""
    n = candidates or "batch"
    level = f"top-1 accuracy <= {CHANCE_FACTOR:g}/{n} or contrastive loss within {LOSS_MARGIN:g} "
    return (
        f"TMD: the critic has been at chance ({level}of log({n})) since update {since:,}, "
        f"now {updates:,}: it no longer tells goals apart. Seen with the paper-text loss "
        "weighting on pointmaze-teleport-stitch (distances growing without bound) and with the "
        "released weighting on scene-noisy and pointmaze-*-navigate (distances shrinking to 0, "
        "contrastive loss at log(batch)); RESULTS.md. Training continues."
    )


@dataclasses.dataclass
class CriticAtChanceWatch:
    """Watches the critic's contrastive top-1 accuracy and loss, whose chance levels are
    ``1 / candidates`` and ``log(candidates)`` (the state-actions each goal's softmax runs
    over: the batch, or all learners' batches with global negatives).

    :meth:`observe` returns a warning message once: the first time the critic has stayed at
    chance (:meth:`at_chance`) for ``patience_updates`` updates, counted from ``min_updates``
    on. Otherwise it returns None.
    """

    candidates: int
    min_updates: int = MIN_UPDATES
    patience_updates: int = PATIENCE_UPDATES
    since: int | None = None  # first update of the current stretch at chance
    warned: bool = False

    def at_chance(self, accuracy: float, contrastive_loss: float | None = None) -> bool:
        """Accuracy <= ``CHANCE_FACTOR / candidates``, or the loss (when given) within
        ``LOSS_MARGIN`` of ``log(candidates)``."""
        if accuracy <= CHANCE_FACTOR / self.candidates:
            return True
        chance_loss = math.log(self.candidates) - LOSS_MARGIN
        return contrastive_loss is not None and contrastive_loss >= chance_loss

    def observe(
        self, updates: int, accuracy: float, contrastive_loss: float | None = None
    ) -> str | None:
        """``updates``: lifetime updates so far; ``accuracy``, ``contrastive_loss``: the last
        iteration's means."""
        if updates < self.min_updates:
            return None
        if not self.at_chance(accuracy, contrastive_loss):
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
        by ``updates``, else None (also once the critic has left chance)."""
        if self.since is None or updates - self.since < self.patience_updates:
            return None
        return self.since
