"""Shared pieces of the transfer experiments (domain adaptation, sequential transfer, learning
curves, task balancing): runs trained in this process through the library's own :func:`~mtl_text.train`,
their test predictions, and the paired comparisons of :mod:`mtl_text.transfer.significance`.

A run's model folder is kept (``--keep-models``) or removed after its predictions are read; a run
whose ``result.json`` already exists in the work folder is read back instead of trained again, so an
interrupted experiment continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ..transfer.significance import compare_runs, mean_interval, seed_spread

logger = logging.getLogger("mtl_text.experiments")


def run_training(argv: list[str], work: Path, keep_model: bool = False, cross: dict[str, str] | None = None,
                 data_dir: str | None = None) -> dict:
    """Train one configuration, given as ``mtl-text train`` options, into ``work/model``; returns
    ``{"command", "metrics", "predictions", "train_seconds", "steps", "cross"}`` where ``cross``
    holds, for each ``task -> head`` of ``cross``, that head's metrics and predictions on the task's
    test split. Cached in ``work/result.json``."""
    from ..cli.train import parse_config
    from ..inference.evaluation import evaluate_model
    from ..training.outputs import PREDICTIONS_JSON
    from ..training.trainer import train

    cached = work / "result.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    work.mkdir(parents=True, exist_ok=True)
    model_dir = work / "model"
    argv = [*argv, "--output-dir", str(model_dir), "--overwrite-output-dir", "--save-total-limit", "0", "--cache-dir", "none"]
    config, _ = parse_config(argv)
    result = train(config)
    record = {"command": "mtl-text train " + " ".join(argv), "metrics": result.metrics, "train_seconds": result.train_seconds, "steps": result.steps,
              "predictions": json.loads((model_dir / PREDICTIONS_JSON).read_text()), "cross": {}}
    from ..training.outputs import METRICS_NAME

    log = [json.loads(line) for line in (model_dir / METRICS_NAME).read_text().splitlines() if line.strip()]
    record["mmd2"] = [{"step": r["step"], **r["mmd2"]} for r in log if r.get("split") == "adaptation"]  # --adapt: before / after
    for task, head in (cross or {}).items():
        predictions: dict = {}
        metrics = evaluate_model(model_dir, split="test", data_dir=data_dir, heads_of={task: head}, predictions=predictions)
        record["cross"][task] = {"head": head, "metrics": metrics[task], **predictions[task]}
    cached.write_text(json.dumps(record) + "\n")
    if not keep_model:
        shutil.rmtree(model_dir, ignore_errors=True)
    return record


def compare(a_runs: list[dict], b_runs: list[dict], metric: str = "accuracy", seed: int = 0, task: str | None = None) -> dict:
    """:func:`~mtl_text.transfer.significance.compare_runs` as a JSON-able dict: the difference with
    its paired-bootstrap interval, ``per_seed`` (each pair's difference) and its ``seed_spread``."""
    difference, per_seed = compare_runs(a_runs, b_runs, metric, seed, task)
    return {**difference.to_dict(), "per_seed": per_seed, "seed_spread": seed_spread(per_seed)}


def mean_of(values: list[float]) -> dict:
    """Mean, std and the 95% t-interval of the mean of several values (e.g. per-pair differences)."""
    low, high = mean_interval(values)
    return {**seed_spread(values), "low": low, "high": high}


def fmt_score(spread: dict) -> str:
    """``0.8453 ± 0.0190`` from :func:`mean_of`'s dict; a single run's score alone (no spread to show)."""
    return f"{spread['mean']:.4f}" if spread.get("n", 0) < 2 else f"{spread['mean']:.4f} ± {spread['std']:.4f}"


def fmt(diff: dict) -> str:
    """``+0.0123 [-0.0040, +0.0290]`` (with `*` when the interval excludes zero)."""
    return f"{diff['delta']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}]{' *' if diff['significant'] else ''}"


def write_results(out: Path, results: dict, table: str) -> None:
    """``results.json`` and ``results.md`` in ``out``; the table printed too."""
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(table)
    print(table)
