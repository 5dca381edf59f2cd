"""Learning curves and sequential transfer: a target task's test score against the number of labelled
target examples, for several ways of starting, each over several seeds
(``python scripts/learning_curve.py --help``).

Conditions (``--conditions``), each a set of ``mtl-text train`` options for the target run:

* ``scratch``: random word vectors (``--random-init``): no transfer;
* ``word2vec``: Word2Vec trained on the target's own (labelled) training text (the default encoder);
* ``glove``: pretrained GloVe vectors (``--glove``);
* ``pretrained`` / ``pretrained-frozen``: a pretrained transformer (``--transformer``), fine-tuned / as a
  frozen feature extractor;
* ``transfer-fine-tuned`` / ``transfer-frozen``: sequential transfer from a model trained first on the
  source tasks (``--sources``, with ``--source-args``): ``--init-from`` it, encoder fine-tuned or frozen;
* ``joint``: one model trained jointly on the source tasks (all their data) and the target's N examples
  (``--task-train-examples TARGET=N``), with ``--source-args``.

The N examples are the first N of the seed-shuffled training split; validation (model selection)
uses the same held-out 10% of the full training split at every N, which a user with only N labels
would not have. Small N trains for at least ``--min-steps`` steps. Every condition's difference from
``--baseline`` comes with a 95% paired-bootstrap interval over the test examples (mean over seeds per
resample). Writes ``results.json``, ``results.md`` and ``learning_curve.png`` to ``--output-dir``.
"""

from __future__ import annotations

import logging
import math
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..arguments import Arguments, PositiveInt, data_dir_option
from ..errors import ConfigError
from .experiments import compare, fmt, fmt_score, mean_of, run_training, write_results

logger = logging.getLogger("mtl_text.experiments")

CONDITIONS = ("scratch", "word2vec", "glove", "pretrained", "pretrained-frozen", "transfer-fine-tuned", "transfer-frozen", "joint")


