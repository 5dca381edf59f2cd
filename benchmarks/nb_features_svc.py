"""Would Naive Bayes features help SST-2's linear model? TF-IDF + LinearSVC as the baseline fits it,
against the same features scaled by the Naive Bayes log-count ratio (NBSVM, Wang & Manning 2012,
"Baselines and Bigrams"), on the same splits, before building that scaling into the wide part.

    python benchmarks/nb_features_svc.py --data-dir ../shared/data --task sst2 --seeds 42 43 44

For each seed: the baseline's vectorizer (``TfidfLinearSVC.vectorizer``) fitted on the
training split (its validation split carved out with the seed, as training's), then LinearSVC on
the TF-IDF features (C = 1), and on the NB-scaled features, binarized as in the paper or TF-IDF
weighted, at C 0.1 and 1. Prints each test accuracy. Binary tasks only.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.svm import LinearSVC

from mtl_text import load_task_splits
from mtl_text.bench.baselines import TfidfLinearSVC


def nb_ratio(binary, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """The log-count ratio ``r = log((p / |p|_1) / (q / |q|_1))`` of each feature, ``(num_features,)``:
    ``p`` and ``q`` its smoothed counts (``alpha``) in the positive and negative texts."""
    p = np.asarray(binary[labels == 1].sum(0)).ravel() + alpha
    q = np.asarray(binary[labels == 0].sum(0)).ravel() + alpha
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="the tasks' data folder")
    parser.add_argument("--task", default="sst2", help="a binary single-text task")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="validation splits and SVM seeds")
    args = parser.parse_args()
    for seed in args.seeds:
        splits = load_task_splits(args.task, args.data_dir, seed=seed)
        y_train, y_test = np.array(splits["train"]["label"]), np.array(splits["test"]["label"])
        if set(np.unique(y_train)) != {0, 1}:
            raise SystemExit(f"error: {args.task} is not a binary task (labels {sorted(np.unique(y_train))})")
        vectorizer = TfidfLinearSVC.vectorizer()
        x_train, x_test = vectorizer.fit_transform(splits["train"]["text"]), vectorizer.transform(splits["test"]["text"])
        b_train, b_test = (x_train > 0).astype(np.float32), (x_test > 0).astype(np.float32)
        r = nb_ratio(b_train, y_train)

        def accuracy(train, test, c: float) -> float:
            return float((LinearSVC(C=c, random_state=seed).fit(train, y_train).predict(test) == y_test).mean())

        row = [f"seed {seed}: TF-IDF {accuracy(x_train, x_test, 1.0):.4f}"]
        for name, train, test in [("NB binarized", b_train, b_test), ("NB x TF-IDF", x_train, x_test)]:
            for c in (0.1, 1.0):
                row.append(f"{name} C={c:g} {accuracy(train.multiply(r).tocsr(), test.multiply(r).tocsr(), c):.4f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
