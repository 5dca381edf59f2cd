"""Temperature scaling on real models: each classification head's temperature fitted on the
validation split the model was trained with (``mtl_text.calibrate_model``, as ``mtl-text calibrate``
does), then judged on the test split, which the fit never reads: accuracy (unchanged by design), the
expected calibration error (ECE, 15 bins) and the loss (negative log-likelihood) before and after,
each difference with a paired-bootstrap 95% interval over the test examples.

    python benchmarks/calibration.py --data-dir ../shared/data --output benchmarks/calibration.json \\
        runs/default runs/lora/row0d-lora-s42 runs/lora/trec-full-s42

Prints one markdown row per model and task (Guo et al. 2017, "On Calibration of Modern Neural
Networks", for the method and the measure).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

import mtl_text
from mtl_text.data.splits import column
from mtl_text.transfer.significance import paired_bootstrap


def judge(head, raw: torch.Tensor, factor: float, references: torch.Tensor) -> dict:
    """Test figures of ``raw`` logits ``(n, num_outputs)`` and of ``raw / factor``, with paired-bootstrap intervals."""
    scaled = raw / factor

    def ece(logits, refs):
        return head.calibration_error(torch.as_tensor(logits), torch.as_tensor(refs))

    def nll(logits, refs):
        return float(head.calibration_loss(torch.as_tensor(logits), torch.as_tensor(refs)))

    figures = {"examples": len(references), "accuracy": head.compute_metrics(head.decode(raw), references)[head.primary_metric]}
    for name, metric in (("ece", ece), ("loss", nll)):
        difference = paired_bootstrap(scaled.numpy(), raw.numpy(), references.numpy(), metric=metric, n_resamples=1000, seed=0)
        figures[name] = {"before": metric(raw, references), "after": metric(scaled, references),
                         "difference": [difference.delta, difference.low, difference.high]}
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--output", help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    results = {}
    print("| model | task | temperature | test accuracy | test ECE: before, after (difference, 95% interval) "
          "| test loss: before, after (difference, 95% interval) |\n|---|---|---|---|---|---|")
    for model_dir in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            report = mtl_text.calibrate_model(model_dir, Path(tmp) / "calibrated", data_dir=args.data_dir)
        predictor = mtl_text.Predictor.from_pretrained(model_dir)
        for task, fitted in report.items():
            head = predictor.model.head(task)
            test = mtl_text.load_test_split(task, args.data_dir)
            pairs = column(test, "text_pair") if "text_pair" in test.column_names else None
            raw = predictor.predict_logits(column(test, "text"), [task], pairs)[task].float().clone()
            references = torch.as_tensor(np.asarray(column(test, "label")))
            figures = judge(head, raw, fitted["temperature"] / head.temperature, references)
            results.setdefault(model_dir, {})[task] = {"temperature": fitted["temperature"], "validation": fitted, **figures}
            e, n = figures["ece"], figures["loss"]
            print(f"| {model_dir} | {task} | {fitted['temperature']:.3f} | {figures['accuracy']:.4f} | "
                  f"{e['before']:.4f}, {e['after']:.4f} ({e['difference'][0]:+.4f} [{e['difference'][1]:+.4f}, {e['difference'][2]:+.4f}]) | "
                  f"{n['before']:.4f}, {n['after']:.4f} ({n['difference'][0]:+.4f} [{n['difference'][1]:+.4f}, {n['difference'][2]:+.4f}]) |",
                  flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
