"""Would character n-grams help SST-2's linear model? TF-IDF + LinearSVC as the baseline fits it,
against character n-grams alone and word + character n-grams side by side, on the same splits,
before adding character n-grams to the wide part (fastText's subword units, Bojanowski et al. 2017,
"Enriching word vectors with subword information"; here as TF-IDF features of scikit-learn's
``char_wb`` analyzer: n-grams inside word boundaries).

    python benchmarks/char_ngrams_svc.py --data-dir ../shared/data --task sst2 --seeds 42 43 44

For each seed: the baseline's vectorizer (``TfidfLinearSVC.vectorizer``: word 1-2-grams) fitted on
the training split (its validation split carved out with the seed, as training's), and a
``char_wb`` TF-IDF vectorizer of each ``--char-ranges`` (sublinear tf, min_df 2); LinearSVC (C = 1)
on the word features, the character features, and both stacked. Prints each test accuracy.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from mtl_text import load_task_splits
from mtl_text.bench.baselines import TfidfLinearSVC


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="the tasks' data folder")
    parser.add_argument("--task", default="sst2", help="a single-text classification task")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44], help="validation splits and SVM seeds")
    parser.add_argument("--char-ranges", nargs="+", default=["2-5", "3-5"], metavar="LO-HI",
                        help="character n-gram lengths, one vectorizer per range")
    args = parser.parse_args()
    ranges = [tuple(int(n) for n in r.split("-")) for r in args.char_ranges]
    for seed in args.seeds:
        splits = load_task_splits(args.task, args.data_dir, seed=seed)
        train, test = splits["train"]["text"], splits["test"]["text"]
        y_train, y_test = np.array(splits["train"]["label"]), np.array(splits["test"]["label"])
        def accuracy(x_train, x_test, seed=seed, y_train=y_train, y_test=y_test) -> float:
            return float((LinearSVC(C=1.0, random_state=seed).fit(x_train, y_train).predict(x_test) == y_test).mean())

        words = TfidfLinearSVC.vectorizer()
        w_train, w_test = words.fit_transform(train), words.transform(test)
        row = [f"seed {seed}: words {accuracy(w_train, w_test):.4f}"]
        for lo, hi in ranges:
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(lo, hi), sublinear_tf=True, min_df=2, dtype=np.float32)
            c_train, c_test = chars.fit_transform(train), chars.transform(test)
            both = accuracy(sp.hstack([w_train, c_train]).tocsr(), sp.hstack([w_test, c_test]).tocsr())
            row.append(f"chars {lo}-{hi} {accuracy(c_train, c_test):.4f}, words + chars {lo}-{hi} {both:.4f}")
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
