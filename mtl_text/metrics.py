"""Per-task metrics: accuracy and macro-F1 (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def classification_metrics(predictions: Sequence[int], references: Sequence[int], num_labels: int, metrics: Sequence[str] = ("accuracy", "macro_f1")) -> dict[str, float]:
    """Accuracy and/or macro-F1 of predicted label ids against the references.

    Macro-F1 is the unweighted mean of the per-class F1 over all ``num_labels`` classes; a class with
    no prediction and no reference counts as 0 (scikit-learn's ``zero_division=0``).

    Returns:
        metric name -> value in [0, 1].
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    out = {}
    if "accuracy" in metrics:
        out["accuracy"] = float(accuracy_score(references, predictions))
    if "macro_f1" in metrics:
        out["macro_f1"] = float(f1_score(references, predictions, average="macro", labels=list(range(num_labels)), zero_division=0))
    return out
