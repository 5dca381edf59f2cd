"""How close are the accuracy estimates of ``mtl-text evaluate --estimate-on`` to the accuracy they
estimate? Each single-label head's accuracy on a target split is estimated from its confidences
alone, without the target's labels (ATC, Garg et al. 2022; DoC, Guillory et al. 2021;
``mtl_text.transfer.estimation``), against the validation split the model was trained with; the
target's labels then give the real accuracy, with its 95% Clopper-Pearson interval. The validation
accuracy is the naive estimate beside them.

Targets: each task's own test split, and with ``--cross TASK=HEAD`` another task's test split
scored by a head (e.g. ``amazon_kitchen=amazon_books``: the books head on kitchen reviews).

    python benchmarks/accuracy_estimation.py --data-dir ../shared/data --output benchmarks/accuracy_estimation.json \\
        runs/quickstart runs/default-s43 runs/default-s44 runs/trec \\
        runs/amazon-books --cross amazon_kitchen=amazon_books amazon_dvd=amazon_books amazon_electronics=amazon_books
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from scipy.stats import binomtest

import mtl_text
from mtl_text.data.splits import column
from mtl_text.inference.evaluation import collect_logits, split_dataloaders, tasks_and_heads, trained_with
from mtl_text.inference.prediction import load_tokenizer
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.transfer.estimation import estimate_accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--cross", nargs="*", default=[], metavar="TASK=HEAD", help="also another task's test split, scored by a head")
    parser.add_argument("--output", help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    cross = dict(item.split("=", 1) for item in args.cross)
    accelerator, results = Accelerator(cpu=True), {}
    print("| model | head | target texts | validation accuracy | ATC | DoC | real accuracy [95%] |\n|---|---|---|---:|---:|---:|---|")
    for model_dir in args.models:
        predictor = mtl_text.Predictor.from_pretrained(model_dir)
        model = predictor.model
        names = [name for name in model.tasks if model.head(name).can_abstain]
        validation = split_dataloaders(model, load_tokenizer(model_dir), tasks_and_heads({n: n for n in names}, model.check_tasks), "validation",
                                       args.data_dir, trained_with(MultiTaskModel.read_config(model_dir)), None, None, 128, accelerator)
        for head in names:
            source_logits, source_references, _ = collect_logits(model, validation[head], head, accelerator)
            for target in [head, *(task for task, h in cross.items() if h == head)]:
                test = mtl_text.load_test_split(target, args.data_dir)
                pairs = column(test, "text_pair") if "text_pair" in test.column_names else None
                logits = predictor.predict_logits(column(test, "text"), [head], pairs)[head]
                label_names = mtl_text.get_task(target).labels
                references = torch.as_tensor([model.head(head).labels.index(label_names[i]) for i in np.asarray(column(test, "label"))])
                estimate = estimate_accuracy(model.head(head), source_logits, source_references, logits)
                right = int((model.head(head).decode(logits) == references).sum())
                interval = binomtest(right, len(references)).proportion_ci(method="exact")
                real = right / len(references)
                results.setdefault(model_dir, {})[f"{head} on {target}"] = {**estimate, "accuracy": real, "interval": [interval.low, interval.high]}
                print(f"| {model_dir} | {head} | {target} test ({len(references)}) | {estimate['source_accuracy']:.4f} | {estimate['atc']:.4f} | "
                      f"{estimate['doc']:.4f} | {real:.4f} [{interval.low:.4f}, {interval.high:.4f}] |", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
