"""Heads: pooled vector ``(batch, input_dim)`` -> logits ``(batch, num_outputs)``, and everything that
depends on the kind of problem: the loss, how logits become predictions and probabilities, the
metrics and which one is primary (as AllenNLP's and Flair's models own theirs). The training loop,
evaluation, prediction and the benchmark tools call these methods; none of them hard-codes a loss
or an ``argmax``.

A head type is a subclass of :class:`Head` with a ``problem_type`` name, registered with
:func:`register_head_type`; a :class:`~mtl_text.data.tasks.Task` names it in ``problem_type``, and a
saved model's ``config.json`` records it per task, with the head's options (class weights,
thresholds). A head type also owns its labels' format in the data (:meth:`Head.label_feature`,
:meth:`Head.encode_label`). Adding a new kind of head is one class in one place.

Built in:

* :class:`SingleLabelClassificationHead` (``single_label_classification``): softmax, cross-entropy
  (optionally class-weighted), ``argmax``;
* :class:`MultiLabelClassificationHead` (``multi_label_classification``): one sigmoid per label,
  binary cross-entropy, a decision threshold per label;
* :class:`RegressionHead` (``regression``): one real output per target, mean squared error on
  (optionally standardised) targets.

The primary metric, which model selection and early stopping average over tasks (higher is
better): accuracy for single-label classification, macro-F1 for multi-label classification, the
Pearson correlation for regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.labels import label_id, label_list
from ..errors import DataFormatError


def float_vector_feature(labels: Sequence[str]):
    """The :mod:`datasets` feature of a ``(len(labels),)`` float vector per example (multi-hot labels,
    regression targets)."""
    import datasets

    return datasets.Sequence(datasets.Value("float32"), length=len(labels))


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
        primary_metric: the metric model selection uses for this task, one of the head's metrics
            where higher is better (default: the head type's first, e.g. CoLA picks
            ``matthews_corrcoef`` over ``accuracy``).
        temperature: ``T`` > 0 that the task's logits are divided by (:meth:`calibrated`), 1 as
            trained; :meth:`fit_temperature` sets it on held-out data (temperature scaling).

    Class attributes a subclass sets:
        problem_type: the registered name.
        metric_names: the metrics :meth:`compute_metrics` returns, the primary one first (an
            instance may add some for its labels: :meth:`task_metric_names`).
        stratify: whether a validation split carved out of train is stratified on the label.
        min_labels: the fewest labels (outputs) a task of this type has.

    Raises:
        ValueError: ``dropout`` outside ``[0, 1)``, a ``primary_metric`` the head does not report (or
            one where lower is better), a ``temperature`` that is not a finite number > 0, or an
            option the head type does not take.
    """

    problem_type: str = ""
    metric_names: tuple[str, ...] = ()
    stratify: bool = False
    min_labels: int = 2

    def __init__(self, input_dim: int, labels: Sequence[str], hidden_size: int = 256, dropout: float = 0.1,
                 primary_metric: str | None = None, temperature: float = 1.0, **options):
        super().__init__()
        if options:
            raise ValueError(f"{type(self).__name__} takes no option(s) {sorted(options)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.temperature = check_temperature(temperature)
        self.labels = list(labels)
        self.chosen_primary = primary_metric
        self.metric_names = ordered_metrics(self.task_metric_names(self.labels), primary_metric)
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_size > 0:
            layers += [nn.Linear(input_dim, hidden_size), nn.Tanh(), nn.Dropout(dropout)]
            input_dim = hidden_size
        layers.append(nn.Linear(input_dim, self.num_outputs))
        self.layers = nn.Sequential(*layers)

    @classmethod
    def task_metric_names(cls, labels: Sequence[str]) -> tuple[str, ...]:
        """The metrics a head of this type reports for a task with these labels (the primary first)."""
        return cls.metric_names

    @classmethod
    def label_feature(cls, labels: Sequence[str]):
        """The :mod:`datasets` feature of this head type's labels (class ids by default)."""
        import datasets

        return datasets.ClassLabel(names=list(labels))

    @classmethod
    def encode_label(cls, value, labels: Sequence[str], where: str):
        """One example's raw label (a name or an id) in the stored format.

        Raises:
            DataFormatError: a label that is not one of ``labels`` (named by ``where``).
        """
        return label_id(value, labels, where)

    def options(self) -> dict:
        """The head's options as saved in ``config.json`` (rebuilt with them on loading)."""
        return {**({"primary_metric": self.chosen_primary} if self.chosen_primary else {}),
                **({"temperature": self.temperature} if self.temperature != 1.0 else {})}

    @property
    def num_outputs(self) -> int:
        """Size of the logits vector (one per label by default)."""
        return len(self.labels)

    @property
    def primary_metric(self) -> str:
        """The metric (higher is better) that model selection averages over tasks."""
        return self.metric_names[0]

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` -> logits ``(batch, num_outputs)``, before :meth:`calibrated`."""
        return self.layers(pooled)

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """A task's whole logits ``(batch, num_outputs)`` (the head's, plus a wide part's) divided by
        the head's temperature: the logits the model outputs. The same tensor when it is 1."""
        return logits if self.temperature == 1.0 else logits / self.temperature

    def fit_temperature(self, logits: torch.Tensor, references: torch.Tensor) -> float:
        """Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): the
        factor ``t`` > 0 that minimises :meth:`calibration_loss` of ``logits / t`` against
        ``references`` on held-out data, folded into the head's temperature (``T <- T * t``, since
        ``logits`` ``(examples, num_outputs)`` are the model's outputs, already divided by ``T``).
        One number per head, so decoding by ``argmax`` is unchanged; probabilities and the loss
        change. Fitted with L-BFGS over ``log t`` in float64, ``t`` in ``[e^-30, e^30]``. Returns the new temperature.

        Raises:
            NotImplementedError: a head type whose outputs are not probabilities (regression).
        """
        z = logits.double()
        (t,) = fit_positive_scales(lambda scale: self.calibration_loss(z / scale, references), 1, bound=30.0)
        self.temperature = check_temperature(self.temperature * float(t))
        return self.temperature

    def calibration_forecasts(self, logits: torch.Tensor, references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The probabilistic forecasts that calibration is judged on, from ``logits`` ``(examples,
        num_outputs)`` and ``references``: each forecast's probability ``(n,)`` and whether it came
        true ``(n,)`` (1.0 or 0.0). ``None`` for a head type without probabilities (regression)."""
        return None

    def calibration_error(self, logits: torch.Tensor, references: torch.Tensor, bins: int = 15) -> float | None:
        """The expected calibration error (ECE; Naeini et al. 2015, as Guo et al. 2017 measure it) of
        :meth:`calibration_forecasts`: the forecasts are put in ``bins`` equal-width bins of their
        probability, and ECE is the mean over forecasts of ``|accuracy - mean probability|`` of their
        bin (0 for perfectly calibrated probabilities; in probability units). ``None`` for a head
        type without probabilities (regression)."""
        forecasts = self.calibration_forecasts(logits, references)
        return None if forecasts is None else expected_calibration_error(*forecasts, bins)

    def risk_coverage(self, logits: torch.Tensor, references: torch.Tensor, request: SelectiveRequest | None = None) -> dict | None:
        """Selective prediction on labelled data: how accuracy rises as the least confident texts are
        set aside (:func:`risk_coverage` of its :meth:`calibration_forecasts`, one per text, with what
        ``request`` asks for besides its own points), from ``logits`` ``(examples, num_outputs)``.
        ``None`` for a head type that cannot abstain (:attr:`can_abstain`: multi-label, regression)."""
        if not self.can_abstain:
            return None
        request = request or SelectiveRequest()
        return risk_coverage(*self.calibration_forecasts(logits, references), requested=request.min_confidences,
                             target_accuracies=request.target_accuracies, delta=request.delta)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The training loss of ``logits`` ``(batch, num_outputs)`` against ``labels``; ``reduction``
        ``"mean"`` or ``"sum"`` over the batch."""
        raise NotImplementedError

    def calibration_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The mean loss that a fit on held-out data minimises (the stacking weight of ``--wide-svm``, a
        temperature): :meth:`loss` without its training-only terms, such as label smoothing, which
        would reward under-confident logits there. ``logits`` ``(batch, num_outputs)``."""
        return self.loss(logits, labels)

    def distillation_loss(self, logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """The loss of ``logits`` against a teacher's ``teacher_logits`` (both ``(batch, num_outputs)``, the
        same labels in the same order) at ``temperature`` (> 0), mean over the batch: knowledge
        distillation's soft-target loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a
        Neural Network").

        Raises:
            NotImplementedError: a head type without soft targets (regression: its outputs depend on
                each model's own target scaling).
        """
        raise NotImplementedError(f"{type(self).__name__} ({self.problem_type}) has no distillation loss")

    def consistency_loss(self, logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
        """How far apart two predictions of the same texts are, ``logits_a`` and ``logits_b`` (both
        ``(batch, num_outputs)``, e.g. two forward passes under independent dropout masks), mean over
        the batch; 0 when they agree, symmetric in its two arguments. R-Drop's regulariser
        (Liang et al. 2021, "R-Drop: Regularized Dropout for Neural Networks"; ``--r-drop``).

        Raises:
            NotImplementedError: a head type that does not define one.
        """
        raise NotImplementedError(f"{type(self).__name__} ({self.problem_type}) has no consistency loss (--r-drop)")

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

    def class_report(self, predictions: torch.Tensor, references: torch.Tensor) -> dict | None:
        """Per-class figures for an error analysis (``mtl-text evaluate --per-class``) from decoded
        ``predictions`` and ``references`` as :meth:`compute_metrics` takes them; ``None`` where the
        problem type has no classes (regression)."""
        return None

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """What prediction reports per output: ``(batch, num_outputs)``; the probabilities for
        classification heads."""
        return self.probabilities(logits)

    def format_prediction(self, scores: torch.Tensor) -> dict:
        """One text's output for ``predict.py`` (JSON-able), from its ``(num_outputs,)`` :meth:`scores`."""
        raise NotImplementedError

    def top_k(self, output: dict, k: int) -> dict:
        """:meth:`format_prediction`'s ``output`` with only its ``k`` most probable labels'
        probabilities, the most probable first (as the ``top_k`` of transformers' text-classification
        pipeline); the predicted label or labels stay as they are. Labels are ranked by the output's
        (rounded) probabilities; those that round alike keep their label order. An output without
        probabilities (regression) is returned unchanged.

        Raises:
            ValueError: ``k`` < 1.
        """
        if k < 1:
            raise ValueError(f"top_k must be >= 1, got {k}")
        if "probabilities" not in output:
            return output
        ranked = sorted(output["probabilities"].items(), key=lambda item: item[1], reverse=True)[:k]  # stable: ties keep label order
        return {**output, "probabilities": dict(ranked)}

    def abstain(self, output: dict, min_confidence: float) -> dict:
        """:meth:`format_prediction`'s ``output`` marked for selective prediction: ``"abstain": true``
        where the head is less sure of it than ``min_confidence`` (:meth:`risk_coverage` shows what
        a minimum keeps). A head type without one confidence per text (multi-label, regression)
        returns it unchanged (see :attr:`can_abstain`)."""
        return output

    # whether the head type has one confidence per text, its calibration_forecasts (the decision's
    # probability and whether it is right): then abstain() marks its outputs and risk_coverage() judges them
    can_abstain = False


class SingleLabelClassificationHead(Head):
    """One label per text: softmax over the labels, cross-entropy loss, ``argmax`` decoding.

    Metrics (scikit-learn): ``accuracy`` (primary); for two labels ``f1``, the F1 of the second
    label (the positive class: GLUE's F1 for MRPC); ``macro_f1`` (the unweighted mean of the
    per-class F1 over all labels; a class with no prediction and no reference counts as 0) and
    ``matthews_corrcoef`` (Matthews 1975; GLUE's metric for CoLA; multi-class as in Gorodkin 2004).

    Args:
        class_weights: one weight per label for the cross-entropy (``None``: all 1), e.g. the
            ``balanced`` weights ``n / (num_labels * count_i)`` (King & Zeng 2001; scikit-learn's
            ``compute_class_weight``) for imbalanced tasks. The mean loss is then
            ``sum_i w_{y_i} CE_i / sum_i w_{y_i}``, as :func:`torch.nn.functional.cross_entropy`
            defines it.
        label_smoothing: ``ε`` in ``[0, 1)``: the cross-entropy's target puts ``1 - ε`` on the
            label and ``ε`` spread evenly over all labels (Szegedy et al. 2016, "Rethinking the
            Inception Architecture for Computer Vision"; transformers' ``label_smoothing_factor``).
            It changes the loss only: decoding and probabilities are as without it.

    Raises:
        ValueError: class weights of another length than the labels, or not positive; a
            ``label_smoothing`` outside ``[0, 1)``.
    """

    problem_type = "single_label_classification"
    metric_names = ("accuracy", "macro_f1", "matthews_corrcoef")
    stratify = True

    def __init__(self, input_dim: int, labels: Sequence[str], hidden_size: int = 256, dropout: float = 0.1,
                 class_weights: Sequence[float] | None = None, label_smoothing: float = 0.0, **options):
        super().__init__(input_dim, labels, hidden_size, dropout, **options)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if len(class_weights) != len(self.labels) or not all(w > 0 for w in class_weights):
                raise ValueError(f"class_weights must be {len(self.labels)} positive numbers, one per label, got {class_weights}")
            self.register_buffer("class_weights", torch.tensor(class_weights), persistent=False)  # saved in config.json
        else:
            self.class_weights = None

    @classmethod
    def task_metric_names(cls, labels: Sequence[str]) -> tuple[str, ...]:
        """``accuracy, macro_f1, matthews_corrcoef``; with two labels ``f1`` (of the second) after accuracy."""
        return (cls.metric_names[0], "f1", *cls.metric_names[1:]) if len(labels) == 2 else cls.metric_names

    def options(self) -> dict:
        weights = {} if self.class_weights is None else {"class_weights": [round(w, 6) for w in self.class_weights.tolist()]}
        smoothing = {"label_smoothing": self.label_smoothing} if self.label_smoothing else {}
        return {**super().options(), **weights, **smoothing}

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Cross-entropy, class-weighted when the head has class weights and against smoothed
        targets under ``label_smoothing``; ``labels``: ``(batch,)`` class ids."""
        return nn.functional.cross_entropy(logits.float(), labels, weight=self.class_weights, reduction=reduction,
                                           label_smoothing=self.label_smoothing)

    def calibration_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy (class-weighted as :meth:`loss`) against the labels themselves, without label smoothing."""
        return nn.functional.cross_entropy(logits.float(), labels, weight=self.class_weights)

    def distillation_loss(self, logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``T² · KL(softmax(teacher / T) ‖ softmax(logits / T))``, mean over the batch (Hinton et al.
        2015: the factor ``T²`` keeps the gradients' scale as ``T`` changes). 0 when the two agree."""
        t = float(temperature)
        student = nn.functional.log_softmax(logits.float() / t, dim=-1)
        teacher = nn.functional.log_softmax(teacher_logits.float() / t, dim=-1)
        return nn.functional.kl_div(student, teacher, log_target=True, reduction="batchmean") * t * t

    def consistency_loss(self, logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
        """The symmetric Kullback-Leibler divergence ``(KL(P_a ‖ P_b) + KL(P_b ‖ P_a)) / 2`` of the two
        softmax distributions, mean over the batch (R-Drop, Liang et al. 2021, their eq. 2), in nats."""
        log_a, log_b = nn.functional.log_softmax(logits_a.float(), dim=-1), nn.functional.log_softmax(logits_b.float(), dim=-1)
        return ((log_a.exp() - log_b.exp()) * (log_a - log_b)).sum(-1).mean() / 2

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=-1)

    def calibration_forecasts(self, logits: torch.Tensor, references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The predicted label's probability (the confidence) and whether it is right, per text."""
        confidence, predicted = self.probabilities(logits).max(-1)
        return confidence, (predicted == references).float()

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Class ids ``(batch,)``."""
        return logits.argmax(-1)

    def compute_metrics(self, predictions: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
        return single_label_metrics(predictions, references, len(self.labels))

    def class_report(self, predictions: torch.Tensor, references: torch.Tensor) -> dict:
        """``per_class`` (:func:`per_class_figures`) and ``confusion_matrix``: ``(num_labels,
        num_labels)`` counts, row ``i`` the examples of label ``i``, column ``j`` those predicted ``j``
        (scikit-learn's ``confusion_matrix``, in label order)."""
        from sklearn.metrics import confusion_matrix

        matrix = confusion_matrix(np.asarray(references), np.asarray(predictions), labels=list(range(len(self.labels))))
        return {"per_class": per_class_figures(self.labels, predictions, references), "confusion_matrix": matrix.tolist()}

    can_abstain = True

    def abstain(self, output: dict, min_confidence: float) -> dict:
        """``output`` with ``"abstain"``: whether its label's probability, as printed, is below ``min_confidence``."""
        return {**output, "abstain": output["probabilities"][output["label"]] < min_confidence}

    def format_prediction(self, probabilities: torch.Tensor) -> dict:
        """``{"label": best label, "probabilities": {label: p}}``."""
        row = probabilities.tolist()
        best = max(range(len(row)), key=row.__getitem__)
        return {"label": self.labels[best], "probabilities": {label: round(v, 6) for label, v in zip(self.labels, row)}}


class MultiLabelClassificationHead(Head):
    """Any number of labels per text: one sigmoid output per label, binary cross-entropy loss; a
    label is predicted when its probability reaches its threshold (0.5 by default).

    Labels in the data: a list of label names or ids per text (or one string of them separated by
    commas), stored as a multi-hot vector ``(num_labels,)``. A validation split carved out of train
    is a plain seeded random sample (multi-label sets are not stratified).

    Metrics (scikit-learn, on the multi-hot predictions): ``macro_f1`` (primary; the mean of the
    per-label F1, a label never predicted nor present counting 0, as GoEmotions reports it),
    ``micro_f1`` and ``exact_match`` (the fraction of texts whose whole label set is right: subset
    accuracy).

    Args:
        thresholds: one decision threshold per label, in ``(0, 1)`` (default 0.5 each).

    Raises:
        ValueError: thresholds of another length than the labels, or outside ``(0, 1)``.
    """

    problem_type = "multi_label_classification"
    metric_names = ("macro_f1", "micro_f1", "exact_match")

    def __init__(self, input_dim: int, labels: Sequence[str], hidden_size: int = 256, dropout: float = 0.1,
                 thresholds: Sequence[float] | None = None, **options):
        super().__init__(input_dim, labels, hidden_size, dropout, **options)
        thresholds = [0.5] * len(self.labels) if thresholds is None else [float(t) for t in thresholds]
        if len(thresholds) != len(self.labels) or not all(0 < t < 1 for t in thresholds):
            raise ValueError(f"thresholds must be {len(self.labels)} numbers in (0, 1), one per label, got {thresholds}")
        self.register_buffer("thresholds", torch.tensor(thresholds), persistent=False)  # saved in config.json

    @classmethod
    def label_feature(cls, labels: Sequence[str]):
        return float_vector_feature(labels)

    @classmethod
    def encode_label(cls, value, labels: Sequence[str], where: str) -> list[float]:
        """A list of names or ids (or a comma-separated string of them) -> multi-hot ``(num_labels,)``.

        Raises:
            DataFormatError: a label that is not one of ``labels``, or a value that is not a list.
        """
        hot = [0.0] * len(labels)
        for item in label_list(value, where):
            hot[label_id(item, labels, where)] = 1.0
        return hot

    def options(self) -> dict:
        thresholds = [round(t, 6) for t in self.thresholds.tolist()]
        return {**super().options(), **({} if all(t == 0.5 for t in thresholds) else {"thresholds": thresholds})}

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Binary cross-entropy over every label; ``labels``: ``(batch, num_labels)`` multi-hot.
        ``reduction="sum"`` sums over texts (each text's loss is its mean over labels)."""
        per_text = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none").mean(-1)
        return per_text.sum() if reduction == "sum" else per_text.mean()

    def distillation_loss(self, logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """``T²`` times the binary cross-entropy of ``logits / T`` against the teacher's probabilities
        ``sigmoid(teacher / T)``, each label a two-class softmax (Hinton et al. 2015 per label), mean
        over labels and texts. Its minimum (the teacher's entropy, not 0) is where the two agree."""
        t = float(temperature)
        targets = torch.sigmoid(teacher_logits.float() / t)
        return nn.functional.binary_cross_entropy_with_logits(logits.float() / t, targets) * t * t

    def consistency_loss(self, logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
        """The symmetric Kullback-Leibler divergence of the two predictions, each label a Bernoulli
        distribution: ``(KL(p_a ‖ p_b) + KL(p_b ‖ p_a)) / 2 = (p_a - p_b) (z_a - z_b) / 2`` for
        probabilities ``p = sigmoid(z)``, mean over labels and texts (R-Drop per label), in nats."""
        a, b = logits_a.float(), logits_b.float()
        return ((torch.sigmoid(a) - torch.sigmoid(b)) * (a - b)).mean() / 2

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())

    def calibration_forecasts(self, logits: torch.Tensor, references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every label's probability and whether the text has the label, all labels pooled (each a
        yes/no forecast)."""
        return self.probabilities(logits).flatten(), references.float().flatten()

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Multi-hot predictions ``(batch, num_labels)``: probability >= the label's threshold."""
        return (self.probabilities(logits) >= self.thresholds.to(logits.device)).float()

    def compute_metrics(self, predictions: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        predictions, references = np.asarray(predictions).astype(int), np.asarray(references).astype(int)
        return {"macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0)),
                "micro_f1": float(f1_score(references, predictions, average="micro", zero_division=0)),
                "exact_match": float(accuracy_score(references, predictions))}

    def class_report(self, predictions: torch.Tensor, references: torch.Tensor) -> dict:
        """``per_class`` (:func:`per_class_figures`), each label scored as its own yes/no decision."""
        return {"per_class": per_class_figures(self.labels, np.asarray(predictions).astype(int), np.asarray(references).astype(int))}

    def tune_thresholds(self, logits: torch.Tensor, references: torch.Tensor, grid: Sequence[float] | None = None) -> list[float]:
        """Set each label's threshold to the value of ``grid`` (default 0.05, 0.10, ..., 0.95) that
        maximises the label's F1 on ``logits`` ``(n, num_labels)`` against multi-hot ``references``
        (a validation split; ties go to the threshold nearest 0.5). A label with no positive
        reference keeps 0.5. Returns the thresholds.

        Per-label threshold tuning on held-out data ("SCut", Yang 2001, "A study of thresholding
        strategies for text categorization").
        """
        from sklearn.metrics import f1_score

        grid = np.round(np.arange(0.05, 0.951, 0.05), 2) if grid is None else np.asarray(grid, dtype=float)
        probs, refs = self.probabilities(logits).numpy(), np.asarray(references).astype(int)
        chosen = []
        for j in range(probs.shape[1]):
            if refs[:, j].sum() == 0:
                chosen.append(0.5)
                continue
            scores = [f1_score(refs[:, j], (probs[:, j] >= t).astype(int), zero_division=0) for t in grid]
            best = max(range(len(grid)), key=lambda i: (round(scores[i], 12), -abs(grid[i] - 0.5)))
            chosen.append(float(grid[best]))
        self.thresholds.copy_(torch.tensor(chosen))
        return chosen

    def format_prediction(self, probabilities: torch.Tensor) -> dict:
        """``{"labels": [labels at or above their threshold], "probabilities": {label: p}}``."""
        row = probabilities.tolist()
        chosen = [label for label, p, t in zip(self.labels, row, self.thresholds.tolist()) if p >= t]
        return {"labels": chosen, "probabilities": {label: round(v, 6) for label, v in zip(self.labels, row)}}


def per_class_figures(labels: Sequence[str], predictions, references) -> dict[str, dict[str, float]]:
    """label -> ``precision``, ``recall``, ``f1`` and ``support`` (the label's reference count), from
    class ids ``(n,)`` or multi-hot ``(n, num_labels)`` predictions and references, in label order;
    0 where a figure is undefined (no prediction or no reference of the label). scikit-learn's
    ``precision_recall_fscore_support(average=None)``, as in its ``classification_report``."""
    from sklearn.metrics import precision_recall_fscore_support

    single = np.asarray(references).ndim == 1
    precision, recall, f1, support = precision_recall_fscore_support(
        np.asarray(references), np.asarray(predictions), labels=list(range(len(labels))) if single else None, average=None,
        zero_division=0)
    return {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
            for label, p, r, f, n in zip(labels, precision, recall, f1, support)}


def single_label_metrics(predictions: Sequence[int], references: Sequence[int], num_labels: int) -> dict[str, float]:
    """Accuracy, macro-F1 and Matthews correlation (scikit-learn) of predicted class ids against the
    references, and for two labels the F1 of label 1 (the positive class); macro-F1 averages the F1
    of all ``num_labels`` classes, a class never predicted nor present counting 0."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    predictions, references = np.asarray(predictions), np.asarray(references)
    metrics = {"accuracy": float(accuracy_score(references, predictions))}
    if num_labels == 2:
        metrics["f1"] = float(f1_score(references, predictions, pos_label=1, average="binary", zero_division=0))
    metrics["macro_f1"] = float(f1_score(references, predictions, average="macro", labels=list(range(num_labels)), zero_division=0))
    metrics["matthews_corrcoef"] = float(matthews_corrcoef(references, predictions))
    return metrics


class RegressionHead(Head):
    """Real-valued targets, one output per target (``labels`` name them, e.g. ``("similarity",)``):
    mean squared error, the output read as the prediction.

    Labels in the data: a number per text (or a list of ``k`` numbers, one per target), stored as a
    ``(k,)`` float vector. A validation split carved out of train is a plain seeded random sample.

    Target scaling (optional, ``target_mean``/``target_std``): the head learns the standardised
    target ``(y - mean) / std`` (the training split's mean and standard deviation, computed when
    the model is built and saved with it in ``config.json``), and :meth:`decode` maps its output
    back to the original scale. The loss is then the MSE in standardised units; without scaling it
    is the MSE in the target's own units.

    Metrics (scipy / scikit-learn, in the target's units, averaged over targets when ``k > 1``):
    ``pearson`` (primary; Pearson's r, GLUE's STS-B metric), ``spearman`` (Spearman's rank
    correlation) and ``mse`` (mean squared error, the one metric where lower is better). A constant
    prediction has no defined correlation: it counts as 0.

    Args:
        target_mean, target_std: per-target scaling (``std > 0``), or ``None`` for no scaling.

    Raises:
        ValueError: scaling of another length than the targets, or ``std <= 0``; a ``temperature``
            other than 1 (a value has no temperature).
    """

    problem_type = "regression"
    metric_names = ("pearson", "spearman", "mse")
    min_labels = 1

    def __init__(self, input_dim: int, labels: Sequence[str], hidden_size: int = 256, dropout: float = 0.1,
                 target_mean: Sequence[float] | None = None, target_std: Sequence[float] | None = None, **options):
        super().__init__(input_dim, labels, hidden_size, dropout, **options)
        if self.temperature != 1.0:
            raise ValueError(f"a regression head has no temperature (its outputs are values), got temperature={self.temperature}")
        k = len(self.labels)
        mean = [0.0] * k if target_mean is None else [float(m) for m in target_mean]
        std = [1.0] * k if target_std is None else [float(v) for v in target_std]
        if len(mean) != k or len(std) != k or not all(v > 0 for v in std):
            raise ValueError(f"target_mean and target_std must be {k} numbers each (std > 0), got {target_mean} and {target_std}")
        self.scaled = target_mean is not None or target_std is not None
        self.register_buffer("target_mean", torch.tensor(mean), persistent=False)  # saved in config.json
        self.register_buffer("target_std", torch.tensor(std), persistent=False)

    @classmethod
    def label_feature(cls, labels: Sequence[str]):
        return float_vector_feature(labels)

    @classmethod
    def encode_label(cls, value, labels: Sequence[str], where: str) -> list[float]:
        """A number (or a string holding one), or a list of one per target -> ``(k,)`` floats.

        Raises:
            DataFormatError: a value that is not a finite number, or a list of the wrong length.
        """
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(values) != len(labels):
            raise DataFormatError(f"{where}: expected {len(labels)} target value(s) {list(labels)}, found {value!r}")
        out = []
        for v in values:
            try:
                number = float(v.strip() if isinstance(v, str) else v)
            except (TypeError, ValueError):
                number = None
            if isinstance(v, bool) or number is None or not np.isfinite(number):
                raise DataFormatError(f"{where}: a regression target must be a finite number, found {v!r}")
            out.append(number)
        return out

    def options(self) -> dict:
        if not self.scaled:
            return super().options()
        return {**super().options(), "target_mean": [round(m, 6) for m in self.target_mean.tolist()],
                "target_std": [round(v, 6) for v in self.target_std.tolist()]}

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Mean squared error of the outputs against the (standardised) targets ``(batch, k)``;
        ``reduction="sum"`` sums over texts (each text's loss is its mean over targets)."""
        target = (labels.float() - self.target_mean.to(labels.device)) / self.target_std.to(labels.device)
        per_text = nn.functional.mse_loss(logits.float(), target, reduction="none").mean(-1)
        return per_text.sum() if reduction == "sum" else per_text.mean()

    def consistency_loss(self, logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
        """The mean squared difference of the two outputs (in the units the head learns: standardised
        with target scaling), mean over targets and texts: R-Drop's regulariser for regression
        (Liang et al. 2021 use the MSE for STS-B)."""
        return nn.functional.mse_loss(logits_a.float(), logits_b.float())

    def fit_temperature(self, logits: torch.Tensor, references: torch.Tensor) -> float:
        """Raises NotImplementedError: a regression head's outputs are values, not probabilities."""
        raise NotImplementedError(f"{type(self).__name__} ({self.problem_type}) has no temperature: its outputs are values")

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Raises TypeError: a regression head predicts values, not probabilities (see :meth:`scores`)."""
        raise TypeError("a regression head has no probabilities; use its predicted values (Predictor.predict_labels or predict)")

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Predicted values in the target's units, ``(batch, k)``."""
        return logits.float() * self.target_std.to(logits.device) + self.target_mean.to(logits.device)

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """The predicted values, ``(batch, k)``."""
        return self.decode(logits)

    def compute_metrics(self, predictions: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
        from scipy.stats import pearsonr, spearmanr
        from sklearn.metrics import mean_squared_error

        predictions, references = np.asarray(predictions, dtype=np.float64), np.asarray(references, dtype=np.float64)
        pearson, spearman = [], []
        for j in range(predictions.shape[1]):
            p, r = predictions[:, j], references[:, j]
            constant = len(p) < 2 or np.ptp(p) == 0 or np.ptp(r) == 0
            pearson.append(0.0 if constant else float(pearsonr(p, r)[0]))
            spearman.append(0.0 if constant else float(spearmanr(p, r)[0]))
        return {"pearson": float(np.mean(pearson)), "spearman": float(np.mean(spearman)),
                "mse": float(mean_squared_error(references, predictions))}

    def format_prediction(self, scores: torch.Tensor) -> dict:
        """``{"value": v}`` for one target, ``{"values": {target: v}}`` for several."""
        row = [round(v, 6) for v in scores.tolist()]
        return {"value": row[0]} if len(row) == 1 else {"values": dict(zip(self.labels, row))}


def fit_positive_scales(loss, size: int, bound: float) -> torch.Tensor:
    """The ``size`` positive numbers ``s = exp(p)`` that minimise ``loss(s)`` (a 0-d tensor), by L-BFGS
    (strong Wolfe line search, 200 iterations) over ``p`` in float64 from ``p = 0``, each ``p`` held in
    ``[-bound, bound]``: a temperature, or stacking weights. Returns ``s``, ``(size,)`` float64."""
    log_s = torch.zeros(size, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_s], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = loss(log_s.clamp(-bound, bound).exp())
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(closure)
    return log_s.detach().clamp(-bound, bound).exp()


def check_temperature(temperature: float) -> float:
    """``temperature`` as a float.

    Raises:
        ValueError: not a finite number > 0.
    """
    value = float(temperature)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return value


def reliability_bins(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The forecasts' ``confidence`` ``(n,)`` in ``[0, 1]`` and ``correct`` ``(n,)`` (1 where the
    forecast came true) in ``bins`` equal-width bins ``((b - 1) / bins, b / bins]`` (a confidence of 0
    joins the first): per bin ``(bins,)``, the number of forecasts, the sum of their confidences and
    the number that came true (float64). A reliability diagram plots the two sums over the count."""
    confidence, correct = confidence.double().flatten(), correct.double().flatten()
    which = (confidence * bins).ceil().clamp(1, bins).long() - 1
    return (torch.bincount(which, minlength=bins).double(), torch.bincount(which, confidence, bins),
            torch.bincount(which, correct, bins))


@dataclass(frozen=True)
class SelectiveRequest:
    """What a risk-coverage report (:func:`risk_coverage`) computes besides its own points:
    ``min_confidences`` to apply as given (e.g. the one a user means to predict with), and
    ``target_accuracies`` to find the lowest minimum confidence for, each guaranteed with probability
    ``1 - delta`` (:func:`guaranteed_min_confidence`)."""

    min_confidences: tuple[float, ...] = ()
    target_accuracies: tuple[float, ...] = ()
    delta: float = 0.05


RISK_COVERAGES = (1.0, 0.95, 0.9, 0.8, 0.7, 0.5)  # the shares of texts kept that risk_coverage reports
RISK_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)  # the minimum confidences it reports


def risk_coverage(confidence: torch.Tensor, correct: torch.Tensor, coverages: Sequence[float] = RISK_COVERAGES,
                  thresholds: Sequence[float] = RISK_THRESHOLDS, requested: Sequence[float] = (),
                  target_accuracies: Sequence[float] = (), delta: float = 0.05) -> dict:
    """Selective prediction (Geifman & El-Yaniv 2017, "Selective Classification for Deep Neural
    Networks"): keep the texts whose ``confidence`` ``(n,)`` reaches a minimum, set the others aside
    (for a person to label, say), and see the accuracy on those kept (``correct`` ``(n,)``: 1 where the
    prediction is right).

    Returns:
        ``aurc``: the area under the risk-coverage curve, the error rate of the ``k`` most confident
        texts averaged over ``k = 1..n`` (Geifman et al. 2019, "Bias-Reduced Uncertainty Estimation
        for Deep Neural Classifiers"; lower is better; texts of equal confidence, such as probabilities
        saturated at 1, averaged over their orders), and
        ``points``: for each of ``coverages`` (the minimum confidence that keeps at least that share
        of the texts) and each of ``thresholds`` (a minimum confidence that keeps at least one text),
        ``{"min_confidence", "coverage", "accuracy", "examples"}``: the rule "keep a text whose
        confidence >= min_confidence" applied to these texts (ties at it kept, so a coverage may come
        out above the one asked), the share kept, their accuracy and their number; the most
        coverage first, one point per set of texts kept (a threshold of ``thresholds`` named where
        it keeps the same texts as a coverage's rule); with ``requested`` minimums, also
        ``requested``: a point for each, in their order, whatever it keeps (``accuracy`` ``None``
        where it keeps no text); with ``target_accuracies``, also ``guaranteed``: for each, in their
        order, :func:`guaranteed_min_confidence` at ``delta`` with its ``target_accuracy`` and ``delta``.
    """
    ranked, ranked_correct = _most_confident_first(confidence, correct)
    n = len(ranked)
    if n == 0:
        return {"aurc": 0.0, "points": []}
    right = ranked_correct.cumsum(0)
    # the texts of one confidence have no order among them: each counts as their mean correctness (the
    # expected curve over their orders), so the AURC does not depend on the order of the data
    _, group, sizes = torch.unique_consecutive(ranked, return_inverse=True, return_counts=True)
    mean_right = torch.zeros(len(sizes), dtype=torch.float64).index_add_(0, group, ranked_correct) / sizes
    aurc = float((1 - mean_right[group].cumsum(0) / torch.arange(1, n + 1, dtype=torch.float64)).mean())
    def point(rule: float) -> dict:
        return _kept_point(ranked, right, rule)

    rules = [float(ranked[max(1, int(np.ceil(c * n - 1e-9))) - 1]) for c in coverages] + [float(t) for t in thresholds]
    kept_by = {}  # texts kept -> the point; a round threshold wins over a coverage's confidence that keeps the same texts
    for rule in rules:
        if (p := point(rule))["examples"]:
            kept_by[p["examples"]] = p
    report = {"aurc": aurc, "points": [kept_by[kept] for kept in sorted(kept_by, reverse=True)]}
    if requested:
        report["requested"] = [point(float(m)) for m in requested]
    if target_accuracies:
        report["guaranteed"] = [{"target_accuracy": float(t), "delta": float(delta), **_guaranteed(ranked, right, t, delta)}
                                for t in target_accuracies]
    return report


def guaranteed_min_confidence(confidence: torch.Tensor, correct: torch.Tensor, target_accuracy: float, delta: float = 0.05) -> dict:
    """The lowest minimum confidence whose kept texts are right at least ``target_accuracy`` of the
    time, with probability at least ``1 - delta`` for new texts drawn like these: selection with
    guaranteed risk (SGR; Geifman & El-Yaniv 2017, "Selective Classification for Deep Neural
    Networks", Algorithm 1), on held-out ``confidence`` ``(n,)`` and ``correct`` ``(n,)`` (1 where the
    prediction is right).

    A binary search over the rules "keep a text whose confidence >= c" (``c`` one of the
    confidences, ties kept) of ``ceil(log2 n)`` steps; each step bounds the error rate of the texts the
    rule keeps by the binomial tail (the one-sided Clopper-Pearson upper bound at ``1 - delta /
    steps``, scipy's ``beta.ppf``; the union bound over the steps makes the rule returned hold with
    ``1 - delta``), and keeps more texts where the bound is at most ``1 - target_accuracy``, fewer
    where not.

    Returns:
        ``{"min_confidence", "coverage", "accuracy", "examples", "accuracy_bound"}``: the rule that
        keeps the most texts among those that passed, the share of the texts it keeps, their
        accuracy, their number, and the lower bound on its accuracy (``>= target_accuracy``); or,
        where no rule passed, the same keys with ``min_confidence`` ``None`` and the figures of the
        last rule tried, the one of the fewest texts (too few texts, or a model not that accurate on
        any share of them).

    Raises:
        ValueError: ``target_accuracy`` not in ``(0, 1)``, ``delta`` not in ``(0, 1)``, or no texts.
    """
    ranked, ranked_correct = _most_confident_first(confidence, correct)
    return _guaranteed(ranked, ranked_correct.cumsum(0), target_accuracy, delta)


def _most_confident_first(confidence: torch.Tensor, correct: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forecasts ``(n,)`` on the CPU, the most confident first (ties in data order): their
    confidences, and their correctness as float64."""
    confidence, correct = confidence.detach().cpu().flatten(), correct.detach().cpu().double().flatten()
    order = torch.argsort(confidence, descending=True, stable=True)
    return confidence[order], correct[order]


def _kept_point(ranked: torch.Tensor, right: torch.Tensor, rule: float) -> dict:
    """The rule "keep a text whose confidence >= ``rule``" on confidences ``ranked`` most confident
    first, with ``right`` the running count of right answers: ``{"min_confidence", "coverage",
    "accuracy", "examples"}`` (``accuracy`` ``None`` where it keeps no text). Compared in the
    confidences' own precision: a float32 0.9 reaches the threshold 0.9."""
    kept = int((ranked >= torch.tensor(rule, dtype=ranked.dtype)).sum())
    return {"min_confidence": rule, "coverage": kept / len(ranked), "accuracy": float(right[kept - 1] / kept) if kept else None,
            "examples": kept}


def _guaranteed(ranked: torch.Tensor, right: torch.Tensor, target_accuracy: float, delta: float) -> dict:
    """:func:`guaranteed_min_confidence` on forecasts already ranked (as :func:`_kept_point` takes them)."""
    from scipy.stats import beta

    if not 0 < target_accuracy < 1 or not 0 < delta < 1:
        raise ValueError(f"target_accuracy and delta must be in (0, 1), got {target_accuracy} and {delta}")
    if len(ranked) == 0:
        raise ValueError("guaranteed_min_confidence needs at least one text")
    steps = max(1, math.ceil(math.log2(len(ranked))))

    def rule(z: int) -> dict:  # the rule of the z-th most confident text, its ties kept
        point = _kept_point(ranked, right, float(ranked[z - 1]))
        errors = point["examples"] - int(round(float(right[point["examples"] - 1])))
        bound = 1.0 if errors == point["examples"] else float(beta.ppf(1 - delta / steps, errors + 1, point["examples"] - errors))
        return {**point, "accuracy_bound": 1 - bound}

    low, high, best, tried = 1, len(ranked), None, None
    for _ in range(steps):
        z = math.ceil((low + high) / 2)
        tried = rule(z)
        if tried["accuracy_bound"] >= target_accuracy:
            best = tried if best is None or tried["examples"] > best["examples"] else best
            low = z
        else:
            high = z
    return best if best is not None else {**tried, "min_confidence": None}


def printed_minimum(value: float) -> str:
    """A minimum confidence as ``mtl-text predict --min-confidence`` should be given it: rounded up to
    the 6 decimals predict prints probabilities with, so that it keeps no text its rule sets aside."""
    return f"{math.ceil(value * 1e6 - 1e-6) / 1e6:.6f}"


def format_risk_coverage(selective: dict) -> str:
    """A head's :func:`risk_coverage` as a markdown table, the most coverage first, with its AURC
    below, then the minimums asked for (its ``requested``) and the minimums found for target
    accuracies (its ``guaranteed``), if any: what ``mtl-text evaluate --risk-coverage`` prints and
    the model card shows."""
    def confidence(value: float) -> str:  # saturated probabilities apart: 1 - 3.0e-07 is not 1 - 2.0e-09
        return f"{value:.4f}" if value < 0.9999 else "1" if value >= 1 else f"1 - {1 - value:.1e}"

    def rows(points: list[dict]) -> list[str]:
        return [f"| {confidence(p['min_confidence'])} | {p['coverage']:.4f} | "
                f"{'-' if p['accuracy'] is None else format(p['accuracy'], '.4f')} | {p['examples']} |" for p in points]

    header = ["| min. confidence | coverage | accuracy | examples |", "|---:|---:|---:|---:|"]
    lines = [*header, *rows(selective["points"]), "", f"AURC (area under the risk-coverage curve; lower is better): {selective['aurc']:.4f}"]
    if selective.get("requested"):  # the minimums asked for (--min-confidence), each whatever it keeps
        lines += ["", "the minimums asked for:", *header, *rows(selective["requested"])]
    if selective.get("guaranteed"):  # the lowest minimums for target accuracies (--target-accuracy)
        found = [g for g in selective["guaranteed"] if g["min_confidence"] is not None]
        lines += ["", f"the lowest minimum for a target accuracy, which holds with probability {1 - selective['guaranteed'][0]['delta']:g} "
                  "for texts drawn like these (SGR; the minimum rounded up to the 6 decimals predict prints):"]
        if found:
            lines += ["| target accuracy | min. confidence | coverage | accuracy | examples | accuracy bound |", "|---:|---:|---:|---:|---:|---:|",
                      *(f"| {g['target_accuracy']:g} | {printed_minimum(g['min_confidence'])} | {g['coverage']:.4f} | "
                        f"{g['accuracy']:.4f} | {g['examples']} | {g['accuracy_bound']:.4f} |" for g in found)]
        lines += [f"target accuracy {g['target_accuracy']:g}: no minimum guarantees it on these {round(g['examples'] / g['coverage'])} texts "
                  f"(the last rule tried keeps {g['examples']}: accuracy {g['accuracy']:.4f}, bound {g['accuracy_bound']:.4f})"
                  for g in selective["guaranteed"] if g["min_confidence"] is None]
    return "\n".join(lines)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15) -> float:
    """ECE (Naeini et al. 2015; Guo et al. 2017, eq. 3): ``sum_b |B_b| / n * |acc(B_b) - conf(B_b)|``
    over the :func:`reliability_bins` of the forecasts (0 for none)."""
    count, confidence_sum, correct_sum = reliability_bins(confidence, correct, bins)
    return float((confidence_sum - correct_sum).abs().sum() / count.sum()) if count.sum() > 0 else 0.0


LOWER_IS_BETTER = frozenset({"mse"})  # metrics model selection cannot maximise


def ordered_metrics(names: Sequence[str], primary: str | None) -> tuple[str, ...]:
    """``names`` with ``primary`` first (unchanged when it is ``None``).

    Raises:
        ValueError: ``primary`` is not one of ``names``, or lower is better for it.
    """
    if primary is None:
        return tuple(names)
    if primary not in names or primary in LOWER_IS_BETTER:
        raise ValueError(f"primary_metric {primary!r} must be one of {[n for n in names if n not in LOWER_IS_BETTER]}")
    return (primary, *(n for n in names if n != primary))

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


register_head_type(SingleLabelClassificationHead)
register_head_type(MultiLabelClassificationHead)
register_head_type(RegressionHead)
