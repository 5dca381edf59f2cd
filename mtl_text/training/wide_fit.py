"""``--wide-svm``: after training, each task's wide part gains a linear SVM fitted on its features.

The wide part trained in the loop (Adam, cross-entropy, a few epochs) reads the same TF-IDF n-gram
features as the strongest cheap baseline, TF-IDF + a linear SVM (Joachims 1998), but fits them less
well: on 20 Newsgroups a LinearSVC on exactly those features reaches 0.859 in test accuracy, the
model with its trained wide part 0.850 (docs/benchmark.md). So, once the loop has picked the best
model, for each task:

1. the wide part's features of every training text (:meth:`WideNgrams.bags`) and its labels;
2. a linear SVM fitted on them with scikit-learn (``LinearSVC``: L2-regularised squared hinge,
   one-vs-rest; no intercept, as the wide part has none): ``(buckets + 1, num_outputs)`` margins;
3. the weight ``alpha`` of the SVM's margins beside the model's logits, fitted on the validation
   split by the head's own loss, without label smoothing (:func:`stacking_weight`: stacked
   generalisation, Wolpert 1992, with a logistic-regression meta-learner); ``alpha`` near 0 keeps
   the model as trained;
4. the wide part's weights become ``weights + alpha * margins``: the model keeps its format (one
   ``nn.EmbeddingBag`` per task) and its prediction cost.

Classification heads only (single- and multi-label; a multi-label head's labels are separate
binary SVMs); a regression task is refused before training starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader

from ..data.tasks import REGRESSION, Task
from ..errors import ConfigError
from ..inference.evaluation import collect_logits
from ..modeling.heads import fit_positive_scales
from ..modeling.wide import WideNgrams

logger = logging.getLogger("mtl_text.train")


def check_tasks(tasks: dict[str, Task], chosen: list[str]) -> None:
    """``--wide-svm`` fits classifiers: refuse it for a regression task among ``chosen``.

    Raises:
        ConfigError: a chosen task whose problem type is regression.
    """
    regression = [name for name in chosen if tasks[name].problem_type == REGRESSION]
    if regression:
        raise ConfigError(f"--wide-svm fits a linear SVM classifier per task: it does not apply to the regression task(s) {regression}; "
                          f"name the classification tasks instead")


@torch.no_grad()
def wide_features(wide: WideNgrams, batches: Iterable[dict]) -> tuple[sp.csr_matrix, np.ndarray]:
    """The wide part's features of every text in ``batches`` (dicts of ``(batch, seq_len)``
    ``input_ids``, ``attention_mask``, optional ``token_type_ids``, and ``labels``), in order: a
    ``(texts, buckets + 1)`` sparse matrix of TF-IDF weights (column ``b``: bucket ``b``) and the
    labels, ``(texts,)`` class ids or ``(texts, labels)`` 0/1 rows."""
    blocks, labels = [], []
    for batch in batches:
        buckets, offsets, weights = wide.bags(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        indptr = np.append(offsets.cpu().numpy(), len(buckets))
        blocks.append(sp.csr_matrix((weights.float().cpu().numpy(), buckets.cpu().numpy(), indptr), shape=(len(indptr) - 1, wide.buckets + 1)))
        labels.append(batch["labels"].cpu().numpy())
    return sp.vstack(blocks).tocsr(), np.concatenate(labels)


def svm_margins(features: sp.csr_matrix, labels: np.ndarray, num_outputs: int, C: float, seed: int) -> torch.Tensor:
    """A linear SVM (scikit-learn ``LinearSVC``, squared hinge, L2 penalty ``1 / C``, no intercept)
    fitted on ``(texts, features)`` and its labels, as ``(features, num_outputs)`` weights whose
    products with a text's features are its margins: one-vs-rest per class; a binary task's single
    margin ``m`` as ``(-m / 2, m / 2)``; multi-label labels (``(texts, num_outputs)`` 0/1) one
    binary SVM each."""
    from sklearn.svm import LinearSVC

    def fit(y: np.ndarray) -> np.ndarray:  # (classes or 1, features)
        return LinearSVC(C=C, fit_intercept=False, random_state=seed).fit(features, y).coef_

    coef = np.zeros((num_outputs, features.shape[1]))
    if labels.ndim == 2:  # multi-label: one SVM per label (a label that never or always occurs: margin 0)
        for j in range(num_outputs):
            if 0 < labels[:, j].sum() < len(labels):
                coef[j] = fit(labels[:, j])[0]
        return torch.from_numpy(coef.T.copy()).float()
    present = np.unique(labels)  # LinearSVC's classes, in order
    if len(present) == 2:  # one margin, of the second class against the first
        raw = fit(labels)[0]
        coef[present[1]], coef[present[0]] = raw / 2, -raw / 2
    elif len(present) > 2:  # one-vs-rest
        coef[present] = fit(labels)
    return torch.from_numpy(coef.T.copy()).float()


def stacking_scales(head, logits: torch.Tensor, margins: torch.Tensor, references: torch.Tensor) -> tuple[float, float]:
    """The ``a, b >= 0`` that minimise the head's calibration loss (its loss without label
    smoothing) of ``a * logits + b * margins`` against ``references``, the model's ``logits`` and
    the SVM's ``margins`` both ``(examples, num_outputs)`` on validation: a logistic-regression
    meta-learner over the two models' outputs, as in stacked generalisation (Wolpert 1992; Ting &
    Witten 1999). Fitted with L-BFGS over ``log a`` and ``log b`` in float64; the head's loss itself
    computes in float32, as in training (its ``logits.float()``)."""
    z, s = logits.double(), margins.double()
    a, b = fit_positive_scales(lambda ab: head.calibration_loss(ab[0] * z + ab[1] * s, references), 2, bound=30.0)
    return float(a), float(b)


def stacking_weight(head, logits: torch.Tensor, margins: torch.Tensor, references: torch.Tensor) -> float:
    """The weight of the SVM's ``margins`` beside the model's ``logits``: ``b / a`` of
    :func:`stacking_scales` (``a`` is a temperature, which the argmax ignores)."""
    a, b = stacking_scales(head, logits, margins, references)
    return b / a


@torch.no_grad()
def add_svm_to_wide(model, train_datasets: dict, collator, val_dataloaders: dict[str, DataLoader], accelerator, C: float = 1.0,
                    seed: int = 42, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Steps 1-4 of the module's text for every task of ``train_datasets`` (task -> tokenized training
    split with ``labels``, batched with ``collator``), in ``model`` (prepared or not), in place; the
    same on every process. ``val_dataloaders``: the prepared validation dataloaders.

    Returns:
        task -> ``{"alpha": the weight, "scale": a of :func:`stacking_scales` (the stacked logits are
        ``1 / scale`` times as large as the fitted combination: too sure where it is small),
        "validation_before": metric, "validation_after": metric}`` (the head's primary metric on
        validation).
    """
    unwrapped = accelerator.unwrap_model(model)
    report = {}
    for name, dataset in train_datasets.items():
        wide, head = unwrapped.wide[name], unwrapped.head(name)
        columns = [c for c in ("input_ids", "attention_mask", "token_type_ids", "labels") if c in dataset.column_names]
        batches = DataLoader(dataset.with_format(columns=columns), batch_size=batch_size, collate_fn=collator)
        device = wide.idf.device
        features, labels = wide_features(wide, ({k: v.to(device) for k, v in batch.items()} for batch in batches))
        margins = svm_margins(features, labels, head.num_outputs, C, seed).to(wide.weight.weight)
        before, refs, _ = collect_logits(model, val_dataloaders[name], name, accelerator)
        wide.weight.weight.add_(margins)
        after, _, _ = collect_logits(model, val_dataloaders[name], name, accelerator)
        wide.weight.weight.sub_(margins)
        svm = after - before  # the SVM's margins on validation (the logits are linear in the wide part's weights)
        scale, weight = stacking_scales(head, before, svm, refs)
        alpha = weight / scale
        wide.weight.weight.add_(alpha * margins)
        metric = head.primary_metric
        scores = [head.compute_metrics(head.decode(before + a * svm), refs)[metric] for a in (0.0, alpha)]
        # scale: what the stacked logits (before + alpha * svm) are multiplied by in the fitted combination, a temperature of 1 / scale
        report[name] = {"alpha": alpha, "scale": scale, "validation_before": scores[0], "validation_after": scores[1]}
        logger.info("task %s: linear SVM on the wide part's features (%d texts, %d n-gram rows per text), its margins added with "
                    "weight %.3g (fitted on validation): validation %s %.4f -> %.4f", name, features.shape[0],
                    round(features.nnz / max(features.shape[0], 1)), alpha, metric, scores[0], scores[1])
    return report


OVERSURE_SCALE = 0.1  # the stacking's fitted scale below which a head's probabilities are far too sure (logits 10 times too large)


def warn_oversure(fitted: dict[str, dict], calibrated: Iterable[str]) -> list[str]:
    """Warn for each task of :func:`add_svm_to_wide`'s report whose stacked logits are more than
    ``1 / OVERSURE_SCALE`` times as large as the fitted combination's on validation (a deep part that
    learned little beside the SVM gives the SVM a huge weight) and that gets no temperature
    (``calibrated``: the tasks calibrated after it), and return those tasks."""
    calibrated = set(calibrated)
    flagged = [name for name, stacked in fitted.items() if stacked["scale"] < OVERSURE_SCALE and name not in calibrated]
    for name in flagged:
        logger.warning("task %s: after the SVM's stacking its logits are %.3g times as large as the fitted combination's on "
                       "validation, so its probabilities are far too sure (the deep part learned little beside the SVM?): "
                       "--calibrate %s, or mtl-text calibrate, divides them by a temperature", name, 1 / fitted[name]["scale"], name)
    return flagged
