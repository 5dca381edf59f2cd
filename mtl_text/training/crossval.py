"""k-fold cross-validation (``--cv-folds K``): K runs of :func:`~mtl_text.training.trainer.train`, run
``k`` with fold ``k`` of each task's training data as its validation split (model selection and
early stopping) and the other folds as training data (:func:`~mtl_text.data.splits.cross_validation_fold`),
each into ``OUTPUT_DIR/fold-k``. The cross-validation score of a metric is its mean and sample
standard deviation over the folds, on each fold's held-out validation data (scored with that fold's
best model, so the selection step has seen it: slightly optimistic, as any early-stopped CV) and on
the test split. For small tasks, where a single validation split is too noisy to compare settings.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..transfer.significance import seed_spread
from ..utils.files import atomic_write_text
from .config import TrainingConfig

logger = logging.getLogger("mtl_text.train")

CV_RESULTS = "cv_results.json"


@dataclass
class CrossValidationResult:
    """What :func:`cross_validate` returns.

    Attributes:
        folds: each fold's :class:`~mtl_text.training.trainer.TrainingResult`.
        validation: task -> metric -> ``{"mean", "std", "n"}`` over the folds' held-out folds.
        test: the same on the test split.
        output_dir: the folder holding ``fold-k/`` and ``cv_results.json``.
    """

    folds: list
    validation: dict[str, dict[str, dict[str, float]]]
    test: dict[str, dict[str, dict[str, float]]]
    output_dir: Path


def summarise(per_fold: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Task -> metric -> mean, std, n over folds (``loss`` and ``examples`` left out)."""
    return {task: {m: seed_spread([f[task][m] for f in per_fold]) for m in per_fold[0][task] if m not in ("loss", "examples")}
            for task in per_fold[0]}


def cross_validate(config: TrainingConfig) -> CrossValidationResult:
    """Train the K folds one after the other (see the module's text); print and write the summary.

    Raises:
        whatever :func:`~mtl_text.training.trainer.train` raises for a fold.
    """
    from .trainer import train

    folds, out = [], config.output_dir
    for k in range(config.data.cv_folds):
        logger.info("cross-validation: fold %d of %d", k + 1, config.data.cv_folds)
        fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, fold=k),
                                          checkpoints=dataclasses.replace(config.checkpoints, output_dir=str(out / f"fold-{k}")))
        folds.append(train(fold_config))
    result = CrossValidationResult(folds, summarise([f.validation_metrics for f in folds]), summarise([f.metrics for f in folds]), out)
    from accelerate import PartialState

    if PartialState().is_main_process:
        record = {"folds": config.data.cv_folds, "validation": result.validation, "test": result.test,
                  "per_fold": [{"validation": f.validation_metrics, "test": f.metrics} for f in folds]}
        atomic_write_text(out / CV_RESULTS, json.dumps(record, indent=2) + "\n")
        print(f"\n{config.data.cv_folds}-fold cross-validation (mean ± std over folds):")
        for task in result.validation:
            for split, table in (("held-out fold", result.validation), ("test", result.test)):
                print(f"  {task} {split}: " + ", ".join(f"{m} {v['mean']:.4f} ± {v['std']:.4f}" for m, v in table[task].items()))
        print(f"Written to {out / CV_RESULTS}", flush=True)
    return result
