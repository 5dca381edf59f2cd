"""What a task's wide part adds at test time: a saved model's test metric with its deep path and
wide part together (the model as saved), the deep path alone (the wide part's weights zeroed) and
the wide part alone (the difference of the two logits), for each model folder given.

    python benchmarks/wide_ablation.py --task sst2 --data-dir ../shared/data runs/minilm-bf16/t047-lr5e5-s42

A model with a wide part adds its logits to the head's (Wide & Deep, Cheng et al. 2016; see
docs/training.md), and training takes the head's loss on the sum and on each part alone, so each
part is a classifier by itself. The logits are linear in the wide part's weights, so zeroing them
leaves the deep path's logits. Scored in fp32 with :class:`mtl_text.Predictor`; the metric is the
head's primary one (accuracy for a single-label head), decoded by the head.
"""

from __future__ import annotations

import argparse
import sys

import torch

import mtl_text
from mtl_text.data.splits import column


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders (save_pretrained) with a wide part for --task")
    parser.add_argument("--task", required=True, help="the task whose head and wide part are scored")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    args = parser.parse_args(argv)
    test = mtl_text.load_test_split(args.task, args.data_dir)
    texts = column(test, "text")
    pairs = column(test, "text_pair") if "text_pair" in test.column_names else None
    references = torch.as_tensor(column(test, "label"))
    print(f"{'model':60}  together  deep alone  wide alone")
    for folder in args.models:
        predictor = mtl_text.Predictor.from_pretrained(folder)
        parts = getattr(predictor.model, "wide", None) or {}
        if args.task not in predictor.model.heads:
            sys.exit(f"error: {folder}: no head for task {args.task!r} (its tasks: {', '.join(predictor.model.heads)})")
        if args.task not in parts:
            sys.exit(f"error: {folder}: no wide part for task {args.task!r} (trained with --wide-buckets 0?)")
        head = predictor.model.heads[args.task]
        together = torch.as_tensor(predictor.predict_logits(texts, tasks=[args.task], text_pairs=pairs)[args.task]).float()
        weights = parts[args.task].weight.weight
        saved = weights.detach().clone()
        with torch.no_grad():
            weights.zero_()
        try:
            deep = torch.as_tensor(predictor.predict_logits(texts, tasks=[args.task], text_pairs=pairs)[args.task]).float()
        finally:
            with torch.no_grad():
                weights.copy_(saved)
        scores = [head.compute_metrics(head.decode(z), references)[head.primary_metric] for z in (together, deep, together - deep)]
        print(f"{folder:60}  {scores[0]:.4f}    {scores[1]:.4f}      {scores[2]:.4f}", flush=True)


if __name__ == "__main__":
    main()