@dataclass
class LearningCurveArguments(Arguments):
    target: str = field(default="trec", metadata={"help": "the target task"})
    sources: list[str] = field(default_factory=lambda: ["20newsgroups", "sst2"], metadata={
        "help": "source tasks of the transfer-* and joint conditions"})
    sizes: list[str] = field(default_factory=lambda: ["50", "200", "1000", "all"], metadata={
        "help": "numbers of labelled target training examples ('all': the whole training split)"})
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44], metadata={"help": "seeds; each condition and size runs once per seed"})
    conditions: list[str] = field(default_factory=lambda: ["scratch", "word2vec", "glove", "transfer-frozen", "transfer-fine-tuned",
                                                           "joint"], metadata={"help": f"some of {', '.join(CONDITIONS)}"})
    baseline: str = field(default="scratch", metadata={"help": "the condition every other one is compared with"})
    comparisons: list[str] = field(default_factory=list, metadata={
        "metavar": "A:B", "help": "more paired comparisons, condition A minus condition B (e.g. transfer-frozen:pretrained-frozen)"})
    glove: str | None = field(default=None, metadata={"metavar": "FILE", "help": "vectors of the glove condition"})
    transformer: str | None = field(default=None, metadata={
        "metavar": "NAME_OR_DIR", "help": "transformer of the pretrained* conditions (and of the source model with --source-transformer)"})
    source_args: str = field(default="", metadata={"help": "training options of the source model and the joint runs, one string"})
    train_args: str = field(default="", metadata={"help": "extra training options of every target run, one string"})
    min_steps: PositiveInt = field(default=300, metadata={
        "help": "a target run trains at least this many steps (3 epochs of 50 examples are 5 steps)"})
    data_dir: str | None = data_dir_option()
    output_dir: str = field(default="benchmarks/learning-curve", metadata={"help": "results.json, results.md, learning_curve.png"})
    work_dir: str = field(default="runs/learning-curve", metadata={"help": "per-run results (a finished run is not trained again)"})

    def __post_init__(self):
        super().__post_init__()
        unknown = [c for c in [*self.conditions, self.baseline] if c not in CONDITIONS]
        if unknown:
            raise ConfigError(f"--conditions/--baseline: unknown {unknown}; expected some of {', '.join(CONDITIONS)}")
        pairs = [c.split(":") for c in self.comparisons]
        if any(len(p) != 2 or not set(p) <= set(self.conditions) for p in pairs):
            raise ConfigError(f"--comparisons: A:B with A and B among --conditions, got {self.comparisons}")
        if self.baseline not in self.conditions:
            raise ConfigError(f"--baseline {self.baseline} must be one of --conditions")
        if "glove" in self.conditions and not self.glove:
            raise ConfigError("the glove condition needs --glove FILE")
        if any(c.startswith("pretrained") for c in self.conditions) and not self.transformer:
            raise ConfigError("the pretrained conditions need --transformer NAME_OR_DIR")
        if any(s != "all" and not (s.isdigit() and int(s) > 0) for s in self.sizes):
            raise ConfigError(f"--sizes: positive integers or 'all', got {self.sizes}")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Learning curves: target-task score against the number of target labels, per transfer condition."""
    from ..cli.parsing import ArgumentParser
    from ..data.splits import load_task_splits
    from ..data.tasks import get_task
    from ..utils.log import setup_logging
    from .benchmark import machine_description

    setup_logging()
    (args,), _ = ArgumentParser(LearningCurveArguments, prog=prog or "learning_curve.py", description=main.__doc__).parse(argv)
    command = "python scripts/learning_curve.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    out, work, start = Path(args.output_dir), Path(args.work_dir), time.time()
    out.mkdir(parents=True, exist_ok=True)
    target = get_task(args.target)
    full = len(load_task_splits(target, args.data_dir, seed=args.seeds[0])["train"])
    metric = target.metric_names[0]
    source_args = shlex.split(args.source_args)

    def source_model(seed: int) -> str:
        d = work / "source" / f"seed-{seed}"
        run_training(["--tasks", *args.sources, "--seed", str(seed), *data, *source_args], d, keep_model=True)
        return str(d / "model")

    def condition_args(condition: str, seed: int, n: int | None) -> list[str]:
        transformer = ["--encoder", "transformer", "--model-name-or-path", args.transformer] if args.transformer else []
        return {"scratch": ["--random-init"], "word2vec": [], "glove": ["--vectors", str(args.glove)], "pretrained": transformer,
                "pretrained-frozen": [*transformer, "--freeze-encoder"],
                "transfer-fine-tuned": ["--init-from", source_model(seed)] if condition == "transfer-fine-tuned" else [],
                "transfer-frozen": ["--init-from", source_model(seed), "--freeze-encoder"] if condition == "transfer-frozen" else [],
                "joint": []}[condition]

    def run(condition: str, size: str, seed: int) -> dict:
        n = None if size == "all" else min(int(size), full)
        if condition == "joint":
            argv = ["--tasks", *args.sources, args.target, "--seed", str(seed), *data, *source_args]
            argv += ["--task-train-examples", f"{args.target}={n}"] if n else []
        else:
            argv = ["--tasks", args.target, "--seed", str(seed), *data, *condition_args(condition, seed, n), *shlex.split(args.train_args)]
            examples = n or full
            if math.ceil(3 * examples / 32) < args.min_steps:
                argv += ["--max-steps", str(args.min_steps), "--eval-every", str(max(1, args.min_steps // 6))]
            argv += ["--max-train-examples", str(n)] if n else []
        record = run_training(argv, work / condition / f"n-{size}" / f"seed-{seed}")
        p = record["predictions"][args.target]
        return {"predictions": p["predictions"], "references": p["references"], "score": record["metrics"][args.target][metric],
                "train_seconds": record["train_seconds"], "command": record["command"]}

    points = []
    for size in args.sizes:
        runs = {c: [run(c, size, seed) for seed in args.seeds] for c in args.conditions}
        point = {"size": size, "examples": full if size == "all" else min(int(size), full),
                 "score": {c: mean_of([r["score"] for r in rs]) for c, rs in runs.items()},
                 "vs_baseline": {c: compare(rs, runs[args.baseline], metric, task=args.target) for c, rs in runs.items() if c != args.baseline},
                 "comparisons": {f"{a} - {b}": compare(runs[a], runs[b], metric, task=args.target)
                                 for a, b in (c.split(":") for c in args.comparisons)},
                 "commands": {c: rs[0]["command"] for c, rs in runs.items()}}
        points.append(point)
        logger.info("N=%s: %s", size, ", ".join(f"{c} {v['mean']:.4f}" for c, v in point["score"].items()))
    results = {"command": command, "machine": machine_description(), "date": time.strftime("%Y-%m-%d"), "target": args.target,
               "metric": metric, "sources": args.sources, "seeds": args.seeds, "baseline": args.baseline, "points": points,
               "wall_seconds": round(time.time() - start, 1)}
    write_results(out, results, markdown(results))
    plot(results, out / "learning_curve.png")
    return 0


def markdown(results: dict) -> str:
    conditions = list(results["points"][0]["score"])
    lines = [f"Machine: {results['machine']}. Command: `{results['command']}`. Target {results['target']} ({results['metric']} on its "
             f"test split), sources {', '.join(results['sources'])}; mean ± std over seeds {results['seeds']}.", "",
             "| labelled examples | " + " | ".join(conditions) + " |", "|---:|" + "---:|" * len(conditions)]
    for p in results["points"]:
        lines.append(f"| {p['examples']:,} | " + " | ".join(fmt_score(p['score'][c]) for c in conditions)
                     + " |")
    others = [c for c in conditions if c != results["baseline"]]
    lines += ["", f"Difference from {results['baseline']} with 95% paired-bootstrap interval over the test examples (`*`: excludes 0):", "",
              "| labelled examples | " + " | ".join(others) + " |", "|---:|" + "---:|" * len(others)]
    for p in results["points"]:
        lines.append(f"| {p['examples']:,} | " + " | ".join(fmt(p["vs_baseline"][c]) for c in others) + " |")
    extra = list(results["points"][0].get("comparisons", {}))
    if extra:
        lines += ["", "| labelled examples | " + " | ".join(extra) + " |", "|---:|" + "---:|" * len(extra)]
        for p in results["points"]:
            lines.append(f"| {p['examples']:,} | " + " | ".join(fmt(p["comparisons"][c]) for c in extra) + " |")
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Score against labelled examples (log scale), mean ± std over seeds, one line per condition."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p["examples"] for p in results["points"]]
    for c in results["points"][0]["score"]:
        means = [p["score"][c]["mean"] for p in results["points"]]
        stds = [p["score"][c]["std"] for p in results["points"]]
        ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=c)
    ax.set_xscale("log")
    ax.set_xlabel(f"labelled {results['target']} training examples")
    ax.set_ylabel(f"test {results['metric']}")
    ax.set_title(f"{results['target']}: learning curves, mean ± std over {len(results['seeds'])} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
