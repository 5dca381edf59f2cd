"""Per-task evaluation, exact under several processes, and ``scripts/evaluate.py``.

Under data-parallel evaluation each process scores its share of a split; Accelerate pads the last
batches so every process runs the same number of batches, and ``gather_for_metrics`` drops those
duplicates, so every example is counted exactly once and the metrics equal the single-process ones.

``accelerate launch scripts/evaluate.py --model DIR`` scores a saved model on its tasks' test
splits (or ``--split validation``) and prints the same table as training.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, DataCollatorWithPadding

from .allocator import tune_malloc
from .metrics import classification_metrics
from .modeling import ModelLoadError, MultiTaskModel
from .readers import DataFormatError, DataNotFoundError
from .tasks import DATA_DIR_ENV, UnknownTaskError, get_task, load_task_file, load_task_splits
from .tokenization import tokenize_splits

logger = logging.getLogger("mtl_text.evaluate")


@torch.no_grad()
def evaluate(model, dataloaders: dict, tasks: dict, accelerator: Accelerator) -> dict[str, dict[str, float]]:
    """Per-task metrics on the given dataloaders; every example counted once across processes."""
    model.eval()
    results = {}
    for name, dl in dataloaders.items():
        preds, refs, loss_sum = [], [], 0.0
        for batch in dl:
            logits = model(**model_inputs(batch), task=name)
            logits, labels = accelerator.gather_for_metrics((logits, batch["labels"]))
            loss_sum += torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum").item()
            preds.append(logits.argmax(-1).cpu())
            refs.append(labels.cpu())
        preds, refs = torch.cat(preds), torch.cat(refs)
        results[name] = classification_metrics(preds, refs, tasks[name].num_labels, tasks[name].metrics)
        results[name]["loss"] = loss_sum / max(len(refs), 1)
        results[name]["examples"] = len(refs)
    model.train()
    return results


def model_inputs(batch: dict) -> dict:
    """A batch's model inputs: token ids and mask, or cached ``features``; everything but the labels."""
    return {k: v for k, v in batch.items() if k != "labels"}


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per task, one column per metric."""
    lines = ["| task | accuracy | macro-F1 | examples |", "|---|---|---|---|"]
    for name, m in results.items():
        acc = f"{m['accuracy']:.4f}" if "accuracy" in m else "-"
        f1 = f"{m['macro_f1']:.4f}" if "macro_f1" in m else "-"
        lines.append(f"| {name} | {acc} | {f1} | {m['examples']} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evaluate.py", description="Score a saved mtl-text model on its tasks' test (or validation) "
                                "splits. Launch with `accelerate launch scripts/evaluate.py ...` for several processes.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="a model folder written by train.py")
    p.add_argument("--tasks", nargs="+", default=None, help="tasks to score (default: every head of the model)")
    p.add_argument("--task-file", action="append", default=[], help="a Python file that registers extra tasks; repeatable")
    p.add_argument("--split", choices=["test", "validation"], default="test",
                   help="which split; validation is carved out of train as in training (same --seed and --validation-size)")
    p.add_argument("--data-dir", default=None, help=f"the tasks' data folder (default: ${DATA_DIR_ENV})")
    p.add_argument("--seed", type=int, default=None, help="seed of the validation split (default: the model's training seed)")
    p.add_argument("--validation-size", type=float, default=None, help="default: the model's training value")
    p.add_argument("--batch-size", type=int, default=128, help="examples per batch and process")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the metrics here as JSON")
    return p


def main(argv=None) -> None:
    """Command-line entry point; bad input gives one ``error:`` line and exit status 2."""
    args = build_parser().parse_args(argv)
    tune_malloc()
    accelerator = Accelerator()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    try:
        for spec in args.task_file:
            load_task_file(spec)
        config = MultiTaskModel.read_config(args.model)
        model = MultiTaskModel.from_pretrained(args.model)
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        names = model.check_tasks(args.tasks)
        trained_with = config.get("training_args", {})
        seed = args.seed if args.seed is not None else trained_with.get("seed", 42)
        validation_size = args.validation_size if args.validation_size is not None else trained_with.get("validation_size", 0.1)
        tasks = {name: get_task(name) for name in names}
        collator = DataCollatorWithPadding(tokenizer)
        dataloaders = {}
        for name, task in tasks.items():
            split = load_task_splits(task, args.data_dir, seed=seed, validation_size=validation_size)
            tokenized = tokenize_splits(split, tokenizer, model.tasks[name]["max_length"])[args.split]
            dataloaders[name] = accelerator.prepare_data_loader(DataLoader(tokenized, batch_size=args.batch_size, collate_fn=collator))
    except (UnknownTaskError, DataNotFoundError, DataFormatError, ModelLoadError, KeyError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    logger.info("scoring %s on %d process(es)", names, accelerator.num_processes)
    model = accelerator.prepare_model(model, evaluation_mode=True)
    results = evaluate(model, dataloaders, tasks, accelerator)
    if accelerator.is_main_process:
        print(format_table(results))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    accelerator.end_training()
