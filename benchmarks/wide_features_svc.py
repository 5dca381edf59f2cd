"""How good are the wide part's features? A LinearSVC on exactly the features a trained model's wide
part reads (its hashed n-grams, TF-IDF weights and IDF), per task, on the same splits.

    python benchmarks/wide_features_svc.py runs/wide-aux --data-dir ../shared/data --seed 42

Fits ``sklearn.svm.LinearSVC(C)`` on the training split the model was trained on (its validation
split carved out with the same seed) and prints the test accuracy, to set beside TF-IDF +
LinearSVC's and the model's own.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.svm import LinearSVC
from transformers import AutoTokenizer

import mtl_text
from mtl_text.data.splits import column
from mtl_text.data.tasks import get_task
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.wide_fit import wide_features


def features(wide, tokenizer, texts: list[str], labels: list, max_length: int, batch_size: int = 256):
    """The wide part's features of ``texts`` (a sparse matrix) and their labels, as ``--wide-svm`` reads them."""
    def batches():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start: start + batch_size], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            yield {**enc, "labels": torch.as_tensor(labels[start: start + batch_size])}

    return wide_features(wide, batches())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder trained with --wide-buckets")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=42, help="the seed the model was trained with (its validation split)")
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    model = MultiTaskModel.from_pretrained(args.model)
    if model.wide is None:
        raise SystemExit(f"error: {args.model} has no wide part (train with --wide-buckets)")
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    for name, info in model.tasks.items():
        splits = mtl_text.load_task_splits(get_task(name), args.data_dir, seed=args.seed)
        train, test = splits["train"], splits["test"]
        x_train, y_train = features(model.wide[name], tokenizer, column(train, "text"), column(train, "label"), info["max_length"])
        x_test, y_test = features(model.wide[name], tokenizer, column(test, "text"), column(test, "label"), info["max_length"])
        svc = LinearSVC(C=args.C).fit(x_train, y_train)
        accuracy = float((svc.predict(x_test) == y_test).mean())
        print(f"{name}: LinearSVC(C={args.C}) on the wide part's features: test accuracy {accuracy:.4f} "
              f"({x_train.shape[0]} training texts, {x_train.nnz / x_train.shape[0]:.0f} n-gram rows per text)")


if __name__ == "__main__":
    main()
