"""Heads: pooled vector ``(batch, input_dim)`` -> logits ``(batch, num_outputs)``, and everything that
depends on the kind of problem: the loss, how logits become predictions and probabilities, the
metrics and which one is primary (as AllenNLP's and Flair's models own theirs). The training loop,
evaluation, prediction and the benchmark tools call these methods; none of them hard-codes a loss
or an ``argmax``.

A head type is a subclass of :class:`Head` with a ``problem_type`` name, registered with
:func:`register_head_type`; a :class:`~mtl_text.data.tasks.Task` names it in ``problem_type``, and a
saved model's ``config.json`` records it per task. Adding a new kind of head is one class in one
place.

Built in: :class:`SingleLabelClassificationHead` (``single_label_classification``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


class Head(nn.Module):
    """Base class of head types: an MLP on the pooled vector, plus the problem type's loss,
    decoding and metrics.

    ``dropout -> Linear(input_dim, hidden_size) -> tanh -> dropout -> Linear(hidden_size, num_outputs)``,
    the head BERT-style models put on a pooled vector; with ``hidden_size=0`` it is
    ``dropout -> Linear(input_dim, num_outputs)`` (a linear probe).

    Args:
        input_dim: size of the pooled vector.
        labels: the task's label names.
        hidden_size: width of the hidden layer, 0 for none.
        dropout: dropout probability before each linear layer, in ``[0, 1)``.

    Class attributes a subclass sets:
        problem_type: the registered name.
        metric_names: the metrics :meth:`compute_metrics` returns, the primary one first.

    Raises:
        ValueError: ``dropout`` outside ``[0, 1)``.
    """

    problem_type: str = ""
    metric_names: tuple[str, ...] = ()

    def __init__(self, input_dim: int, labels: Sequence[str], hidden_size: int = 256, dropout: float = 0.1):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.labels = list(labels)
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_size > 0:
            layers += [nn.Linear(input_dim, hidden_size), nn.Tanh(), nn.Dropout(dropout)]
            input_dim = hidden_size
        layers.append(nn.Linear(input_dim, self.num_outputs))
        self.layers = nn.Sequential(*layers)

    @property
    def num_outputs(self) -> int:
        """Size of the logits vector (one per label by default)."""
        return len(self.labels)

    @property
    def primary_metric(self) -> str:
        """The metric (higher is better) that model selection averages over tasks."""
        return self.metric_names[0]

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` -> logits ``(batch, num_outputs)``."""
        return self.layers(pooled)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The training loss of ``logits`` ``(batch, num_outputs)`` against ``labels``; ``reduction``
        ``"mean"`` or ``"sum"`` over the batch."""
        raise NotImplementedError

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, num_outputs)`` logits -> ``(batch, num_outputs)`` probabilities (float32)."""
        raise NotImplementedError

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, num_outputs)`` logits -> predictions in the labels' format (``(batch,)`` ids for
        single-label classification)."""
        raise NotImplementedError

    def compute_metrics(self, predictions: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
        """Metric name -> value for all :attr:`metric_names`, from :meth:`decode`'s predictions and
        the references of a whole split."""
        raise NotImplementedError

    def format_prediction(self, probabilities: torch.Tensor) -> dict:
        """One text's output for ``predict.py`` (JSON-able), from its ``(num_outputs,)`` probabilities."""
        raise NotImplementedError


class SingleLabelClassificationHead(Head):
    """One label per text: softmax over the labels, cross-entropy loss, ``argmax`` decoding.

    Metrics (scikit-learn): ``accuracy`` (primary) and ``macro_f1``, the unweighted mean of the
    per-class F1 over all labels; a class with no prediction and no reference counts as 0
    (``zero_division=0``).
    """

    problem_type = "single_label_classification"
    metric_names = ("accuracy", "macro_f1")

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy; ``labels``: ``(batch,)`` class ids."""
        return nn.functional.cross_entropy(logits.float(), labels, reduction=reduction)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids ``(batch,)``."""
        return logits.argmax(-1)

    def compute_metrics(self, predictions: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
        return single_label_metrics(predictions, references, len(self.labels))

    def format_prediction(self, probabilities: torch.Tensor) -> dict:
        """``{"label": best label, "probabilities": {label: p}}``."""
        row = probabilities.tolist()
        best = max(range(len(row)), key=row.__getitem__)
        return {"label": self.labels[best], "probabilities": {label: round(v, 6) for label, v in zip(self.labels, row)}}


def single_label_metrics(predictions: Sequence[int], references: Sequence[int], num_labels: int) -> dict[str, float]:
    """Accuracy and macro-F1 (scikit-learn) of predicted class ids against the references; macro-F1
    averages the F1 of all ``num_labels`` classes, a class never predicted nor present counting 0."""
    from sklearn.metrics import accuracy_score, f1_score

    predictions, references = np.asarray(predictions), np.asarray(references)
    return {"accuracy": float(accuracy_score(references, predictions)),
            "macro_f1": float(f1_score(references, predictions, average="macro", labels=list(range(num_labels)), zero_division=0))}


HEAD_TYPES: dict[str, type[Head]] = {}


def register_head_type(cls: type[Head], *, replace: bool = False) -> type[Head]:
    """Register a :class:`Head` subclass under its ``problem_type`` (usable as a class decorator).

    Raises:
        ValueError: no ``problem_type`` or ``metric_names``, or the name is taken and ``replace`` is false.
    """
    if not cls.problem_type or not cls.metric_names:
        raise ValueError(f"{cls.__name__}: a head type needs a problem_type and metric_names")
    if cls.problem_type in HEAD_TYPES and HEAD_TYPES[cls.problem_type] is not cls and not replace:
        raise ValueError(f"a head type named {cls.problem_type!r} is already registered")
    HEAD_TYPES[cls.problem_type] = cls
    return cls


def head_type(problem_type: str) -> type[Head]:
    """The head class of a problem type.

    Raises:
        ValueError: no head type of that name is registered.
    """
    try:
        return HEAD_TYPES[problem_type]
    except KeyError:
        raise ValueError(f"unknown problem type {problem_type!r}; expected one of {sorted(HEAD_TYPES)}") from None


def metric_names() -> list[str]:
    """Every metric name some registered head type reports."""
    return sorted({m for cls in HEAD_TYPES.values() for m in cls.metric_names})


register_head_type(SingleLabelClassificationHead)
