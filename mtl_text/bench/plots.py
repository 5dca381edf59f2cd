"""The benchmark's plots (matplotlib, PNG): validation curves, a task's test confusion matrix,
and each task's test score (its primary metric: accuracy, macro-F1, Pearson) against train time. Input: the ``results`` dict of :mod:`mtl_text.benchmark`."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _task_axes(tasks: list[str], title: str, width: float = 6.0):
    fig, axes = plt.subplots(1, len(tasks), figsize=(width * len(tasks), 4.5), squeeze=False)
    fig.suptitle(title)
    return fig, dict(zip(tasks, axes[0]))


def _save(fig, axes: dict, path: Path, **axis) -> Path:
    """Title each task's panel, label its axes (``axis``: Axes.set keywords), add grid and legend, write the PNG."""
    for task, ax in axes.items():
        ax.set(title=task, **axis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def validation_curves(results: dict, path: Path) -> Path:
    """Each task's validation score (its primary metric) against seconds of training, one panel per
    task, one line per row of ours (read from each run's ``metrics.jsonl``)."""
    metric = results.get("primary_metrics", {})
    fig, axes = _task_axes(results["tasks"], "Validation score (each task's primary metric) during training")
    for row in results["rows"]:
        log = row["result"].get("metrics_log")
        if not log or not Path(log).is_file():
            continue
        records = [json.loads(line) for line in Path(log).read_text().splitlines()]
        records = [r for r in records if r.get("split") == "validation"]
        for task in row["tasks"]:
            xs = [r["elapsed_s"] for r in records]
            ys = [r["metrics"][task][metric.get(task, "accuracy")] for r in records]
            axes[task].plot(xs, ys, marker=".", linestyle="--" if row["setting"] == "single" else "-", label=row["name"])
    return _save(fig, axes, path, xlabel="training time (s)", ylabel="validation score")


def confusion(results: dict, path: Path, task: str) -> Path | None:
    """Row-normalised confusion matrix of ``task``'s test set for the row whose predictions were saved
    (our first multi-task row; see :func:`mtl_text.bench.benchmark.main`). None if there are none."""
    from sklearn.metrics import ConfusionMatrixDisplay

    row = next((r for r in results["rows"] if r["result"] and (r["result"]["speed"].get(task) or {}).get("predictions")), None)
    if row is None:
        return None
    data = json.loads(Path(row["result"]["speed"][task]["predictions"]).read_text())
    fig, ax = plt.subplots(figsize=(11, 10))
    ConfusionMatrixDisplay.from_predictions(data["references"], data["predictions"], labels=list(range(len(data["labels"]))),
                                            display_labels=data["labels"], normalize="true", values_format=".2f", ax=ax,
                                            xticks_rotation="vertical", colorbar=False, text_kw={"fontsize": 6})
    ax.set_title(f"{task} test set, {row['name']} (rows: true label, normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_vs_time(results: dict, path: Path) -> Path:
    """Each task's test score (its primary metric) against train time (log scale), one panel per
    task, one point per row."""
    metric = results.get("primary_metrics", {})
    fig, axes = _task_axes(results["tasks"], "Test score (each task's primary metric) against train time", width=7.0)
    for row in results["rows"]:
        if not row["result"]:
            continue
        for task in row["tasks"]:
            marker = "s" if row["method"] != "mtl-text" else ("o" if row["setting"] == "multi" else "^")
            axes[task].scatter(row["result"]["train_seconds"], row["result"]["metrics"][task][metric.get(task, "accuracy")], marker=marker,
                               label=row["name"])
    return _save(fig, axes, path, xlabel="train time (s, log scale)", ylabel="test score", xscale="log")


def make_plots(results: dict, out: Path) -> list[str]:
    """Write every plot into ``out``; returns their paths."""
    task = results.get("confusion_task")
    paths = [validation_curves(results, out / "validation_curves.png"), task and confusion(results, out / f"confusion_{task}.png", task),
             accuracy_vs_time(results, out / "accuracy_vs_time.png")]
    return [str(p) for p in paths if p]
