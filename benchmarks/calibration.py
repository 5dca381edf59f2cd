"""Temperature scaling on real models: each classification head's temperature fitted on the
validation split the model was trained with (``mtl_text.calibrate_model``, as ``mtl-text calibrate``
does), then judged on the test split, which the fit never reads: accuracy (unchanged by design), the
expected calibration error (ECE, 15 bins) and the loss (negative log-likelihood) before and after,
each difference with a paired-bootstrap 95% interval over the test examples.

    python benchmarks/calibration.py --data-dir ../shared/data --output benchmarks/calibration.json \\
        runs/default runs/lora/row0d-lora-s42 runs/lora/trec-full-s42

For single-label heads it also reports selective prediction (``Head.risk_coverage``): the AURC
before and after, with its interval, and how many test texts a minimum confidence of 0.9 keeps and
their accuracy, and the share of test texts whose top probability is exactly 1 in float32 (ties no
minimum can split). Prints one markdown row per model and task (Guo et al. 2017, "On Calibration of Modern Neural
Networks", for the method and the measure). ``--plot DIR`` also draws each model's and task's
reliability diagram before and after (matplotlib, the bench extra): ``DIR/<model folder>-<task>.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import mtl_text
from mtl_text.data.splits import column
from mtl_text.modeling.heads import reliability_bins
from mtl_text.transfer.significance import paired_bootstrap


def judge(head, raw: torch.Tensor, factor: float, references: torch.Tensor) -> dict:
    """Test figures of ``raw`` logits ``(n, num_outputs)`` and of ``raw / factor``, with paired-bootstrap intervals."""
    scaled = raw / factor

    def ece(logits, refs):
        return head.calibration_error(torch.as_tensor(logits), torch.as_tensor(refs))

    def nll(logits, refs):
        return float(head.calibration_loss(torch.as_tensor(logits), torch.as_tensor(refs)))

    def aurc(logits, refs):  # single-label heads: selective prediction by the predicted label's probability
        return head.risk_coverage(torch.as_tensor(logits), torch.as_tensor(refs))["aurc"]

    figures = {"examples": len(references), "accuracy": head.compute_metrics(head.decode(raw), references)[head.primary_metric]}
    selective = head.risk_coverage(raw, references) is not None
    for name, metric in (("ece", ece), ("loss", nll), *((("aurc", aurc),) if selective else ())):
        difference = paired_bootstrap(scaled.numpy(), raw.numpy(), references.numpy(), metric=metric, n_resamples=1000, seed=0)
        figures[name] = {"before": metric(raw, references), "after": metric(scaled, references),
                         "difference": [difference.delta, difference.low, difference.high]}
    if selective:  # saturated: the share of texts whose top probability is exactly 1 in float32, which no minimum can rank
        figures["saturated"] = {when: float((head.probabilities(logits).max(-1).values == 1).float().mean())
                                for when, logits in (("before", raw), ("after", scaled))}
        # "keep a text whose confidence >= 0.9": how many are kept, and how many of those are right
        figures["confidence_0.9"] = {when: next(({"coverage": p["coverage"], "accuracy": p["accuracy"]} for p in
                                                 head.risk_coverage(logits, references)["points"] if p["min_confidence"] == 0.9), None)
                                     for when, logits in (("before", raw), ("after", scaled))}
    return figures


def reliability_diagram(head, raw: torch.Tensor, factor: float, references: torch.Tensor, title: str, path: Path, bins: int = 15) -> None:
    """Accuracy against confidence per bin, before and after, with the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, (name, logits) in zip(axes, (("as trained", raw), (f"temperature {factor:.2f}", raw / factor))):
        count, confidence_sum, correct_sum = reliability_bins(*head.calibration_forecasts(logits, references), bins)
        full = count > 0
        centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins
        ax.bar(centres[full], (correct_sum / count.clamp(min=1))[full], width=1 / bins, edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot((confidence_sum / count.clamp(min=1))[full], (correct_sum / count.clamp(min=1))[full], "o", color="C3", ms=3,
                label="mean confidence, accuracy")
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        ax.set(title=f"{name}: ECE {head.calibration_error(logits, references, bins):.4f}", xlabel="confidence", xlim=(0, 1), ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--output", help="also write the figures here as JSON")
    parser.add_argument("--plot", metavar="DIR", help="also draw each model's and task's reliability diagram here (PNG)")
    args = parser.parse_args(argv)
    results = {}
    print("| model | task | temperature | test accuracy | test ECE: before, after (difference, 95% interval) "
          "| test loss: before, after (difference, 95% interval) | test AURC: before, after (difference, 95% interval) "
          "|\n|---|---|---|---|---|---|---|")
    for model_dir in args.models:
        report = mtl_text.calibrate_model(model_dir, None, data_dir=args.data_dir)  # fitted and reported; nothing written
        predictor = mtl_text.Predictor.from_pretrained(model_dir)
        for task, fitted in report.items():
            head = predictor.model.head(task)
            test = mtl_text.load_test_split(task, args.data_dir)
            pairs = column(test, "text_pair") if "text_pair" in test.column_names else None
            raw = predictor.predict_logits(column(test, "text"), [task], pairs)[task].float().clone()
            references = torch.as_tensor(np.asarray(column(test, "label")))
            factor = fitted["temperature"] / head.temperature
            figures = judge(head, raw, factor, references)
            if args.plot:
                Path(args.plot).mkdir(parents=True, exist_ok=True)
                reliability_diagram(head, raw, factor, references, f"{Path(model_dir).name}: {task}, test split",
                                    Path(args.plot) / f"{Path(model_dir).name}-{task}.png")
            results.setdefault(model_dir, {})[task] = {"temperature": fitted["temperature"], "validation": fitted, **figures}
            cells = [f"{f['before']:.4f}, {f['after']:.4f} ({f['difference'][0]:+.4f} [{f['difference'][1]:+.4f}, {f['difference'][2]:+.4f}])"
                     if (f := figures.get(name)) else "-" for name in ("ece", "loss", "aurc")]
            print(f"| {model_dir} | {task} | {fitted['temperature']:.3f} | {figures['accuracy']:.4f} | {' | '.join(cells)} |", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
