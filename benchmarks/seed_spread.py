"""Mean and spread over seeds of benchmark runs: each task's test score per row, and each transfer
comparison (multi-task minus single-task, ...), from several ``results.json`` files written by
``scripts/benchmark.py --seed S`` with otherwise identical options.

    python benchmarks/seed_spread.py benchmarks/task-shapes/results.json runs/task-shapes-seed43/results.json ...

Prints Markdown: per row and task the mean, the sample standard deviation and every seed's value;
per comparison the same, and "sign" where every seed's difference has the same sign.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.4f} ± {std:.4f}"


def main(paths: list[str]) -> None:
    runs = [json.loads(open(p).read()) for p in paths]
    seeds = [r["seed"] for r in runs]
    metrics = runs[0]["primary_metrics"]
    scores, deltas = defaultdict(list), defaultdict(list)
    for run in runs:
        for row in run["rows"]:
            for task in row["tasks"]:
                if row["result"]:
                    scores[(task, row["name"])].append(row["result"]["metrics"][task][metrics[task]])
        for t in run["transfer"]:
            deltas[(t["comparison"], t["task"], t["encoder"], t["mode"], t["setting"])].append(t["delta"])
    print(f"Seeds {seeds}; mean ± sample standard deviation, then each seed's value.\n")
    print("| task | row | metric | mean ± std | per seed |\n|---|---|---|---:|---|")
    for (task, row), values in scores.items():
        print(f"| {task} | {row} | {metrics[task]} | {spread(values)} | {', '.join(f'{v:.4f}' for v in values)} |")
    print("\n| comparison | task | encoder | metric | difference, mean ± std | per seed | same sign in every seed |\n|---|---|---|---|---:|---|---|")
    for (comparison, task, encoder, _mode, _setting), values in deltas.items():
        same = all(v > 0 for v in values) or all(v < 0 for v in values)
        print(f"| {comparison} | {task} | {encoder} | {metrics[task]} | {statistics.fmean(values):+.4f} ± "
              f"{statistics.stdev(values) if len(values) > 1 else 0.0:.4f} | {', '.join(f'{v:+.4f}' for v in values)} | "
              f"{'yes' if same else 'no'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
