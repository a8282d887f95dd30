"""Human-readable progress lines and result tables for long TMD runs."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from rllib_tmd.envs.maze_distances import METRIC_KEY
from rllib_tmd.tmd import tmd_learner as keys
from rllib_tmd.tmd.critic_watch import AT_CHANCE_KEY, at_chance_message

_SHOWN_TERMS = (
    (keys.CONTRASTIVE_LOSS, "nce"),
    (keys.ACTION_INVARIANCE_LOSS, "L_I"),
    (keys.TEMPORAL_INVARIANCE_LOSS, "L_T"),
    (keys.ACTOR_LOSS, "actor"),
    (keys.CONTRASTIVE_ACCURACY, "acc"),
)


def learner_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The default module's learner metrics of one ``algo.train()`` result."""
    learners = result.get("learners", {})
    return {k: v for k, v in learners.get("default_policy", {}).items() if isinstance(v, float)}


def critic_at_chance_since(result: dict[str, Any]) -> int | None:
    """The update since which the critic has sat at chance (contrastive accuracy or loss), as the
    algorithm reports it (``critic_watch``); None while the critic is fine."""
    since = result.get(AT_CHANCE_KEY)
    if since is None or not math.isfinite(float(since)):
        return None
    return int(since)


#: A fall of the critic's rank correlation with the maze's BFS distance, from its best
#: evaluation, that the progress line reports once (pointmaze; RESULTS.md, sessions 15-16).
RHO_DECAY_WARNING = 0.2


def rho_decay_message(best: float, best_at: int, now: float, done: int) -> str:
    """The one-off note that the critic's ordering of the maze has decayed."""
    return (
        f"TMD: the critic's ordering of the maze has decayed: its rank correlation with the BFS "
        f"distance was {best:.2f} at {best_at:,} updates and is {now:.2f} at {done:,}. On "
        "pointmaze navigate data this came with the 3x512 MLPs, and success fell with it "
        "(RESULTS.md, the 100k screen of session 16)."
    )


def num_updates(result: dict[str, Any]) -> int:
    """Lifetime gradient updates recorded in an ``algo.train()`` result."""
    return int(result.get(keys.NUM_UPDATES_LIFETIME, 0))


class ProgressLine:
    """Prints one line per iteration: updates, updates/s, loss terms, last success (and on
    pointmaze the critic's rank correlation with the BFS distance, ``rho``), ETA. Once, it
    adds a note when the critic sits at chance, and when rho has fallen RHO_DECAY_WARNING
    below its best evaluation."""

    def __init__(
        self, updates_per_iteration: int, total_updates: int | None = None, stream: Any = sys.stdout
    ) -> None:
        self.updates_per_iteration = updates_per_iteration
        self.total_updates = total_updates
        self.stream = stream
        self.start = time.perf_counter()
        self.start_updates: int | None = None
        self.last_success: float | None = None
        self.last_stalled: float | None = None
        self.warned_at_chance = False
        self.last_rho: float | None = None
        self.best_rho: tuple[float, int] | None = None  # (rho, updates)
        self.warned_rho_decay = False

    def update(self, result: dict[str, Any]) -> str:
        done = num_updates(result)
        now = time.perf_counter()
        if self.start_updates is None:  # first result: rate of this iteration alone
            self.start, self.start_updates = now, done
            rate = self.updates_per_iteration / max(float(result.get("time_this_iter_s", 0)), 1e-9)
        else:
            rate = (done - self.start_updates) / max(now - self.start, 1e-9)
        evaluation = result.get("evaluation", {}).get("ogbench", {})
        if evaluation.get("success/overall") is not None:
            self.last_success = evaluation["success/overall"]
            self.last_stalled = evaluation.get("stalled/overall")
        rho = evaluation.get(METRIC_KEY)
        if rho is not None and math.isfinite(float(rho)):
            self.last_rho = float(rho)
            if self.best_rho is None or self.last_rho > self.best_rho[0]:
                self.best_rho = (self.last_rho, done)
        metrics = learner_metrics(result)
        parts = [f"updates {done:>8d}", f"{rate:7.1f} upd/s"]
        parts += [f"{short} {metrics[k]:.3f}" for k, short in _SHOWN_TERMS if k in metrics]
        if self.last_success is not None:
            stalled = (
                "" if self.last_stalled is None else f" (stalled {100 * self.last_stalled:.0f}%)"
            )
            parts.append(f"success {100 * self.last_success:.1f}%{stalled}")
        if self.last_rho is not None:
            parts.append(f"rho {self.last_rho:.2f}")
        if self.total_updates and rate > 0:
            parts.append(f"ETA {_fmt_seconds((self.total_updates - done) / rate)}")
        since = critic_at_chance_since(result)
        if since is not None:
            parts.append(f"CRITIC AT CHANCE since {since:,}")
        line = " | ".join(parts)
        if since is not None and not self.warned_at_chance:
            self.warned_at_chance = True
            line += "\n" + at_chance_message(since, done)
        if self._rho_decayed() and not self.warned_rho_decay:
            self.warned_rho_decay = True
            line += "\n" + rho_decay_message(*self.best_rho, self.last_rho, done)
        print(line, file=self.stream, flush=True)
        return line

    def _rho_decayed(self) -> bool:
        """Whether the last evaluation's rho is RHO_DECAY_WARNING or more below the best."""
        if self.last_rho is None or self.best_rho is None:
            return False
        return self.best_rho[0] - self.last_rho >= RHO_DECAY_WARNING


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
