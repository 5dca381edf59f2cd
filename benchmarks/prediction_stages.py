"""Where a saved model's prediction time goes: each stage of :class:`mtl_text.Predictor`'s path timed
alone over a task's test texts, in batches as the benchmark scores them, and, with ``--fasttext``,
the two stages of the benchmark's fastText pipeline on the same batches.

    python benchmarks/prediction_stages.py runs/bench/word2vec-fine-tuned-multi-task/model sst2 \\
        --data-dir ../shared/data --fasttext runs/bench/fasttext-sst2/model.bin

Stages (milliseconds per batch, and share of our total): tokenization (``Predictor.tokenize``: the
fast tokenizer's backend, with its ASCII fast path), padding (``Predictor.pad``), the encoder, pooling, the head with the wide part (and the wide part
alone, inside it), decoding. The first round is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

from mtl_text.data.splits import column, load_test_split
from mtl_text.data.tasks import get_task
from mtl_text.inference.prediction import Predictor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder written by training")
    parser.add_argument("task", help="a single-text task of the model")
    parser.add_argument("--data-dir")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the test texts, after one warm-up pass")
    parser.add_argument("--fasttext", metavar="FILE", help="a fastText model saved by the benchmark, timed on the same batches")
    args = parser.parse_args(argv)

    predictor = Predictor.from_pretrained(args.model, batch_size=args.batch_size)
    model, task = predictor.model, args.task
    texts = column(load_test_split(get_task(task), args.data_dir), "text")
    batches = [texts[i: i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    max_length = model.tasks[task]["max_length"]
    fasttext = None
    if args.fasttext:
        from mtl_text.bench.baselines import FastTextClassifier

        fasttext = FastTextClassifier.load(args.fasttext)
    seconds: dict[str, float] = defaultdict(float)

    def timed(stage, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        seconds[stage] += time.perf_counter() - t0
        return out

    with torch.inference_mode():
        for round_ in range(args.rounds + 1):
            if round_ == 1:
                seconds.clear()
            for batch in batches:
                token_ids, _ = timed("tokenization", predictor.tokenize, batch, max_length)
                ids, mask, _ = timed("padding", predictor.pad, token_ids)
                hidden = timed("encoder", model.encoder, ids, mask, None)
                pooled = timed("pooling", model.pool, task, hidden, mask, None, ids)
                logits = timed("head and wide part", lambda: model(input_ids=ids, attention_mask=mask, task=task, features=pooled))
                if model.wide is not None:
                    timed("(the wide part alone)", model.wide[task], ids, mask)
                timed("decoding", model.head(task).decode, logits)
                if fasttext is not None:
                    lines = timed("fastText: word splitting", fasttext.prepare, batch)
                    timed("fastText: prediction", fasttext.predict_prepared, lines)
    calls = args.rounds * len(batches)
    ours = sum(v for k, v in seconds.items() if not k.startswith(("(", "fastText")))
    print(f"{task}, {len(texts)} texts in batches of {args.batch_size}, {args.rounds} rounds:")
    for stage, v in seconds.items():
        share = "" if stage.startswith("fastText") else f"  {100 * v / ours:4.0f}% of ours"
        print(f"  {stage:24s} {1000 * v / calls:8.2f} ms/batch{share}")
    print(f"  ours in all: {len(texts) * args.rounds / ours:,.0f} texts/s")
    if fasttext is not None:
        theirs = seconds["fastText: word splitting"] + seconds["fastText: prediction"]
        print(f"  fastText in all: {len(texts) * args.rounds / theirs:,.0f} texts/s")


if __name__ == "__main__":
    main()
