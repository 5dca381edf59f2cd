"""How long padding a training batch takes: mtl-text's ``PaddingCollator`` (numpy, in bulk) against
transformers' ``DataCollatorWithPadding`` (Python lists, then ``torch.tensor``), on the same batches
of a task's tokenized training split (the word-level tokenizer training builds, the task's own
maximum length), best of three passes.

    python benchmarks/collation_speed.py 20newsgroups sst2 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import random
import time

import datasets

import mtl_text
from mtl_text.data.collation import PaddingCollator
from mtl_text.data.splits import column
from mtl_text.data.tokenization import tokenize_splits, train_word_tokenizer


def main() -> None:
    from transformers import DataCollatorWithPadding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="+")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="draws the batches")
    args = parser.parse_args()
    for name in args.tasks:
        task = mtl_text.get_task(name)
        train = mtl_text.load_task_splits(task, args.data_dir, seed=args.seed)["train"]
        tokenizer = train_word_tokenizer(column(train, "text"), min_frequency=2)
        rows = tokenize_splits(datasets.DatasetDict({"train": train}), tokenizer, task.max_length)["train"]
        rng = random.Random(args.seed)
        batches = [[rows[i] for i in rng.sample(range(len(rows)), args.batch_size)] for _ in range(args.batches)]
        for label, collate in (("DataCollatorWithPadding", DataCollatorWithPadding(tokenizer)), ("PaddingCollator", PaddingCollator(tokenizer))):
            passes = []
            for _ in range(3):
                start = time.perf_counter()
                for batch in batches:
                    collate(batch)
                passes.append((time.perf_counter() - start) / len(batches) * 1000)
            print(f"{name} (max length {task.max_length}): {label} {min(passes):.3f} ms per batch of {args.batch_size} (best of 3)")


if __name__ == "__main__":
    main()
