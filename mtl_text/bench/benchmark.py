"""The benchmark: mtl-text against the baselines, single-task against multi-task, pretrained against
from scratch, on the same splits and machine, in one run (``scripts/benchmark.py`` calls :func:`main`).

Every row runs in child processes, so that each row's wall time and peak resident memory are its own:

* a **training** child: ``python -m mtl_text train`` (exactly ``mtl-text train``) for our rows, with
  ``--cache-dir none`` so that tokenization is timed too; ``python -m mtl_text.bench.baselines`` for
  a baseline (its hyper-parameter search on validation, then test scoring);
* a **prediction** child per task: ``python -m mtl_text.bench.speed`` loads the saved model and times
  batched prediction and single-text latency on that task's test texts.

Peak memory is the child's maximum resident set size (``getrusage`` through :func:`os.wait4`).

Rows (``--encoders``, ``--modes``, ``--settings`` choose among them):

* baselines, per single-text single-label task: TF-IDF + LinearSVC, fastText
  (:mod:`mtl_text.bench.baselines`); other tasks (pairs, multi-label, regression) have none;
* ours, word-vector encoder, for each encoder initialisation (``word2vec``: Word2Vec trained on the
  row's training text; ``glove``: pretrained GloVe vectors; ``random``: no transfer), each mode
  (``fine-tuned``: embeddings train; ``frozen``: feature extraction, only poolings, heads and wide parts train)
  and each setting (``single``: one model per task; ``multi``: one model for all tasks);
* ours, transformer encoder (``--transformer NAME_OR_DIR``), same modes and settings.

Each task is scored by its head's primary metric (accuracy for single-label, macro-F1 for multi-label
classification, Pearson for regression; the others are listed beside it).

Outputs in ``--output-dir``: ``results.json`` (everything, the commands included), ``results.md``
(the table and the transfer report), and ``validation_curves.png``, ``confusion_TASK.png`` (the
test confusion matrix of :func:`confusion_task`: ``confusion_20newsgroups.png`` by default),
``accuracy_vs_time.png``. Models and logs go to ``--work-dir``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..arguments import Arguments, NonNegativeFloat, NonNegativeInt, PositiveInt, Seed, data_dir_option, seed_option
from ..errors import ConfigError
from ..transfer.significance import verdict

logger = logging.getLogger("mtl_text.benchmark")

ENCODERS = ("word2vec", "glove", "random")
MODES = ("fine-tuned", "frozen")
SETTINGS = ("single", "multi")
BASELINE_METHODS = ("tfidf-linearsvc", "fasttext")


@dataclass
class Row:
    """One line of the benchmark: one model (one task for baselines and single-task rows)."""

    name: str
    method: str  # "mtl-text" or a baseline's name
    tasks: list[str]
    encoder: str | None = None  # word2vec | glove | random | transformer
    mode: str | None = None  # fine-tuned | frozen
    setting: str = "single"  # single | multi
    result: dict = field(default_factory=dict)  # the first seed's full result (speed, memory, metrics)
    runs: list = field(default_factory=list)  # per seed: {"seed", "metrics", "predictions_file"} (ours only)

    @property
    def slug(self) -> str:
        return self.name.replace(" / ", "-").replace(" ", "-").replace("(", "").replace(")", "")


def primary_metric(task: str) -> str:
    """The primary metric of a task (accuracy, macro_f1, pearson, ...)."""
    from ..data.tasks import get_task

    return get_task(task).metric_names[0]


def has_baselines(task: str) -> bool:
    """Whether the baselines can learn ``task``: single texts, one label each."""
    from ..data.tasks import SINGLE_LABEL, get_task

    t = get_task(task)
    return t.problem_type == SINGLE_LABEL and not t.text_pair


def confusion_task(tasks: list[str]) -> str | None:
    """The task whose test confusion matrix the benchmark plots: among the single-text single-label
    tasks, the one with the most labels (the first of them on a tie; 20 Newsgroups by default), or
    None if there is no such task."""
    from ..data.tasks import get_task

    return max((t for t in tasks if has_baselines(t)), key=lambda t: get_task(t).num_labels, default=None)


def plan_rows(args: BenchmarkArguments) -> list[Row]:
    """The rows to run, baselines first, in the order of the table."""
    without = [t for t in args.tasks if not has_baselines(t)]
    if args.baselines and without:
        logger.info("no baseline rows for %s (the baselines learn single texts with one label each)", without)
    rows = [Row(f"{m} ({t})", m, [t]) for m in args.baselines for t in args.tasks if t not in without]
    encoders = list(args.encoders) + (["transformer"] if args.transformer else [])
    for encoder in encoders:
        for mode in args.modes:
            for setting in args.settings:
                groups = [[t] for t in args.tasks] if setting == "single" else [list(args.tasks)]
                for tasks in groups:
                    label = "multi-task" if setting == "multi" else f"single-task ({tasks[0]})"
                    rows.append(Row(f"{encoder} / {mode} / {label}", "mtl-text", tasks, encoder, mode, setting))
    return rows


def run_child(cmd: list[str], log_path: Path) -> dict:
    """Run ``cmd`` with its output in ``log_path``; wall seconds and peak resident memory (MiB).

    Raises:
        RuntimeError: the command failed (the message names the log).
    """
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").replace("\r", "\n").strip().splitlines()[-5:]
        raise RuntimeError(f"exit status {proc.returncode}: {shlex.join(cmd)}\n  see {log_path}:\n  " + "\n  ".join(tail))
    # ru_maxrss is in KiB on Linux, bytes on macOS
    peak = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return {"wall_seconds": wall, "peak_rss_mib": peak}


def data_options(args: BenchmarkArguments, subset: bool = True) -> list[str]:
    """``--data-dir`` and (``subset``) ``--max-train-examples`` as given to the benchmark, for a child's command line."""
    options = ["--data-dir", args.data_dir] if args.data_dir else []
    return options + (["--max-train-examples", str(args.max_train_examples)] if subset and args.max_train_examples else [])


