"""An ensemble of saved models (:class:`mtl_text.Ensemble`): the mean of their logits on each task's
test split, decoded by the first model's head, written as a run folder (``test_predictions.json``) that
``benchmarks/compare_runs.py`` compares with single models and baselines.

    python benchmarks/ensemble.py --data-dir ../shared/data --output-dir runs/ensemble \\
        runs/grouped/svm-20newsgroups-s42 runs/grouped/svm-20newsgroups-s43 runs/grouped/svm-20newsgroups-s44

Averaging logits (for single-label heads, the normalised geometric mean of the members'
probabilities) is the plain ensemble of independently trained networks (Hansen & Salamon 1990;
Lakshminarayanan et al. 2017 average probabilities instead). Every member must have a head for each
task with the same labels. Prints each member's test accuracy (or primary metric) and the
ensemble's of the first 2, 3, ... members.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import mtl_text
from mtl_text.data.splits import column


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders (save_pretrained), two or more")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--tasks", nargs="+", help="tasks to score (default: the first model's)")
    parser.add_argument("--output-dir", required=True, help="where test_predictions.json and test_results.json go")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("an ensemble needs two or more models")
    ensemble = mtl_text.Ensemble.from_pretrained(args.models)  # the tasks every member has with the same head
    members = ensemble.members
    try:
        tasks = ensemble.check_tasks(args.tasks)
    except mtl_text.UnknownHeadError as e:
        sys.exit(f"error: {e}")
    predictions, results = {}, {}
    for task in tasks:
        test = mtl_text.load_test_split(task, args.data_dir)
        pairs = column(test, "text_pair") if "text_pair" in test.column_names else None
        references = torch.as_tensor(column(test, "label"))
        head = members[0].model.heads[task]
        logits = [torch.as_tensor(m.predict_logits(column(test, "text"), tasks=[task], text_pairs=pairs)[task]) for m in members]
        for model, lg in zip(args.models, logits):
            print(f"{task}  {model}  {head.compute_metrics(head.decode(lg), references)[head.primary_metric]:.4f}")
        for k in range(2, len(members) + 1):
            decoded = head.decode(ensemble.combine(logits[:k]))
            metrics = head.compute_metrics(decoded, references)
            print(f"{task}  ensemble of the first {k}  {metrics[head.primary_metric]:.4f}")
        predictions[task] = {"head": task, "predictions": decoded.tolist(), "references": references.tolist()}
        results[task] = metrics
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test_predictions.json").write_text(json.dumps(predictions) + "\n")
    (out / "test_results.json").write_text(json.dumps({"members": args.models, "metrics": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
