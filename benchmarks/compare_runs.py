"""Test-accuracy differences between trained model folders, with 95% paired-bootstrap intervals over
the test examples (from each folder's ``test_predictions.json``), per seed and over the seeds.

    python benchmarks/compare_runs.py runs/wide-aux:runs/default runs/wide-s43:runs/default-s43
    python benchmarks/compare_runs.py --data-dir ../shared/data \\
        runs/bench/word2vec-fine-tuned-multi-task/model:runs/bench/tfidf-linearsvc-{task}

Each argument is ``A:B``, one pair of runs per seed (A - B); with several pairs the last lines give
the difference averaged over the seeds, each resample drawing the test examples once
(:func:`mtl_text.transfer.significance.paired_bootstrap` with ``runs=True``). A side may be a
benchmark's TF-IDF + LinearSVC folder (its ``model.pkl``; ``{task}`` in the path stands for each
task's name): it then predicts the task's test split, read from ``--data-dir``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys

from mtl_text.transfer.significance import paired_bootstrap


@functools.cache
def predictions(folder: str, task: str, data_dir: str | None) -> dict | None:
    """``{"predictions": [...], "references": [...]}`` of ``task``'s test split by the run in ``folder``
    (once per folder and task: a baseline that several seeds are compared with predicts once);
    ``None`` where the run has no head for ``task`` (e.g. a single-task model of another task), or where a
    ``{task}`` path has no folder for it (no baseline of that task)."""
    template, folder = folder, folder.replace("{task}", task)
    if "{task}" in template and not os.path.isdir(folder):
        return None
    if os.path.exists(f"{folder}/test_predictions.json"):
        return json.loads(open(f"{folder}/test_predictions.json").read()).get(task)
    if not os.path.exists(f"{folder}/model.pkl"):
        sys.exit(f"error: {folder} holds neither test_predictions.json (a trained model) nor model.pkl (a TF-IDF baseline)")
    import mtl_text
    from mtl_text.bench.baselines import TfidfLinearSVC
    from mtl_text.data.splits import column

    test = mtl_text.load_test_split(task, data_dir)
    return {"predictions": TfidfLinearSVC.load(f"{folder}/model.pkl").predict(column(test, "text")).tolist(),
            "references": column(test, "label")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", metavar="A:B", help="two run folders, A - B; one pair per seed")
    parser.add_argument("--data-dir", help="the tasks' data, for a TF-IDF baseline's test split")
    args = parser.parse_args(argv)
    if any(p.count(":") != 1 for p in args.pairs):
        parser.error("each pair is A:B, two folders")
    first = args.pairs[0].split(":")[0]
    tasks = list(json.loads(open(f"{first}/test_predictions.json").read()))
    for task in tasks:
        a = [predictions(p.split(":")[0], task, args.data_dir) for p in args.pairs]
        b = [predictions(p.split(":")[1], task, args.data_dir) for p in args.pairs]
        missing = [p for p, x, y in zip(args.pairs, a, b) if x is None or y is None]
        if missing:
            print(f"{task}: skipped, not scored by both runs of {', '.join(missing)}", file=sys.stderr)
            continue
        if any(x["references"] != y["references"] or x["references"] != a[0]["references"] for x, y in zip(a, b)):
            sys.exit(f"{task}: the runs were scored on different test examples")
        for pair, x, y in zip(args.pairs, a, b):
            print(f"{task}  {pair}  {paired_bootstrap(x['predictions'], y['predictions'], x['references'])}")
        if len(args.pairs) > 1:
            over = paired_bootstrap([x["predictions"] for x in a], [y["predictions"] for y in b], a[0]["references"], runs=True)
            print(f"{task}  over {len(args.pairs)} seeds  {over}")


if __name__ == "__main__":
    main()
