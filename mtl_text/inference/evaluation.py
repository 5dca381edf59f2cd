"""Per-task evaluation, exact under several processes.

Under data-parallel evaluation each process scores its share of a split; Accelerate pads the last
batches so every process runs the same number of batches, and ``gather_for_metrics`` drops those
duplicates, so every example is counted exactly once and the metrics equal the single-process ones.
Each task's head computes its own loss, decoding and metrics.

:func:`evaluate_model` scores a saved model folder on its tasks' splits (``mtl-text evaluate``), with
PyTorch under Accelerate, or (``backend="onnx"``) its ONNX export in one process; :func:`evaluate_ensemble`
scores several models as one.
"""

from __future__ import annotations

import logging
import os

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from ..arguments import check_backend
from ..data.collation import PaddingCollator
from ..data.splits import column, load_task_splits, load_test_split
from ..data.tasks import Task, get_task
from ..data.tokenization import tokenize_splits
from ..errors import ConfigError, ModelLoadError
from ..modeling.heads import SelectiveRequest
from ..modeling.model import MultiTaskModel
from .prediction import Predictor, load_tokenizer

logger = logging.getLogger("mtl_text.evaluate")

NOT_HEAD_METRICS = ("loss", "ece", "examples")  # what :func:`evaluate` reports beside a head's own metrics

DISPLAY_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "exact_match": "exact match", "matthews_corrcoef": "MCC", "f1": "F1",
                 "pearson": "Pearson", "spearman": "Spearman", "mse": "MSE", "ece": "ECE"}


@torch.no_grad()
def evaluate(model, dataloaders: dict[str, DataLoader], accelerator: Accelerator, predictions: dict | None = None,
             heads_of: dict[str, str] | None = None, reports: dict | None = None,
             selective: SelectiveRequest | None = None) -> dict[str, dict[str, float]]:
    """Per-task metrics on the given (prepared) dataloaders; every example counted once across processes.

    Args:
        model: the (possibly prepared) :class:`~mtl_text.modeling.model.MultiTaskModel`.
        dataloaders: name -> batches with ``labels`` and the model's inputs.
        accelerator: the run's ``Accelerator``.
        predictions: if given, filled with name -> ``{"predictions": [...], "references": [...]}``
            (decoded, one per example, in the split's order), e.g. for paired significance tests.
        heads_of: name -> the head that scores those batches (default: the head of the same name);
            cross-task evaluation scores one task's head on another task's split.
        reports: if given, filled with name -> the head's per-class figures
            (:meth:`~mtl_text.modeling.heads.Head.class_report`) where it has classes, and its
            ``risk_coverage`` where it has one confidence per text (:func:`add_class_report`).
        selective: what the ``risk_coverage`` reports also compute, beside their own points: minimum
            confidences to apply (e.g. the one a user means to predict with) and target accuracies to
            find the minimum for (:class:`~mtl_text.modeling.heads.SelectiveRequest`).

    Returns:
        name -> the head's metrics, plus ``loss`` (mean per example), ``ece`` (the expected
        calibration error of its probabilities, :meth:`~mtl_text.modeling.heads.Head.calibration_error`;
        classification heads) and ``examples``.
    """
    heads = accelerator.unwrap_model(model)
    results = {}
    for name, dl in dataloaders.items():
        head_name = (heads_of or {}).get(name, name)
        head = heads.head(head_name)
        logits, refs, loss_sum = collect_logits(model, dl, head_name, accelerator)
        decoded = head.decode(logits)
        results[name] = {**head.compute_metrics(decoded, refs), "loss": loss_sum / max(len(refs), 1),
                         **calibration(head, logits, refs), "examples": len(refs)}
        if predictions is not None:
            predictions[name] = {"head": head_name, "predictions": decoded.tolist(), "references": refs.tolist()}
        add_class_report(reports, name, head, logits, decoded, refs, selective)
    return results