def train_command(row: Row, args: BenchmarkArguments, out: Path) -> list[str]:
    """The ``python -m mtl_text train`` command line of one of our rows."""
    cmd = [sys.executable, "-m", "mtl_text", "train", "--tasks", *row.tasks, "--output-dir", str(out), "--overwrite-output-dir",
           "--seed", str(args.seed), "--cache-dir", "none", "--save-total-limit", "0", *data_options(args)]
    if row.encoder == "transformer":
        cmd += ["--encoder", "transformer", "--model-name-or-path", args.transformer, *shlex.split(args.transformer_args)]
    else:
        cmd += {"word2vec": [], "glove": ["--vectors", str(args.glove)], "random": ["--random-init"]}[row.encoder]
        cmd += shlex.split(args.train_args)
    if row.mode == "frozen":
        cmd.append("--freeze-encoder")
    return cmd


def speed_command(kind: str, model: Path, task: str, args: BenchmarkArguments, out: Path, predictions: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "mtl_text.bench.speed", "--kind", kind, "--model", str(model), "--task", task, "--json", str(out),
           "--batch-size", str(args.predict_batch_size), "--latency-texts", str(args.latency_texts), "--min-seconds", str(args.min_seconds),
           *data_options(args, subset=False)]
    if args.max_predict_texts:
        cmd += ["--max-texts", str(args.max_predict_texts)]
    if predictions:
        cmd += ["--predictions", str(predictions)]
    return cmd


