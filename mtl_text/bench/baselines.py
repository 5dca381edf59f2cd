"""The baselines a user would pick instead of mtl-text, one task each, for ``scripts/benchmark.py``.

* :class:`TfidfLinearSVC`: TF-IDF over word uni- and bigrams (sublinear term frequency, words seen in
  at least 2 training texts) and a linear SVM (scikit-learn's ``TfidfVectorizer`` + ``LinearSVC``);
  the regularisation ``C`` is chosen on the validation split from :data:`TfidfLinearSVC.GRID`.
* :class:`FastTextClassifier`: fastText supervised classification (Joulin et al. 2017, "Bag of
  Tricks for Efficient Text Classification", EACL), the ``fasttext`` Python package (install the
  ``bench`` extra). Its input is the words our word-level tokenizer sees (NFKC, lower-case,
  punctuation split: :func:`mtl_text.data.tokenization.split_words`), joined by spaces; the learning
  rate, word n-grams and epochs are chosen on the validation split from :data:`FastTextClassifier.GRID`,
  the rest are fastText's defaults (100 dimensions, softmax loss, 2M hash buckets).

Both train on the train split only, choose hyper-parameters by validation accuracy, and predict
label ids from raw text (:meth:`predict`, batched), so their prediction timings include their own
text preprocessing, as ours include tokenization.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..arguments import (
    DEFAULT_VALIDATION_SIZE,
    Arguments,
    Fraction,
    PositiveInt,
    Seed,
    data_dir_option,
    group_validation_option,
    seed_option,
)
from ..data.tokenization import split_words


class TfidfLinearSVC:
    """TF-IDF (word 1-2-grams, sublinear tf, min_df 2) + ``LinearSVC``, ``C`` tuned on validation."""

    name = "tfidf-linearsvc"
    GRID = {"C": [0.1, 0.3, 1.0, 3.0]}

    @staticmethod
    def vectorizer():
        """The baseline's unfitted ``TfidfVectorizer``: word 1-2-grams, sublinear tf, min_df 2, float32."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)

    def __init__(self, seed: int = 42, grid: dict | None = None):
        self.seed, self.grid, self.pipeline = seed, grid or self.GRID, None

    def fit(self, train_texts: Sequence[str], train_labels: Sequence[int], val_texts: Sequence[str],
            val_labels: Sequence[int]) -> dict:
        """Fit one SVM per grid value on the same TF-IDF features and keep the most accurate on validation.

        Returns:
            ``params`` (the chosen ones), ``train_seconds`` (vectorizer + the chosen SVM's fit, seconds),
            ``tuning_seconds`` (the whole search), ``validation_accuracy``, ``epochs`` (1).
        """
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import LinearSVC

        t0 = time.perf_counter()
        vectorizer = self.vectorizer()
        x_train = vectorizer.fit_transform(train_texts)
        vectorize_seconds = time.perf_counter() - t0
        x_val = vectorizer.transform(val_texts)
        best = None
        for c in self.grid["C"]:
            t1 = time.perf_counter()
            svm = LinearSVC(C=c, random_state=self.seed).fit(x_train, train_labels)
            fit_seconds = time.perf_counter() - t1
            accuracy = float((svm.predict(x_val) == np.asarray(val_labels)).mean())
            if best is None or accuracy > best[0]:
                best = (accuracy, c, svm, fit_seconds)
        accuracy, c, svm, fit_seconds = best
        self.pipeline = make_pipeline(vectorizer, svm)
        return {"params": {"C": c}, "train_seconds": vectorize_seconds + fit_seconds,
                "tuning_seconds": time.perf_counter() - t0, "validation_accuracy": accuracy, "epochs": 1}

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Label ids, ``(len(texts),)``."""
        return self.pipeline.predict(list(texts))

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "wb") as f:
            pickle.dump(self.pipeline, f)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TfidfLinearSVC:
        """Load a pipeline this class saved (a pickle: only load files you wrote yourself)."""
        obj = cls()
        with open(path, "rb") as f:
            obj.pipeline = pickle.load(f)
        return obj


class FastTextClassifier:
    """fastText supervised classifier; lr, word n-grams and epochs tuned on validation."""

    name = "fasttext"
    GRID = {"lr": [0.25, 1.0], "wordNgrams": [1, 2], "epoch": [5, 25]}

    def __init__(self, seed: int = 42, grid: dict | None = None, threads: int | None = None):
        self.seed, self.grid, self.model = seed, grid or self.GRID, None
        self.threads = threads or os.cpu_count() or 1

    @staticmethod
    def prepare(texts: Sequence[str]) -> list[str]:
        """Raw texts -> fastText input lines: our word-level tokenizer's words joined by spaces (one line each)."""
        return [" ".join(words) for words in split_words(texts)]

    def fit(self, train_texts: Sequence[str], train_labels: Sequence[int], val_texts: Sequence[str],
            val_labels: Sequence[int]) -> dict:
        """Train one model per grid point on the train split and keep the most accurate on validation.

        Returns:
            ``params``, ``train_seconds`` (preprocessing + the chosen model's training, seconds),
            ``tuning_seconds``, ``validation_accuracy``, ``epochs`` (the chosen number of passes).

        Raises:
            ModuleNotFoundError: the ``fasttext`` package is not installed (``pip install -e ".[bench]"``).
        """
        import fasttext

        t0 = time.perf_counter()
        lines = [f"__label__{label} {text}\n" for label, text in zip(train_labels, self.prepare(train_texts))]
        prepare_seconds = time.perf_counter() - t0
        val_prepared, val_labels = self.prepare(val_texts), np.asarray(val_labels)
        best = None
        with tempfile.TemporaryDirectory() as tmp:
            train_file = Path(tmp) / "train.txt"
            train_file.write_text("".join(lines), encoding="utf-8")
            keys = list(self.grid)
            for values in itertools.product(*(self.grid[k] for k in keys)):
                params = dict(zip(keys, values))
                t1 = time.perf_counter()
                model = fasttext.train_supervised(input=str(train_file), thread=self.threads, seed=self.seed, verbose=0, **params)
                fit_seconds = time.perf_counter() - t1
                self.model = model
                accuracy = float((self.predict_prepared(val_prepared) == val_labels).mean())
                if best is None or accuracy > best[0]:
                    best = (accuracy, params, model, fit_seconds)
        accuracy, params, self.model, fit_seconds = best
        return {"params": params, "train_seconds": prepare_seconds + fit_seconds, "tuning_seconds": time.perf_counter() - t0,
                "validation_accuracy": accuracy, "epochs": params.get("epoch", 5)}

    def predict_prepared(self, lines: list[str]) -> np.ndarray:
        """Label ids ``(len(lines),)`` of texts already split by :meth:`prepare` (so that a benchmark
        can time the two stages apart)."""
        labels, _ = self.model.predict(lines, k=1)
        # a text without words gets no prediction from fastText: it gets the most frequent training label
        return np.array([int((row[0] if row else self.model.get_labels()[0])[len("__label__"):]) for row in labels])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Label ids, ``(len(texts),)``."""
        return self.predict_prepared(self.prepare(texts))

    def save(self, path: str | os.PathLike) -> None:
        self.model.save_model(str(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> FastTextClassifier:
        import fasttext

        obj = cls()
        obj.model = fasttext.load_model(str(path))
        return obj


BASELINES = {cls.name: cls for cls in (TfidfLinearSVC, FastTextClassifier)}

QUICK_GRIDS = {"tfidf-linearsvc": {"C": [1.0]}, "fasttext": {"lr": [1.0], "wordNgrams": [2], "epoch": [25]}}


@dataclass
class BaselineArguments(Arguments):
    method: Literal[tuple(BASELINES)] = field(metadata={"help": "which baseline"})
    task: str = field(metadata={"help": "a registered task"})
    model_out: str = field(metadata={"help": "where the fitted model is saved"})
    json: str = field(metadata={"metavar": "FILE", "help": "where the summary goes"})
    data_dir: str | None = data_dir_option()
    seed: Seed = seed_option(42, "seeds the validation split (as training's) and the model")
    validation_size: Fraction = field(default=DEFAULT_VALIDATION_SIZE, metadata={
        "help": "fraction of train held out for validation (as training's)"})
    group_validation: bool = group_validation_option("carve the validation split by the task's groups (as training's --group-validation)")
    max_train_examples: PositiveInt | None = field(default=None, metadata={
        "help": "use only the first N shuffled training examples"})
    quick: bool = field(default=False, metadata={"help": "no search: one setting (C=1; lr 1.0, word bigrams, 25 epochs)"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Train one baseline on one task (hyper-parameters chosen on validation), score its test split,
    save the model and write a JSON summary; the benchmark runs this in a child process."""
    from ..cli.parsing import ArgumentParser
    from ..data.splits import column, load_task_splits
    from ..data.tasks import get_task
    from ..modeling.heads import single_label_metrics

    (args,), _ = ArgumentParser(BaselineArguments, prog=prog or "python -m mtl_text.bench.baselines", description=main.__doc__).parse(argv)
    task = get_task(args.task)
    for path in (args.model_out, args.json):  # their folders exist before minutes of fitting, not after
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    splits = load_task_splits(task, args.data_dir, seed=args.seed, validation_size=args.validation_size,
                              max_train_examples=args.max_train_examples, group_validation=args.group_validation)
    train, val, test = ((column(splits[s], "text"), column(splits[s], "label")) for s in ("train", "validation", "test"))
    clf = BASELINES[args.method](seed=args.seed, grid=QUICK_GRIDS[args.method] if args.quick else None)
    info = clf.fit(*train, *val)
    metrics = single_label_metrics(clf.predict(test[0]), test[1], task.num_labels)
    clf.save(args.model_out)
    info.update(grid=clf.grid, train_examples=len(train[0]), metrics={task.name: {**metrics, "examples": len(test[0])}},
                train_samples_per_second=len(train[0]) * info["epochs"] / info["train_seconds"])
    Path(args.json).write_text(json.dumps(info, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from ..cli import exit_with

    exit_with(main)
