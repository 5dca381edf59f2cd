"""Test-accuracy differences between trained model folders, with 95% paired-bootstrap intervals over
the test examples (from each folder's ``test_predictions.json``), per seed and over the seeds.

    python benchmarks/compare_runs.py runs/wide-aux:runs/default runs/wide-s43:runs/default-s43

Each argument is ``A:B``, one pair of runs per seed (A - B); with several pairs the last lines give
the difference averaged over the seeds, each resample drawing the test examples once
(:func:`mtl_text.transfer.significance.paired_bootstrap` with ``runs=True``).
"""

from __future__ import annotations

import json
import sys

from mtl_text.transfer.significance import paired_bootstrap


def main(pairs: list[str]) -> None:
    if not pairs or any(p.count(":") != 1 for p in pairs):
        sys.exit("usage: compare_runs.py A:B [A:B ...]   (model folders with test_predictions.json, A - B)")
    runs = [tuple(json.loads(open(f"{folder}/test_predictions.json").read()) for folder in p.split(":")) for p in pairs]
    for task in runs[0][0]:
        a = [run[0][task] for run in runs]
        b = [run[1][task] for run in runs]
        if any(x["references"] != y["references"] or x["references"] != a[0]["references"] for x, y in zip(a, b)):
            sys.exit(f"{task}: the runs were scored on different test examples")
        for pair, x, y in zip(pairs, a, b):
            print(f"{task}  {pair}  {paired_bootstrap(x['predictions'], y['predictions'], x['references'])}")
        if len(pairs) > 1:
            over = paired_bootstrap([x["predictions"] for x in a], [y["predictions"] for y in b], a[0]["references"], runs=True)
            print(f"{task}  over {len(pairs)} seeds  {over}")


if __name__ == "__main__":
    main(sys.argv[1:])
