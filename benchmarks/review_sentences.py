"""A transfer set for distilling sentiment (``--distill-texts sst2=FILE``): the sentences of the
multi-domain Amazon reviews' training splits (Blitzer et al. 2007; the four ``amazon_*`` tasks, their
400 test reviews per domain left out), one per line, their labels dropped. A sentence ends at ``.``,
``!`` or ``?`` followed by white space; those of 4 to 40 words are kept, in a seeded random order.

    python benchmarks/review_sentences.py --data-dir ../shared/data --output runs/distill/review-sentences.txt
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import mtl_text
from mtl_text.data.splits import column

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--output", required=True, help="the text file to write, one sentence per line")
    parser.add_argument("--seed", type=int, default=0, help="the order of the sentences")
    args = parser.parse_args()
    sentences = []
    for domain in ("books", "dvd", "electronics", "kitchen"):
        for review in column(mtl_text.load_task_splits(f"amazon_{domain}", args.data_dir, seed=args.seed)["train"], "text"):
            sentences += [s for s in (" ".join(p.split()) for p in SENTENCE_END.split(review)) if 4 <= len(s.split()) <= 40]
    random.Random(args.seed).shuffle(sentences)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    print(f"{len(sentences)} sentences written to {args.output}")


if __name__ == "__main__":
    main()
