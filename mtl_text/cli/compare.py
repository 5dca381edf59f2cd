"""``mtl-text compare``: is one model better than another? Both are scored on the same examples of
each task they share, its test split or (--split validation) the validation split their training
carved (or with --head, as in evaluate, on another task's or your own labelled file's), and the
difference of each head's metric comes with its paired-bootstrap interval and a verdict: gain, loss,
tie (the interval contains zero), or runs disagree (several runs of each, e.g. seeds, paired one to
one, and some pair does not show what the interval does)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Literal

from ..arguments import (
    Arguments,
    Backend,
    Fraction,
    PositiveInt,
    Seed,
    TaskValues,
    backend_option,
    data_dir_option,
    ensemble_option,
    non_empty,
    task_file_option,
    token_option,
)
from ..utils.files import atomic_write_text
from .parsing import ArgumentParser, output_file
from .scored import (
    check_scored,
    head_option,
    input_format_option,
    input_option,
    label_column_option,
    scored_heads,
    task_option,
    text_column_option,
    text_pair_column_option,
)


@dataclass
class CompareArguments(Arguments):
    model: list[str] = field(metadata={
        "metavar": "MODEL", "help": "model A: a model folder (or a Hub id OWNER/NAME[@REVISION]), or several runs of it (e.g. "
                                    "three seeds), paired one to one with --baseline's"})
    baseline: list[str] = field(metadata={
        "metavar": "MODEL", "help": "model B, as many runs as --model (e.g. the single-task models of the same seeds); the "
                                    "differences are A minus B"})
    ensemble_with: list[str] | None = ensemble_option("model A is then that ensemble (one run), e.g. against --model alone as "
                                                      "--baseline; in one process")
    baseline_ensemble_with: list[str] | None = field(default=None, metadata={
        "metavar": "MODEL", "help": "more models answering with --baseline as one ensemble, as --ensemble-with does for --model "
                                    "(one run), e.g. an ensemble of three models against one of two; in one process"})
    tasks: list[str] | None = field(default=None, metadata={
        "help": "the tasks to compare (default: every task all the models have a head for), each on the split --split names"})
    split: Literal["test", "validation"] = field(default="test", metadata={
        "help": "which split: validation is carved out of train as the models' training carved it, to choose between models "
                "without reading the test split; every run must have been trained with the same seed, --validation-size and "
                "carve (refused otherwise: their examples would differ)"})
    task: str | None = task_option()
    head: str | None = head_option()
    input: str | None = input_option()
    input_format: Literal["csv", "tsv", "jsonl"] | None = input_format_option()
    text_column: str | None = text_column_option()
    text_pair_column: str | None = text_pair_column_option()
    label_column: str | None = label_column_option()
    metric: Annotated[list[str], TaskValues("METRIC or TASK=METRIC", non_empty, bare=True)] = field(default_factory=list, metadata={
        "metavar": "METRIC|TASK=METRIC",
        "help": "the head metric to compare: a bare METRIC for every task, TASK=METRIC for one, e.g. macro_f1 or stsb=spearman "
                "(default: each head's primary metric, the one model selection uses: accuracy for TREC, matthews_corrcoef for CoLA, "
                "macro_f1 for GoEmotions, pearson for STS-B)"})
    resamples: PositiveInt = field(default=1000, metadata={"help": "paired-bootstrap resamples of the test examples"})
    confidence: Fraction = field(default=0.95, metadata={"help": "coverage of the difference's interval"})
    seed: Seed = field(default=0, metadata={"help": "seeds the bootstrap's resampling (the interval is a function of it)"})
    data_dir: str | None = data_dir_option()
    task_file: list[str] = task_file_option()
    batch_size: PositiveInt = field(default=128, metadata={"help": "examples per evaluation batch and process"})
    json: str | None = field(default=None, metadata={"metavar": "FILE", "help": "also write every comparison here as JSON"})
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json (sizes are always checked); --no-verify-hashes skips "
                "it for very large models"})
    token: str | None = token_option("read private or gated Hub models")
    backend: Backend = backend_option("what runs --model's folders; under onnx the figures are the export's own, e.g. of its int8 "
                                      "graphs, scored in one process")
    baseline_backend: Backend | None = field(default=None, metadata={
        "help": "what runs --baseline's folders (default: --backend's); one folder may be both sides, e.g. --model int8-export "
                "--backend onnx --baseline int8-export --baseline-backend torch: what quantization costs on each task"})

    def __post_init__(self):
        super().__post_init__()
        check_scored(self)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from accelerate import PartialState

    from ..data.tasks import load_task_file
    from ..inference.comparison import Run, compare_models, format_comparison
    from ..utils.allocator import tune_malloc
    from ..utils.log import setup_logging

    (args,), _ = ArgumentParser(CompareArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    output_file(args.json, "--json")  # named before any work
    tune_malloc()
    main_process = PartialState().is_main_process
    setup_logging(main_process)
    for spec in args.task_file:
        load_task_file(spec)
    comparisons = compare_models(args.model, args.baseline, args.tasks, args.task_values("metric"), args.data_dir, args.batch_size, args.resamples,
                                 args.confidence, args.seed, args.verify_hashes, args.token, scored_heads(args, args.model[0], args.token),
                                 args.backend, args.baseline_backend, args.split, args.ensemble_with or (), args.baseline_ensemble_with or ())
    if main_process:
        runs = f"{len(args.model)} paired runs each" if len(args.model) > 1 else "one run each"
        scored = f"head {args.head} on {args.input or f'task {args.task} ({args.split} split)'}" if args.head else f"{args.split} splits"
        members = tuple(args.ensemble_with or ())  # each run as compare_models names it: A + its ensemble's members [backend]
        model = " ".join(str(Run(name, args.backend, members)) for name in args.model)
        baseline = " ".join(str(Run(name, args.baseline_backend or args.backend, tuple(args.baseline_ensemble_with or ())))
                            for name in args.baseline)
        print(f"{model} (model) against {baseline} (baseline), {runs}: {scored}, "
              f"{args.resamples} paired-bootstrap resamples")
        print(format_comparison(comparisons))
        if args.json:
            atomic_write_text(args.json, json.dumps({task: c.to_dict() for task, c in comparisons.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
