"""Prediction throughput of two saved models measured in alternation, so that a slow spell of a shared
machine falls on both: ``--pairs`` rounds of (A, B), each measurement a fresh process of
``python -m mtl_text.bench.speed`` (the benchmark's own measurement), per task. Prints each round's
texts/s and the ratio A / B, then the median and range of the ratios.

    python benchmarks/interleaved_speed.py --data-dir ../shared/data --pairs 5 \\
        mtl-text:runs/bench/word2vec-fine-tuned-multi-task/model fasttext:runs/bench/fasttext-{task}/model.bin

``KIND:PATH`` as for ``python -m mtl_text.bench.speed --kind KIND --model PATH``; ``{task}`` in a path
stands for the task's name. Tasks: ``--tasks`` (default 20newsgroups sst2).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from mtl_text.bench.benchmark import BenchmarkArguments, speed_command


def throughput(kind: str, path: str, task: str, data_dir: str | None, out: Path) -> float:
    """texts/s of one fresh measurement, by the benchmark's own command and defaults (batches of 256,
    at least 2 s), with one latency call instead of 300 (latency is not compared here)."""
    cmd = speed_command(kind, Path(path.replace("{task}", task)), task, BenchmarkArguments(data_dir=data_dir, latency_texts=1), out, None)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())["texts_per_second"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", metavar="KIND:PATH", help="the first model (numerator of the ratio)")
    parser.add_argument("b", metavar="KIND:PATH", help="the second model")
    parser.add_argument("--tasks", nargs="+", default=["20newsgroups", "sst2"])
    parser.add_argument("--pairs", type=int, default=5, help="rounds of (A, B) per task")
    parser.add_argument("--data-dir", help="the tasks' data")
    args = parser.parse_args(argv)
    if ":" not in args.a or ":" not in args.b or args.pairs < 1:
        parser.error("models are KIND:PATH, and --pairs is at least 1")
    (kind_a, path_a), (kind_b, path_b) = args.a.split(":", 1), args.b.split(":", 1)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        for task in args.tasks:
            ratios = []
            for i in range(args.pairs):
                a = throughput(kind_a, path_a, task, args.data_dir, out)
                b = throughput(kind_b, path_b, task, args.data_dir, out)
                ratios.append(a / b)
                print(f"{task}  round {i + 1}: {kind_a} {a:,.0f} texts/s, {kind_b} {b:,.0f} texts/s, ratio {a / b:.2f}", flush=True)
            print(f"{task}  ratio over {args.pairs} rounds: median {statistics.median(ratios):.2f}, "
                  f"range {min(ratios):.2f} to {max(ratios):.2f}", flush=True)


if __name__ == "__main__":
    main()