def run_row(row: Row, args: BenchmarkArguments, work: Path, predictions_task: str | None = None) -> None:
    """Train, test and time one row; fills ``row.result``. ``predictions_task``: also write the row's
    test predictions on that task (for the confusion matrix)."""
    d = work / row.slug
    d.mkdir(parents=True, exist_ok=True)
    if row.method == "mtl-text":
        model = d / "model"
        cmd = train_command(row, args, model)
        usage = run_child(cmd, d / "train.log")
        from ..training.outputs import PREDICTIONS_JSON, RESULTS_NAME  # torch-heavy: only where a row's results are read

        summary = json.loads((model / RESULTS_NAME).read_text())
        res = {"train_command": shlex.join(cmd), "train_seconds": usage["wall_seconds"], "train_peak_rss_mib": usage["peak_rss_mib"],
               "train_samples_per_second": summary["train_samples_per_second"], "steps": summary["steps"],
               "metrics": summary["metrics"], "metrics_log": str(model / "metrics.jsonl"),
               "predictions_file": str(model / PREDICTIONS_JSON)}
    else:
        model = d / ("model.bin" if row.method == "fasttext" else "model.pkl")
        cmd = [sys.executable, "-m", "mtl_text.bench.baselines", "--method", row.method, "--task", row.tasks[0], "--seed", str(args.seed),
               "--model-out", str(model), "--json", str(d / "train.json"), *data_options(args)] + (["--quick"] if args.quick else [])
        usage = run_child(cmd, d / "train.log")
        summary = json.loads((d / "train.json").read_text())
        # train time: the chosen setting's fit (features or word splitting included); the search is reported apart
        res = {"train_command": shlex.join(cmd), "train_seconds": summary["train_seconds"], "tuning_seconds": summary["tuning_seconds"],
               "command_seconds": usage["wall_seconds"], "train_peak_rss_mib": usage["peak_rss_mib"], "params": summary["params"],
               "grid": summary["grid"], "train_samples_per_second": summary["train_samples_per_second"], "metrics": summary["metrics"]}
    res["speed"] = {}
    for task in row.tasks:
        predictions = d / f"predictions-{task}.json" if task == predictions_task else None
        cmd = speed_command(row.method, model, task, args, d / f"speed-{task}.json", predictions)
        usage = run_child(cmd, d / f"speed-{task}.log")
        res["speed"][task] = {**json.loads((d / f"speed-{task}.json").read_text()), "predict_peak_rss_mib": usage["peak_rss_mib"],
                              "predictions": str(predictions) if predictions else None}
    row.result = res


def run_overhead(args: BenchmarkArguments, work: Path) -> dict:
    """Our loop against a plain PyTorch loop (:mod:`mtl_text.bench.overhead`), word vectors, multi-task."""
    out = work / "overhead.json"
    cmd = [sys.executable, "-m", "mtl_text.bench.overhead", "--tasks", *args.tasks, "--max-steps", str(args.overhead_steps),
           "--repeats", str(args.overhead_repeats), "--json", str(out), "--output-dir", str(work / "overhead"),
           "--cache-dir", "none", "--save-total-limit", "0", "--seed", str(args.seed), *shlex.split(args.train_args), *data_options(args)]
    run_child(cmd, work / "overhead.log")
    return {**json.loads(out.read_text()), "command": shlex.join(cmd)}


def score(row: Row, task: str) -> float | None:
    """The row's test score on ``task``: its primary metric (the mean over seeds when several ran)."""
    runs = [r["metrics"][task] for r in row.runs if task in r.get("metrics", {})]
    if runs:
        return sum(m[primary_metric(task)] for m in runs) / len(runs)
    m = row.result.get("metrics", {}).get(task)
    return m[primary_metric(task)] if m else None


