"""Does a task-balancing method remove negative transfer? (``python scripts/balancing.py --help``)

For one task mix and several seeds: every task trained alone (single-task), then one model for all
tasks under each ``--task-balancing`` mode (``static``: the plain sum of losses; ``uncertainty``;
``pcgrad``, ``upgrad``, ``mgda`` with ``--sampling all``). Each multi-task mode is compared with the
single-task models (is there negative transfer, and does the mode remove it?) and each remedy with
``static`` at the same task mix (does it change anything?), task by task on its primary metric, with
95% paired-bootstrap intervals over the test examples (mean over seeds in each resample) and the
per-seed differences. A loss is called negative transfer only when its interval lies below zero.

``--sampling all`` (one batch of every task per step) is itself a different task mix from the
default proportional sampling: every task sees as many examples as every other, so large tasks see
fewer and small ones more. With a gradient mode among ``--modes``, the control ``static-all``
(``--task-balancing static --sampling all``) is trained too, and the gradient modes are compared with
it, so that their column measures the aggregation alone.
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..arguments import Arguments, data_dir_option
from ..errors import ConfigError
from ..training.config import BALANCING, GRADIENT_BALANCING
from .experiments import compare, fmt, fmt_score, mean_of, run_training, write_results

logger = logging.getLogger("mtl_text.experiments")


@dataclass
class BalancingArguments(Arguments):
    tasks: list[str] = field(default_factory=lambda: ["stsb", "mrpc", "rte", "cola", "goemotions", "sst2"], metadata={
        "help": "the task mix"})
    modes: list[str] = field(default_factory=lambda: ["static", "uncertainty", "pcgrad", "upgrad"], metadata={
        "help": f"task-balancing modes of the multi-task rows, some of {', '.join(BALANCING)}"})
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44], metadata={"help": "seeds"})
    train_args: str = field(default="", metadata={"help": "extra training options of every run, one string"})
    data_dir: str | None = data_dir_option()
    output_dir: str = field(default="benchmarks/balancing", metadata={"help": "results.json and results.md"})
    work_dir: str = field(default="runs/balancing", metadata={"help": "per-run results (a finished run is not trained again)"})

    def __post_init__(self):
        super().__post_init__()
        if [m for m in self.modes if m not in BALANCING] or "static" not in self.modes:
            raise ConfigError(f"--modes: some of {', '.join(BALANCING)}, static included; got {self.modes}")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Single-task vs multi-task under each task-balancing mode, with paired-bootstrap intervals."""
    from ..cli.parsing import ArgumentParser
    from ..data.tasks import get_task
    from ..utils.log import setup_logging
    from .benchmark import machine_description

    setup_logging()
    (args,), _ = ArgumentParser(BalancingArguments, prog=prog or "balancing.py", description=main.__doc__).parse(argv)
    command = "python scripts/balancing.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    common = [*(["--data-dir", args.data_dir] if args.data_dir else []), *shlex.split(args.train_args)]
    out, work, start = Path(args.output_dir), Path(args.work_dir), time.time()
    out.mkdir(parents=True, exist_ok=True)
    metric = {t: get_task(t).metric_names[0] for t in args.tasks}

    def runs_of(record_of) -> dict[str, list[dict]]:
        by_task = {t: [] for t in args.tasks}
        for seed in args.seeds:
            for task, record in record_of(seed).items():
                p = record["predictions"][task]
                by_task[task].append({"predictions": p["predictions"], "references": p["references"],
                                      "score": record["metrics"][task][metric[task]], "seconds": record["train_seconds"]})
        return by_task

    single = runs_of(lambda seed: {t: run_training(["--tasks", t, "--seed", str(seed), *common], work / "single" / t / f"seed-{seed}")
                                   for t in args.tasks})
    multi = {}
    conditions = conditions_of(args.modes)
    for mode, extra in conditions.items():

        def record_of(seed, extra=extra, mode=mode):
            record = run_training(["--tasks", *args.tasks, "--seed", str(seed), *common, *extra], work / mode / f"seed-{seed}")
            return {t: record for t in args.tasks}

        multi[mode] = runs_of(record_of)
        logger.info("%s: %s", mode, ", ".join(f"{t} {mean_of([r['score'] for r in multi[mode][t]])['mean']:.4f}" for t in args.tasks))
    rows = []
    for task in args.tasks:
        row = {"task": task, "metric": metric[task], "single": mean_of([r["score"] for r in single[task]]),
               "modes": {m: mean_of([r["score"] for r in multi[m][task]]) for m in conditions},
               "vs_single": {m: compare(multi[m][task], single[task], metric[task], task=task) for m in conditions},
               "vs_static": {m: compare(multi[m][task], multi[baseline_of(m)][task], metric[task], task=task)
                             for m in conditions if m != baseline_of(m)}}
        rows.append(row)
    results = {"command": command, "machine": machine_description(), "date": time.strftime("%Y-%m-%d"), "tasks": args.tasks,
               "seeds": args.seeds, "modes": list(conditions), "rows": rows,
               "train_seconds": {m: mean_of([r["seconds"] for r in multi[m][args.tasks[0]]]) for m in conditions},
               "wall_seconds": round(time.time() - start, 1)}
    write_results(out, results, markdown(results))
    return 0


