"""Model selection and early stopping: the best validation score so far, and when to stop."""

from __future__ import annotations

import math


class BestModelTracker:
    """Tracks the mean validation score (higher is better) across validations.

    Args:
        patience: stop after this many validations in a row without improvement (0: never stop).

    Its :meth:`state_dict` goes into every checkpoint, so a resumed run stops exactly where an
    uninterrupted one would.
    """

    def __init__(self, patience: int = 0):
        self.patience = patience
        self.best_score = -math.inf
        self.best_step: int | None = None
        self.evals_without_improvement = 0

    def update(self, score: float, step: int) -> bool:
        """Record the score of the validation at ``step``; True when it is a new best."""
        if score > self.best_score:
            self.best_score, self.best_step, self.evals_without_improvement = score, step, 0
            return True
        self.evals_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.evals_without_improvement >= self.patience

    def describe(self) -> str:
        """``"(best, saved)"`` or ``"(best 0.8123, 2/4 without improvement)"``, for the progress log."""
        if self.evals_without_improvement == 0:
            return "(best, saved)"
        return f"(best {self.best_score:.4f}, {self.evals_without_improvement}/{self.patience or '-'} without improvement)"

    def state_dict(self) -> dict:
        return {"best_score": None if self.best_score == -math.inf else self.best_score, "best_step": self.best_step,
                "evals_without_improvement": self.evals_without_improvement}

    def load_state_dict(self, state: dict) -> None:
        self.best_score = -math.inf if state["best_score"] is None else float(state["best_score"])
        self.best_step = state["best_step"]
        self.evals_without_improvement = int(state["evals_without_improvement"])