def paired_difference(row: Row, base: Row, task: str) -> dict:
    """``row`` minus ``base`` on ``task``'s primary metric, seed by seed: the 95% paired-bootstrap
    interval over the test examples (mean over the seeds in each resample) and the across-seed spread
    (:func:`mtl_text.bench.experiments.compare`); without saved predictions, the difference alone."""
    from .experiments import compare

    metric = primary_metric(task)
    pairs = [(a, b) for a in row.runs for b in base.runs if a["seed"] == b["seed"]]
    try:
        runs = [[{**json.loads(Path(r["predictions_file"]).read_text())[task], "score": r["metrics"][task][metric]} for r in pair]
                for pair in pairs]
    except (OSError, KeyError, TypeError, ValueError):
        runs = []
    if not runs:
        return {"delta": score(row, task) - score(base, task), "low": None, "high": None, "significant": False, "seeds": len(pairs)}
    result = compare([a for a, _ in runs], [b for _, b in runs], metric, task=task)
    return {**result, "seeds": len(runs)}


def transfer_report(rows: list[Row], tasks: list[str]) -> list[dict]:
    """Differences of each task's test score (its primary metric): multi-task minus single-task (same
    encoder and mode), and pretrained minus from scratch (``random``; same mode and setting), each
    with its 95% paired-bootstrap interval over the test examples and, with ``--seeds``, the spread
    over seeds. ``negative`` flags a loss only when the whole interval lies below zero and, with
    several seeds, every seed lost (negative transfer the data supports); a loss whose interval
    contains zero, or that some seed does not show, is noise, not evidence. ``gain`` is the mirror
    image."""
    ours = [r for r in rows if r.method == "mtl-text" and (r.result or r.runs)]
    find = {(r.encoder, r.mode, r.setting, t): r for r in ours for t in r.tasks}
    report = []
    for (encoder, mode, setting, task), row in find.items():
        if setting == "multi" and (encoder, mode, "single", task) in find:
            base = find[(encoder, mode, "single", task)]
            report.append({"comparison": "multi-task - single-task", "task": task, "encoder": encoder, "mode": mode, "setting": None,
                           "metric": primary_metric(task), **paired_difference(row, base, task), "rows": [row.name, base.name]})
        if encoder not in ("random", "transformer") and ("random", mode, setting, task) in find:
            base = find[("random", mode, setting, task)]
            report.append({"comparison": "pretrained - from scratch", "task": task, "encoder": encoder, "mode": mode, "setting": setting,
                           "metric": primary_metric(task), **paired_difference(row, base, task), "rows": [row.name, base.name]})
    for item in report:
        judged = verdict(item["low"], item["high"], item.get("per_seed") or [item["delta"]]) if item["low"] is not None else "tie"
        item["negative"], item["gain"] = judged == "loss", judged == "gain"
    return sorted(report, key=lambda i: (i["comparison"], tasks.index(i["task"]), i["encoder"], i["mode"], i["setting"] or ""))


