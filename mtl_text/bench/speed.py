"""Prediction speed of a trained classifier, from raw text to label ids, for ``scripts/benchmark.py``.

* **Throughput** (texts/s): the texts are scored in batches of ``batch_size``, pass after pass, until
  at least ``min_seconds`` have gone by (at least one whole pass); texts scored / seconds.
* **Latency** (ms): one text per call, for each of the first ``latency_texts`` texts; the 50th and
  99th percentiles.

One batch and one single text are scored first and not timed (warm-up). Timings include each
method's own text processing (our tokenizer; the baselines' vectorizer or word splitting).

Run as a program (``python -m mtl_text.bench.speed``), it loads one saved model (ours or a baseline's),
scores the test split of one task and writes the figures as JSON, so that the benchmark measures
each model in a fresh process whose peak memory is that model's alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arguments import Arguments, NonNegativeFloat, PositiveInt, data_dir_option
from ..utils.allocator import tune_malloc


def measure(predict: Callable[[list[str]], Sequence[int]], texts: Sequence[str], batch_size: int = 256,
            min_seconds: float = 2.0, latency_texts: int = 300) -> dict:
    """Batched throughput and single-text latency of ``predict`` (raw texts -> label ids).

    Returns:
        ``texts_per_second``, ``batch_size``, ``latency_ms_p50``, ``latency_ms_p99`` (milliseconds),
        ``latency_texts`` (calls timed).

    Raises:
        ValueError: ``texts`` is empty.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("measure: no texts to score")
    predict(texts[:batch_size]), predict(texts[:1])  # warm-up
    scored, start = 0, time.perf_counter()
    while True:
        for i in range(0, len(texts), batch_size):
            predict(texts[i : i + batch_size])
        scored += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    latencies = []
    for text in texts[:latency_texts]:
        t0 = time.perf_counter()
        predict([text])
        latencies.append((time.perf_counter() - t0) * 1000)
    return {"texts_per_second": scored / elapsed, "batch_size": batch_size, "latency_ms_p50": float(np.percentile(latencies, 50)),
            "latency_ms_p99": float(np.percentile(latencies, 99)), "latency_texts": len(latencies)}


def load_predict(kind: str, path: str, task: str, batch_size: int) -> Callable[[list[str]], Sequence[int]]:
    """A raw texts -> predictions function for a saved model: ``kind`` is ``mtl-text`` (a model folder
    written by train.py; only ``task``'s head is used; a pair task takes ``(text, text_pair)``
    tuples) or a baseline's name (a file it saved)."""
    if kind == "mtl-text":
        import torch

        from ..inference.prediction import Predictor

        predictor = Predictor.from_pretrained(path, batch_size=batch_size)

        pairs = predictor.model.tasks[task]["text_pair"]

        @torch.inference_mode()
        def predict(texts):
            if pairs:
                return predictor.predict_labels([a for a, _ in texts], [task], text_pairs=[b for _, b in texts])[task].numpy()
            return predictor.predict_labels(texts, [task])[task].numpy()

        return predict
    from .baselines import BASELINES

    return BASELINES[kind].load(path).predict


@dataclass
class SpeedArguments(Arguments):
    kind: str = field(metadata={"help": "mtl-text, or a baseline: tfidf-linearsvc, fasttext"})
    model: str = field(metadata={"help": "the model folder (mtl-text) or file (baselines)"})
    task: str = field(metadata={"help": "the task whose test texts are scored"})
    json: str = field(metadata={"metavar": "FILE", "help": "where the figures go"})
    data_dir: str | None = data_dir_option()
    batch_size: PositiveInt = field(default=256, metadata={"help": "texts per call when measuring throughput"})
    max_texts: PositiveInt | None = field(default=None, metadata={"help": "time only the first N test texts"})
    min_seconds: NonNegativeFloat = field(default=2.0, metadata={
        "help": "throughput: score passes until this many seconds have gone by"})
    latency_texts: PositiveInt = field(default=300, metadata={"help": "latency: this many single-text calls"})
    predictions: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "also score the whole test split once and write references and predictions here (JSON)"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Prediction speed of one saved model on one task's test split (JSON out)."""
    from ..cli.parsing import ArgumentParser
    from ..data.splits import column, load_test_split
    from ..data.tasks import get_task

    (args,), _ = ArgumentParser(SpeedArguments, prog=prog or "python -m mtl_text.bench.speed", description=main.__doc__).parse(argv)
    tune_malloc()  # the same allocator settings for every method timed (as in training and prediction)
    task = get_task(args.task)
    test = load_test_split(task, args.data_dir)
    texts, references = column(test, "text"), column(test, "label")
    if task.text_pair:  # a pair is one input
        texts = list(zip(texts, column(test, "text_pair")))
    predict = load_predict(args.kind, args.model, args.task, args.batch_size)
    result = measure(predict, texts[: args.max_texts], args.batch_size, args.min_seconds, args.latency_texts)
    if args.predictions:
        predictions = np.concatenate([np.asarray(predict(texts[i : i + args.batch_size])) for i in range(0, len(texts), args.batch_size)])
        Path(args.predictions).write_text(json.dumps({"task": args.task, "labels": list(task.labels), "references": references,
                                                      "predictions": predictions.tolist()}))
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from ..cli import exit_with

    exit_with(main)
