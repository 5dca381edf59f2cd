"""Per-task evaluation, exact under several processes.

Under data-parallel evaluation each process scores its share of a split; Accelerate pads the last
batches so every process runs the same number of batches, and ``gather_for_metrics`` drops those
duplicates, so every example is counted exactly once and the metrics equal the single-process ones.
Each task's head computes its own loss, decoding and metrics.

:func:`evaluate_model` scores a saved model folder on its tasks' splits (``mtl-text evaluate``).
"""

from __future__ import annotations

import logging
import os

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding

from ..data.splits import load_task_splits
from ..data.tasks import get_task
from ..data.tokenization import tokenize_splits
from ..errors import ModelLoadError
from ..modeling.model import MultiTaskModel
from .prediction import load_tokenizer

logger = logging.getLogger("mtl_text.evaluate")

DISPLAY_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "exact_match": "exact match", "matthews_corrcoef": "MCC", "f1": "F1",
                 "pearson": "Pearson", "spearman": "Spearman", "mse": "MSE"}


@torch.no_grad()
def evaluate(model, dataloaders: dict[str, DataLoader], accelerator: Accelerator) -> dict[str, dict[str, float]]:
    """Per-task metrics on the given (prepared) dataloaders; every example counted once across processes.

    Args:
        model: the (possibly prepared) :class:`~mtl_text.modeling.model.MultiTaskModel`.
        dataloaders: task name -> batches with ``labels`` and the model's inputs.
        accelerator: the run's ``Accelerator``.

    Returns:
        task name -> the head's metrics, plus ``loss`` (mean per example) and ``examples``.
    """
    heads = accelerator.unwrap_model(model)
    results = {}
    for name, dl in dataloaders.items():
        head = heads.head(name)
        logits, refs, loss_sum = collect_logits(model, dl, name, accelerator)
        results[name] = head.compute_metrics(head.decode(logits), refs)
        results[name]["loss"] = loss_sum / max(len(refs), 1)
        results[name]["examples"] = len(refs)
    return results


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
    """A batch's model inputs: token ids and mask, or cached ``features``; everything but the labels."""
    return {k: v for k, v in batch.items() if k != "labels"}


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per task, one column per metric any task reports."""
    metrics = [m for m in dict.fromkeys(k for r in results.values() for k in r) if m not in ("loss", "examples")]
    lines = ["| task | " + " | ".join(DISPLAY_NAMES.get(m, m) for m in metrics) + " | examples |",
             "|---|" + "---|" * (len(metrics) + 1)]
    for name, m in results.items():
        cells = [f"{m[k]:.4f}" if k in m else "-" for k in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {m['examples']} |")
    return "\n".join(lines)


def evaluate_model(model_dir: str | os.PathLike, tasks: list[str] | None = None, split: str = "test", data_dir: str | None = None,
                   seed: int | None = None, validation_size: float | None = None, batch_size: int = 128,
                   accelerator: Accelerator | None = None, verify_hashes: bool = True) -> dict[str, dict[str, float]]:
    """Score a saved model on its tasks' ``test`` (or ``validation``) splits.

    The validation split is carved out of train as in training: ``seed`` and ``validation_size``
    default to the values the model was trained with (recorded in its ``config.json``).

    Raises:
        ModelLoadError: the folder is not a saved model.
        UnknownHeadError: a task the model has no head for.
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    accelerator = accelerator or Accelerator()
    config = MultiTaskModel.read_config(model_dir)
    model = MultiTaskModel.from_pretrained(model_dir, verify_hashes)
    tokenizer = load_tokenizer(model_dir)
    names = model.check_tasks(tasks)
    trained = trained_with(config)
    seed = seed if seed is not None else trained.get("seed", 42)
    validation_size = validation_size if validation_size is not None else trained.get("validation_size", 0.1)
    collator = DataCollatorWithPadding(tokenizer)
    dataloaders = {}
    for name in names:
        splits = load_task_splits(get_task(name), data_dir, seed=seed, validation_size=validation_size)
        tokenized = tokenize_splits(splits, tokenizer, model.tasks[name]["max_length"])[split]
        dataloaders[name] = accelerator.prepare_data_loader(DataLoader(tokenized, batch_size=batch_size, collate_fn=collator))
    logger.info("scoring %s on %d process(es)", names, accelerator.num_processes)
    model = accelerator.prepare_model(model, evaluation_mode=True)
    return evaluate(model, dataloaders, accelerator)


def trained_with(config: dict) -> dict:
    """The data options a saved model was trained with (``seed``, ``validation_size``), from its
    ``config.json`` (``training_config`` groups, or the flat ``training_args`` of older models)."""
    if "training_config" in config:
        groups = config["training_config"]
        if not isinstance(groups, dict):
            raise ModelLoadError("config.json: 'training_config' must be an object")
        return {**groups.get("data", {}), **groups.get("optimization", {})}
    return dict(config.get("training_args", {}))