def markdown(results: dict) -> str:
    """The table (one line per row and task), the overhead and the transfer report, as Markdown."""
    from ..inference.evaluation import DISPLAY_NAMES

    lines = [f"Machine: {results['machine']}. Command: `{results['command']}`.", "",
             "| task | row | score | other metrics | train (s) | train samples/s | predict texts/s | latency p50 / p99 (ms) "
             "| peak RSS train / predict (MiB) |", "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for task in results["tasks"]:
        primary = results["primary_metrics"][task]
        for row in results["rows"]:
            if task not in row["tasks"] or not row["result"]:
                continue
            r, m, s = row["result"], row["result"]["metrics"][task], row["result"]["speed"][task]
            others = ", ".join(f"{DISPLAY_NAMES.get(k, k)} {v:.4f}" for k, v in m.items() if k not in (primary, "loss", "examples"))
            main_score = f"{m[primary]:.4f}"
            if len(row.get("runs") or []) > 1:  # several seeds: mean ± std (the other metrics: the first seed's)
                from ..transfer.significance import seed_spread

                spread = seed_spread([run["metrics"][task][primary] for run in row["runs"]])
                main_score = f"{spread['mean']:.4f} ± {spread['std']:.4f} ({spread['n']} seeds)"
            lines.append(f"| {task} | {row['name']} | {DISPLAY_NAMES.get(primary, primary)} {main_score} | {others} | {r['train_seconds']:.1f} "
                         f"| {r['train_samples_per_second']:,.0f} | {s['texts_per_second']:,.0f} | {s['latency_ms_p50']:.2f} / "
                         f"{s['latency_ms_p99']:.2f} | {r['train_peak_rss_mib']:,.0f} / {s['predict_peak_rss_mib']:,.0f} |")
    o = results.get("overhead")
    if o:
        lines += ["", f"Framework overhead (word vectors, multi-task, {o['steps']} steps x {len(o['ours_samples_per_second'])} repeats): "
                  f"our loop {o['ours_mean']:,.1f} samples/s, plain PyTorch loop {o['plain_mean']:,.1f} samples/s, "
                  f"ratio {o['ratio']:.3f} (overhead {max(0.0, 1 - o['ratio']) * 100:.1f}%); per repeat "
                  + " / ".join(f"{r:.3f}" for r in o["repeat_ratios"])
                  + (f"; mean of the repeat ratios, 95% interval [{o['ratio_interval'][0]:.3f}, {o['ratio_interval'][1]:.3f}]"
                     if o.get("ratio_interval") else "") + "."]
    if results["transfer"]:
        lines += ["", "Transfer report: test differences with 95% paired-bootstrap intervals over the test examples (mean over seeds in "
                  "each resample); **negative** only where the whole interval lies below 0 and every seed lost, (gain) the mirror image.", "",
                  "| comparison | task | encoder | mode | setting | metric | test difference [95% interval] | per seed |",
                  "|---|---|---|---|---|---|---:|---|"]
        for t in results["transfer"]:
            flag = " **negative**" if t["negative"] else (" (gain)" if t.get("gain") else "")
            interval = f" [{t['low']:+.4f}, {t['high']:+.4f}]" if t.get("low") is not None else " (no interval: predictions missing)"
            per_seed = ", ".join(f"{d:+.4f}" for d in t.get("per_seed", [])) if len(t.get("per_seed", [])) > 1 else "-"
            lines.append(f"| {t['comparison']} | {t['task']} | {t['encoder']} | {t['mode']} | {t['setting'] or '-'} "
                         f"| {DISPLAY_NAMES.get(t['metric'], t['metric'])} | {t['delta']:+.4f}{interval}{flag} | {per_seed} |")
    if results.get("failed"):
        lines += ["", "Failed rows: " + "; ".join(f"{f['row']}: {f['error'].splitlines()[0]}" for f in results["failed"])]
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    """CPU model and instruction sets (the widest vector ones, bf16: :func:`mtl_text.utils.hardware.cpu_summary`), cores,
    memory, GPU (if any), Python and torch versions."""
    import torch

    from ..utils.environment import cpu_description

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_description()}, {gpu}, Python {platform.python_version()}, torch {torch.__version__}"


