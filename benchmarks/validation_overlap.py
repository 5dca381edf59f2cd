"""How independent of its training split is a task's validation split? The share of validation (and
test) texts that occur verbatim inside a training text (lower-cased): a validation split that
repeats its training split rewards memorising n-grams, so a weight chosen on it (``--wide-svm``,
model selection) favours memorisation more than the test split will.

    python benchmarks/validation_overlap.py sst2 --data-dir ../shared/data --seed 42

With ``--window N`` (for long documents) a text counts when its characters ``N`` to ``2N`` occur
verbatim in a training text (texts shorter than ``3N`` characters are not counted as overlapping).
"""

from __future__ import annotations

import argparse

import mtl_text
from mtl_text.data.splits import column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--seed", type=int, default=42, help="the seed that carves the validation split out of train")
    parser.add_argument("--window", type=int, default=0, help="compare a window of characters instead of whole texts")
    args = parser.parse_args()
    for task in args.tasks:
        splits = mtl_text.load_task_splits(task, args.data_dir, seed=args.seed)
        train = "\x00".join(text.lower() for text in column(splits["train"], "text"))
        for split in ("validation", "test"):
            texts = [text.lower() for text in column(splits[split], "text")]
            if args.window:
                w = args.window
                hits = sum(1 for text in texts if len(text) >= 3 * w and text[w: 2 * w] in train)
            else:
                hits = sum(1 for text in texts if text in train)
            print(f"{task} {split}: {hits} of {len(texts)} texts ({hits / len(texts):.1%}) occur verbatim in a training text"
                  + (f" (characters {args.window} to {2 * args.window})" if args.window else ""))


if __name__ == "__main__":
    main()