SAMPLING_CONTROL = "static-all"


def conditions_of(modes: list[str]) -> dict[str, list[str]]:
    """The multi-task conditions to train, ``{name: extra training options}``: each mode, the gradient
    modes with ``--sampling all``, and then the control :data:`SAMPLING_CONTROL` (static weights under
    ``--sampling all``) when there is a gradient mode."""
    conditions = {m: ["--task-balancing", m] + (["--sampling", "all"] if m in GRADIENT_BALANCING else []) for m in modes}
    if any(m in GRADIENT_BALANCING for m in modes):
        conditions[SAMPLING_CONTROL] = ["--task-balancing", "static", "--sampling", "all"]
    return conditions


def baseline_of(condition: str) -> str:
    """The condition a remedy is compared with: the static one with the same task sampling (the
    control itself is compared with static: the effect of ``--sampling all`` alone)."""
    return SAMPLING_CONTROL if condition in GRADIENT_BALANCING else "static"


def markdown(results: dict) -> str:
    modes = results["modes"]
    lines = [f"Machine: {results['machine']}. Command: `{results['command']}`. Test scores, mean ± std over seeds {results['seeds']}; "
             "differences with 95% paired-bootstrap intervals over the test examples (`*`: the interval excludes 0).", "",
             "| task | metric | single-task | " + " | ".join(f"multi, {m}" for m in modes) + " |", "|---|---|---:|" + "---:|" * len(modes)]
    for r in results["rows"]:
        lines.append(f"| {r['task']} | {r['metric']} | {fmt_score(r['single'])} | "
                     + " | ".join(fmt_score(r['modes'][m]) for m in modes) + " |")
    lines += ["", "Multi-task minus single-task:", "", "| task | " + " | ".join(modes) + " |", "|---|" + "---:|" * len(modes)]
    for r in results["rows"]:
        lines.append(f"| {r['task']} | " + " | ".join(fmt(r["vs_single"][m]) for m in modes) + " |")
    remedies = [m for m in modes if m != baseline_of(m)]
    lines += ["", f"Each remedy minus static (the plain sum of losses) at the same task sampling: {SAMPLING_CONTROL} "
              "(`--sampling all`) for the gradient modes, static (proportional sampling) for the others:", "",
              "| task | " + " | ".join(f"{m} - {baseline_of(m)}" for m in remedies) + " |", "|---|" + "---:|" * len(remedies)]
    for r in results["rows"]:
        lines.append(f"| {r['task']} | " + " | ".join(fmt(r["vs_static"][m]) for m in remedies) + " |")
    lines += ["", "Training time of one multi-task run (s, mean over seeds): " + ", ".join(
        f"{m} {v['mean']:.0f}" for m, v in results["train_seconds"].items()) + "."]
    return "\n".join(lines) + "\n"