@dataclass
class BenchmarkArguments(Arguments):
    """The benchmark's options (``mtl-text benchmark --help``)."""

    tasks: list[str] = field(default_factory=lambda: ["20newsgroups", "sst2"], metadata={
        "help": "tasks (the multi-task rows train them jointly; the confusion matrix plotted is that of the single-text single-label "
                "task with the most labels)"})
    data_dir: str | None = data_dir_option()
    seed: Seed = seed_option(42, "seeds every row's validation split, sampling and initialisation")
    seeds: list[int] = field(default_factory=list, metadata={
        "help": "run every row once per seed (replaces --seed): the table shows the mean over seeds, the transfer report the spread "
                "across seeds beside its intervals; the first seed's run gives the speed and memory figures"})
    baselines: list[str] = field(default_factory=lambda: list(BASELINE_METHODS), metadata={
        "help": f"baselines to run, some of {', '.join(BASELINE_METHODS)}, or none"})
    encoders: list[str] = field(default_factory=lambda: list(ENCODERS), metadata={
        "help": f"word-vector initialisations, some of {', '.join(ENCODERS)} (Word2Vec on the row's training text, GloVe (--glove), "
                "random), or none"})
    modes: list[str] = field(default_factory=lambda: list(MODES), metadata={
        "help": f"{' and/or '.join(MODES)}: fine-tuned encoder and/or frozen (feature extraction)"})
    settings: list[str] = field(default_factory=lambda: list(SETTINGS), metadata={
        "help": f"{' and/or '.join(SETTINGS)}: single-task and/or multi-task models"})
    glove: str | None = field(default_factory=lambda: os.environ.get("MTL_TEXT_GLOVE"), metadata={
        "metavar": "FILE", "help": "GloVe vectors for the glove rows (default: $MTL_TEXT_GLOVE), e.g. ../shared/vectors/glove-6B-50d.w2v.bin"})
    train_args: str = field(default="", metadata={"help": "extra training options for the word-vector rows (and the overhead run), one string"})
    transformer: str | None = field(default=None, metadata={"metavar": "NAME_OR_DIR", "help": "also run transformer rows with this model"})
    transformer_args: str = field(default="", metadata={"help": "extra training options for the transformer rows, one string"})
    max_train_examples: PositiveInt | None = field(default=None, metadata={
        "help": "train every row on the first N shuffled examples of each task"})
    predict_batch_size: PositiveInt = field(default=256, metadata={"help": "texts per call when timing batched prediction"})
    max_predict_texts: PositiveInt | None = field(default=None, metadata={
        "help": "time prediction on the first N test texts of each task"})
    latency_texts: PositiveInt = field(default=300, metadata={"help": "single-text calls timed per row and task"})
    min_seconds: NonNegativeFloat = field(default=2.0, metadata={"help": "time batched prediction for at least this long"})
    overhead_steps: NonNegativeInt = field(default=400, metadata={
        "help": "steps per loop and repeat of the overhead measurement (0: skip)"})
    overhead_repeats: PositiveInt = field(default=4, metadata={
        "help": "repeats of each loop, in ABBA order (plain first, then ours first, ...)"})
    quick: bool = field(default=False, metadata={
        "help": "a smoke test in a few minutes: 1,000 training examples per task, one epoch, fine-tuned rows only (glove only when "
                "--glove is given), no baseline search, short timings (options you set keep their value)"})
    output_dir: str = field(default="benchmarks", metadata={"help": "where results.json, results.md and the plots go"})
    work_dir: str = field(default="runs/benchmark", metadata={"help": "where the rows' models and logs go"})

    def __post_init__(self):
        super().__post_init__()
        if any(not isinstance(x, int) or x < 0 for x in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds: distinct non-negative integers, got {self.seeds}")
        for name, allowed in (("baselines", BASELINE_METHODS), ("encoders", ENCODERS), ("modes", MODES), ("settings", SETTINGS)):
            values = [v for v in getattr(self, name) if v != "none"] if name in ("baselines", "encoders") else getattr(self, name)
            unknown = [v for v in values if v not in allowed]
            if unknown or not (values or name in ("baselines", "encoders")):
                raise ConfigError(f"--{name}: expected some of {', '.join(allowed)}, got {getattr(self, name)}")
            setattr(self, name, values)


def apply_quick(args: BenchmarkArguments) -> None:
    """``--quick``: a subset of the data and rows (see ``--help``)."""
    args.max_train_examples = args.max_train_examples or 1000
    args.train_args = (args.train_args + " --num-epochs 1 --eval-every 16").strip()
    args.encoders = [e for e in args.encoders if e != "glove" or args.glove]
    args.modes = ["fine-tuned"]
    defaults = {f.name: f.default for f in fields(BenchmarkArguments)}
    quick = {"latency_texts": 20, "min_seconds": 0.2, "max_predict_texts": 300, "overhead_steps": 20, "overhead_repeats": 2}
    for name, value in quick.items():  # options the user set keep their value
        if getattr(args, name) == defaults[name]:
            setattr(args, name, value)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """mtl-text against TF-IDF + LinearSVC and fastText; single- against multi-task; pretrained against from-scratch encoders.
    Writes results.json, results.md and PNG plots."""
    from ..cli.parsing import ArgumentParser
    from ..utils.log import setup_logging

    setup_logging()
    (args,), _ = ArgumentParser(BenchmarkArguments, prog=prog or "benchmark.py", description=main.__doc__).parse(argv)
    command = "python scripts/benchmark.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.quick:
        apply_quick(args)
    if "glove" in args.encoders and not args.glove:
        raise ConfigError("--encoders glove needs --glove FILE (or $MTL_TEXT_GLOVE), e.g. ../shared/vectors/glove-6B-50d.w2v.bin")
    if args.glove and not Path(args.glove).is_file():
        raise ConfigError(f"--glove: {args.glove} not found")
    if "fasttext" in args.baselines:
        import importlib.util

        if importlib.util.find_spec("fasttext") is None:
            raise ConfigError("the fasttext baseline needs the bench extra: pip install -e '.[bench]'") from None
    out, work = Path(args.output_dir), Path(args.work_dir)
    out.mkdir(parents=True, exist_ok=True), work.mkdir(parents=True, exist_ok=True)

    rows, failed, start = plan_rows(args), [], time.time()
    # the confusion matrix's row: our first multi-task row, else the first row with its task
    matrix_task = confusion_task(list(args.tasks))
    reference = next((r for r in rows if r.method == "mtl-text" and r.setting == "multi"),
                     next((r for r in rows if matrix_task in r.tasks), None))
    logger.info("%d rows: %s", len(rows), "; ".join(r.name for r in rows))
    seeds = args.seeds or [args.seed]
    for i, row in enumerate(rows, 1):
        t0 = time.time()
        try:
            first = None
            for seed in seeds:
                seed_work = work / f"seed-{seed}" if len(seeds) > 1 else work
                run_row(row, dataclasses.replace(args, seed=seed), seed_work,
                        predictions_task=matrix_task if row is reference and first is None else None)
                first = first or row.result
                if row.method == "mtl-text":
                    row.runs.append({"seed": seed, "metrics": row.result["metrics"], "predictions_file": row.result["predictions_file"]})
            row.result = first
        except RuntimeError as e:
            logger.error("row %s failed: %s", row.name, e)
            failed.append({"row": row.name, "error": str(e)})
            continue
        accs = ", ".join(f"{t} {primary_metric(t)} {score(row, t):.4f}" for t in row.tasks)
        logger.info("[%d/%d] %s: %s (%.0fs)", i, len(rows), row.name, accs, time.time() - t0)
    overhead = None
    if args.overhead_steps:
        logger.info("overhead: our loop against a plain PyTorch loop, %d steps x %d repeats", args.overhead_steps, args.overhead_repeats)
        overhead = run_overhead(args, work)
        logger.info("overhead ratio (ours / plain samples per second): %.3f", overhead["ratio"])

    results = {"command": command, "machine": machine_description(), "date": time.strftime("%Y-%m-%d"), "quick": args.quick,
               "seed": args.seed, "seeds": seeds, "tasks": list(args.tasks), "primary_metrics": {t: primary_metric(t) for t in args.tasks},
               "confusion_task": matrix_task,
               "wall_seconds": time.time() - start,
               "rows": [asdict(r) for r in rows], "failed": failed, "overhead": overhead,
               "transfer": transfer_report(rows, list(args.tasks))}
    from .plots import make_plots

    results["plots"] = make_plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "results.md").write_text(table)
    print(table)
    logger.info("wrote %s, %s and %d plots in %.0f s", out / "results.json", out / "results.md", len(results["plots"]), results["wall_seconds"])
    return 1 if failed else 0