def calibration(head, logits: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
    """``{"ece": the expected calibration error}`` of ``head``'s probabilities from ``logits``
    ``(examples, num_outputs)``, or nothing for a head without probabilities (regression)."""
    ece = head.calibration_error(logits, references)
    return {} if ece is None else {"ece": ece}


def add_class_report(reports: dict | None, name: str, head, logits: torch.Tensor, predictions: torch.Tensor,
                     references: torch.Tensor, selective: SelectiveRequest | None = None) -> None:
    """``reports[name]``, where ``reports`` is given: ``head``'s per-class figures (where it has
    classes: :meth:`~mtl_text.modeling.heads.Head.class_report`) and ``risk_coverage`` (where it has
    one confidence per text: :meth:`~mtl_text.modeling.heads.Head.risk_coverage`, with what
    ``selective`` asks for besides its own points), from its ``logits`` ``(examples, num_outputs)`` and
    their decoded ``predictions``."""
    if reports is None:
        return
    report = head.class_report(predictions, references) or {}
    if (selective := head.risk_coverage(logits, references, selective)) is not None:
        report["risk_coverage"] = selective
    if report:
        reports[name] = report


@torch.no_grad()
def collect_logits(model, dataloader: DataLoader, task: str, accelerator: Accelerator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One task's logits ``(examples, num_outputs)`` and labels over a whole (prepared) split, on the
    CPU, in eval mode, and the head's summed loss; every example once across processes."""
    head = accelerator.unwrap_model(model).head(task)
    was_training = model.training
    model.eval()
    logits, refs, loss_sum = [], [], 0.0
    for batch in dataloader:
        z = model(**model_inputs(batch), task=task)
        z, labels = accelerator.gather_for_metrics((z, batch["labels"]))
        loss_sum += head.loss(z, labels, reduction="sum").item()
        logits.append(z.float().cpu())
        refs.append(labels.cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(refs), loss_sum


def model_inputs(batch: dict) -> dict:
    """A batch's model inputs: token ids and mask, or cached ``features``; everything but the targets
    (``labels``, and a distilled task's ``teacher_logits``)."""
    return {k: v for k, v in batch.items() if k not in ("labels", "teacher_logits")}


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per task, one column per metric any task reports."""
    metrics = [m for m in dict.fromkeys(k for r in results.values() for k in r) if m not in NOT_HEAD_METRICS]
    metrics += ["ece"] if any("ece" in r for r in results.values()) else []  # last: a property of the probabilities
    lines = ["| task | " + " | ".join(DISPLAY_NAMES.get(m, m) for m in metrics) + " | examples |",
             "|---|" + "---|" * (len(metrics) + 1)]
    for name, m in results.items():
        cells = [f"{m[k]:.4f}" if k in m else "-" for k in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['examples']} |")
    return "\n".join(lines)


def format_class_report(report: dict, most_confused: int = 5) -> str:
    """A head's per-class figures (:meth:`~mtl_text.modeling.heads.Head.class_report`) as a markdown
    table, one row per class, followed where there is a confusion matrix by its ``most_confused``
    largest counts off the diagonal (the reference label, the predicted label, the examples)."""
    lines = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label, f in report["per_class"].items():
        lines.append(f"| {label} | {f['precision']:.4f} | {f['recall']:.4f} | {f['f1']:.4f} | {f['support']} |")
    matrix = report.get("confusion_matrix")
    if matrix:
        labels = list(report["per_class"])
        errors = sorted(((n, i, j) for i, row in enumerate(matrix) for j, n in enumerate(row) if i != j and n),
                        key=lambda e: (-e[0], e[1], e[2]))
        if errors:
            lines += ["", "most confused (reference -> predicted: examples): "
                      + "; ".join(f"{labels[i]} -> {labels[j]}: {n}" for n, i, j in errors[:most_confused])]
    return "\n".join(lines)


def check_cross_task(model: MultiTaskModel, head: str, task) -> None:
    """A head can score another task when both have the same problem type, input shape (single texts
    or pairs) and label names (in any order: references are mapped to the head's ids by name).

    Raises:
        UnknownHeadError: no head ``head``.
        ConfigError: the task does not fit the head (the message names what differs).
    """
    info = model.tasks[model.check_tasks([head])[0]]
    if info["problem_type"] != task.problem_type or info["text_pair"] != task.text_pair:
        raise ConfigError(f"head {head} ({info['problem_type']}, {'pairs' if info['text_pair'] else 'single texts'}) cannot score task "
                          f"{task.name} ({task.problem_type}, {'pairs' if task.text_pair else 'single texts'})")
    if info["labels"] != list(task.labels) and (sorted(info["labels"]) != sorted(task.labels) or task.problem_type != "single_label_classification"):
        raise ConfigError(f"head {head} has labels {info['labels']}, task {task.name} has {list(task.labels)}: a head scores another "
                          "task only when the label names are the same (in the same order, for other than single-label tasks)")


def tasks_and_heads(heads_of: dict[str | Task, str], check_heads) -> list[tuple[Task, str]]:
    """``heads_of`` (a task's registered name or the :class:`~mtl_text.data.tasks.Task` itself ->
    the head that scores it) as (task, head) pairs, each head checked by ``check_heads([head])``.

    Raises:
        UnknownTaskError: a task name that is not registered.
        UnknownHeadError: a head the model (or ensemble) does not have.
    """
    return [(get_task(t) if isinstance(t, str) else t, check_heads([h])[0]) for t, h in heads_of.items()]


def evaluate_model(model_dir: str | os.PathLike, tasks: list[str] | None = None, split: str = "test", data_dir: str | None = None,
                   seed: int | None = None, validation_size: float | None = None, batch_size: int = 128,
                   accelerator: Accelerator | None = None, verify_hashes: bool = True, heads_of: dict[str | Task, str] | None = None,
                   predictions: dict | None = None, token: str | None = None, reports: dict | None = None,
                   selective: SelectiveRequest | None = None, loaded: dict | None = None, backend: str = "torch",
                   ) -> dict[str, dict[str, float]]:
    """Score a saved model on its tasks' ``test`` (or ``validation``) splits, or (``heads_of``) a head on
    another task's split: cross-domain evaluation, e.g. a sentiment head on another sentiment data set.

    The validation split is carved out of train as in training: ``seed`` and ``validation_size``
    default to the values the model was trained with, and it is carved by a task's groups if the
    model's training was (all recorded in its ``config.json``; a model saved before
    ``group_validation`` existed was carved example by example).

    Args:
        tasks: the tasks to score (default: every head's own task).
        heads_of: task (a registered name, or a :class:`~mtl_text.data.tasks.Task`, such as
            :func:`~mtl_text.data.tasks.file_task`'s of a labelled file) -> the head that scores it
            (the task need not be one of the model's); its tasks are scored instead of ``tasks``.
        predictions, reports, selective: as in :func:`evaluate`.
        token: for a Hub id, as :meth:`MultiTaskModel.from_pretrained` takes it.
        loaded: as in :func:`scored_split`: splits kept between calls, for several models
            scored in turn (:func:`~mtl_text.inference.comparison.compare_models`).
        backend: ``"torch"`` (the PyTorch model, under ``accelerator``'s processes) or ``"onnx"``: the
            graphs of a folder written by ``mtl-text export-onnx`` (e.g. its int8 export), run by ONNX
            Runtime through a :class:`~mtl_text.Predictor` in this process, so that the figures are the
            export's own; the same metrics, ``loss``, ``ece`` and ``examples``.

    Raises:
        ModelLoadError: the folder is not a saved model (or, with ``backend="onnx"``, holds no export).
        UnknownHeadError: a task the model has no head for.
        ConfigError: a head that cannot score the task given to it (:func:`check_cross_task`); the
            ONNX backend under several processes (:func:`evaluate_predictor`).
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    from ..modeling.hub import resolve_model

    check_backend(backend)
    if backend == "onnx":
        predictor = Predictor.from_pretrained(model_dir, batch_size=batch_size, verify_hashes=verify_hashes, backend="onnx", token=token)
        return evaluate_predictor(predictor, tasks, split, data_dir, seed, validation_size, predictions, reports, heads_of, selective, loaded)
    accelerator = accelerator or Accelerator()
    model_dir = resolve_model(model_dir, token=token)  # a folder, or a Hub id downloaded once
    config = MultiTaskModel.read_config(model_dir)
    model = MultiTaskModel.from_pretrained(model_dir, verify_hashes)
    tokenizer = load_tokenizer(model_dir)
    scored_tasks = tasks_and_heads(heads_of or {t: t for t in model.check_tasks(tasks)}, model.check_tasks)
    heads_of = {task.name: head for task, head in scored_tasks}
    dataloaders = split_dataloaders(model, tokenizer, scored_tasks, split, data_dir, trained_with(config), seed, validation_size,
                                    batch_size, accelerator, loaded)
    logger.info("scoring %s on %d process(es)", ", ".join(n if h == n else f"{n} with head {h}" for n, h in heads_of.items()),
                accelerator.num_processes)
    model = accelerator.prepare_model(model, evaluation_mode=True)
    return evaluate(model, dataloaders, accelerator, predictions, heads_of, reports, selective)


def split_dataloaders(model: MultiTaskModel, tokenizer, scored_tasks: list[tuple[Task, str]], split: str, data_dir: str | None,
                      trained: dict, seed: int | None, validation_size: float | None, batch_size: int,
                      accelerator: Accelerator, loaded: dict | None = None) -> dict[str, DataLoader]:
    """Task name -> the prepared dataloader of its ``split`` (:func:`scored_split`, ``loaded`` as
    there), tokenized for the head that scores it (``scored_tasks``: :func:`tasks_and_heads`),
    ``batch_size`` per process.

    Raises:
        ConfigError: a head that cannot score the task given to it (:func:`check_cross_task`).
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    from datasets import DatasetDict

    collator = PaddingCollator(tokenizer)
    dataloaders = {}
    for task, head in scored_tasks:
        check_cross_task(model, head, task)
        scored = scored_split(task, model.tasks[head]["labels"], split, data_dir, trained, seed, validation_size, loaded)
        tokenized = tokenize_splits(DatasetDict({split: scored}), tokenizer, model.tasks[head]["max_length"])[split]
        dataloaders[task.name] = accelerator.prepare_data_loader(DataLoader(tokenized, batch_size=batch_size, collate_fn=collator))
    return dataloaders


def scored_split(task, head_labels: list[str], split: str, data_dir: str | None, trained: dict, seed: int | None = None,
                 validation_size: float | None = None, loaded: dict | None = None):
    """The examples a head scores: ``task``'s test split, or its validation split carved out of train
    as the model's training carved it (``trained``: :func:`trained_with`; ``seed`` and
    ``validation_size`` override it; a model trained on one cross-validation fold, its fold), with
    the references as the head's label ids (the same label names in another order are remapped).
    ``loaded``: where given, a split as read, filled and reused (the test split by task name, a
    validation split by task name and :func:`validation_carve`), so that a split is read once for
    several models (20 Newsgroups' takes seconds).

    Raises:
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    if split == "test":  # the test split alone: no validation carved
        key, read = task.name, lambda: load_test_split(task, data_dir)
    else:
        carve = validation_carve(trained, seed, validation_size)
        key, read = (task.name, *carve.values()), lambda: load_task_splits(task, data_dir, **carve)[split]
    scored = loaded[key] if loaded is not None and key in loaded else read()
    if loaded is not None:
        loaded[key] = scored
    head_labels = list(head_labels)
    if list(task.labels) != head_labels:  # the same names in another order: references as the head's ids
        order = [head_labels.index(label) for label in task.labels]
        scored = scored.map(lambda row, order=order: {"label": order[row["label"]]})
    return scored


def validation_carve(trained: dict, seed: int | None = None, validation_size: float | None = None) -> dict:
    """How a saved model's validation split is carved out of train, as
    :func:`~mtl_text.data.splits.load_task_splits` takes it: ``seed``, ``validation_size``,
    ``group_validation`` and ``fold`` (``(k, K)`` for a model trained on one cross-validation fold,
    ``--cv-folds K --fold k``, else ``None``), from the options it was trained with (``trained``:
    :func:`trained_with`); ``seed`` and ``validation_size``, where given, override them. Models with
    the same carve score the same validation examples, in the same order."""
    fold = (trained["fold"], trained["cv_folds"]) if trained.get("fold") is not None and trained.get("cv_folds") is not None else None
    return {"seed": seed if seed is not None else trained.get("seed", 42),
            "validation_size": validation_size if validation_size is not None else trained.get("validation_size", 0.1),
            "group_validation": trained.get("group_validation", False), "fold": fold}


def evaluate_ensemble(model_dirs: list[str | os.PathLike], tasks: list[str] | None = None, split: str = "test",
                      data_dir: str | None = None, seed: int | None = None, validation_size: float | None = None, batch_size: int = 64,
                      verify_hashes: bool = True, predictions: dict | None = None, token: str | None = None,
                      reports: dict | None = None, heads_of: dict[str | Task, str] | None = None,
                      selective: SelectiveRequest | None = None, backend: str = "torch",
                      loaded: dict | None = None) -> dict[str, dict[str, float]]:
    """Score an :class:`~mtl_text.inference.ensemble.Ensemble` of saved models (the mean of their
    logits, decoded by the first model's heads) on its tasks' splits, in this process. The
    validation split is carved as the first model's training carved it.

    Args:
        model_dirs: the model folders (or Hub ids), two or more; the first one's heads decode.
        tasks: the tasks to score (default: every task of the ensemble).
        predictions, reports, selective: as in :func:`evaluate`.
        token: for the Hub ids, as :meth:`MultiTaskModel.from_pretrained` takes it.
        heads_of: as :func:`evaluate_model`'s: a head of the ensemble on another task or a labelled
            file (:func:`~mtl_text.data.tasks.file_task`), scored instead of ``tasks``.
        backend: ``"torch"``, or ``"onnx"``: every member's ONNX export (``mtl-text export-onnx``).
        loaded: as in :func:`scored_split`.

    Returns:
        task -> the head's metrics, plus ``loss`` (mean per example, of the mean logits), ``ece`` (as
        :func:`evaluate` reports it) and ``examples``.

    Raises:
        ModelLoadError, ConfigError: as :meth:`Ensemble.from_pretrained <mtl_text.inference.ensemble.Ensemble.from_pretrained>`.
        UnknownHeadError: a task or head that is not one of the ensemble's.
        ConfigError: a head that cannot score the task given to it (:func:`check_cross_task`); several
            processes (:func:`evaluate_predictor`).
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    from .ensemble import Ensemble

    ensemble = Ensemble.from_pretrained(model_dirs, batch_size=batch_size, verify_hashes=verify_hashes, backend=backend, token=token)
    return evaluate_predictor(ensemble, tasks, split, data_dir, seed, validation_size, predictions, reports, heads_of, selective, loaded)


def check_one_process() -> None:
    """Raises:
        ConfigError: this process is one of several that a launcher started (``WORLD_SIZE`` above 1,
            whether Accelerate sees them or not), where a predictor scores (:func:`evaluate_predictor`)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > 1:
        raise ConfigError(f"a predictor scores in one process (an ensemble, an ONNX export, --estimate-on), but this is one of {world} "
                          "(WORLD_SIZE): start it with python or mtl-text, not accelerate launch")


@torch.no_grad()
def evaluate_predictor(predictor, tasks: list[str] | None = None, split: str = "test", data_dir: str | None = None,
                       seed: int | None = None, validation_size: float | None = None, predictions: dict | None = None,
                       reports: dict | None = None, heads_of: dict[str | Task, str] | None = None,
                       selective: SelectiveRequest | None = None, loaded: dict | None = None,
                       logits: dict | None = None) -> dict[str, dict[str, float]]:
    """Score a :class:`~mtl_text.Predictor` (either backend) or an
    :class:`~mtl_text.inference.ensemble.Ensemble` on its tasks' splits in this process, through its
    own tokenization and batching (``predict_logits``): what :func:`evaluate_model` reports, from the
    outputs a user of that predictor gets. The validation split is carved as the training of the
    model in ``predictor.directory`` carved it (an ensemble's: its first member's); the arguments as
    :func:`evaluate_model`'s. ``logits``: where given, filled with task name -> ``(logits,
    references)``, the head's ``(examples, num_outputs)`` logits and the references they are scored
    against (e.g. for :func:`~mtl_text.transfer.estimation.estimate_accuracy`).

    Raises:
        ConfigError: this process is one of several that a launcher started (:func:`check_one_process`):
            each would score every example and print the same figures.
        UnknownHeadError, ConfigError, UnknownTaskError, DataNotFoundError, DataFormatError: as
            :func:`evaluate_model`.
    """
    check_one_process()
    trained = trained_with(MultiTaskModel.read_config(predictor.directory))
    scored_tasks = tasks_and_heads(heads_of or {t: t for t in predictor.check_tasks(tasks)}, predictor.check_tasks)
    results = {}
    for task, head_name in scored_tasks:
        name, head = task.name, predictor.model.head(head_name)
        check_cross_task(predictor.model, head_name, task)
        scored = scored_split(task, head.labels, split, data_dir, trained, seed, validation_size, loaded)
        pairs = column(scored, "text_pair") if "text_pair" in scored.column_names else None
        scores = predictor.predict_logits(column(scored, "text"), [head_name], pairs)[head_name]
        references = torch.as_tensor(column(scored, "label"))
        decoded = head.decode(scores)
        results[name] = {**head.compute_metrics(decoded, references), "loss": float(head.loss(scores, references)),
                         **calibration(head, scores, references), "examples": len(references)}
        if logits is not None:
            logits[name] = (scores, references)
        if predictions is not None:
            predictions[name] = {"head": head_name, "predictions": decoded.tolist(), "references": references.tolist()}
        add_class_report(reports, name, head, scores, decoded, references, selective)
    return results


def trained_with(config: dict) -> dict:
    """The data options a saved model was trained with (``seed``, ``validation_size``, ...), from its
    ``config.json`` (``training_config`` groups, or the flat ``training_args`` of older models)."""
    if "training_config" in config:
        groups = config["training_config"]
        if not isinstance(groups, dict):
            raise ModelLoadError("config.json: 'training_config' must be an object")
        return {**groups.get("data", {}), **groups.get("optimization", {})}
    return dict(config.get("training_args", {}))
