"""A warning when the critic stops telling goals apart: its contrastive top-1 accuracy sits at
chance for a long stretch of training.

That is how the one diverging configuration we ran looked (the paper-text weighting on
pointmaze-teleport-stitch, RESULTS.md): accuracy at 1/B from ~350k updates on while every
distance grew without bound, and the policy's success was lost. Training goes on (a warning,
not an error): the run stays the user's to judge.
"""

from __future__ import annotations

import dataclasses

CHANCE_FACTOR = 2.0  # "at chance": accuracy <= CHANCE_FACTOR / candidates
MIN_UPDATES = 100_000  # no verdict before this many updates (early training is noisy)
PATIENCE_UPDATES = 20_000  # how long the accuracy must stay at chance


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
        if self.warned or updates < self.min_updates:
            return None
        if accuracy > CHANCE_FACTOR / self.candidates:
            self.since = None
            return None
        if self.since is None:
            self.since = updates
        if updates - self.since < self.patience_updates:
            return None
        self.warned = True
        return (
            f"TMD: the critic's contrastive top-1 accuracy has been at chance (<= "
            f"{CHANCE_FACTOR:g}/{self.candidates}) since update {self.since:,}, now "
            f"{updates:,}: it no longer tells goals apart, and its distances may be growing "
            "without bound. In our runs this happened with the paper-text loss weighting "
            "(contrastive + 0.1 (L_I + L_T) with stop-gradient); the released weighting "
            "(action_invariance_weight=1, zeta=0.05) did not. Training continues."
        )
