"""``mtl-text evaluate`` / ``accelerate launch scripts/evaluate.py``: score a saved model on its
tasks' test (or validation) splits and print the same table as training."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from ..arguments import (
    Arguments,
    Backend,
    Confidence,
    Fraction,
    PositiveInt,
    Seed,
    backend_option,
    data_dir_option,
    ensemble_option,
    seed_option,
    task_file_option,
    token_option,
)
from ..errors import ConfigError, InputError
from ..utils.files import atomic_write_text
from .parsing import ArgumentParser, input_file, output_file
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
class EvaluateArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training, or a Hugging Face Hub id (OWNER/NAME, or OWNER/NAME@REVISION for a branch, tag or commit) where no such folder exists"})
    ensemble_with: list[str] | None = ensemble_option("the validation split is carved as --model's training carved it; one process")
    tasks: list[str] | None = field(default=None, metadata={"help": "tasks to score (default: every head of the model)"})
    task: str | None = task_option()
    head: str | None = head_option()
    input: str | None = input_option()
    input_format: Literal["csv", "tsv", "jsonl"] | None = input_format_option()
    text_column: str | None = text_column_option()
    text_pair_column: str | None = text_pair_column_option()
    label_column: str | None = label_column_option()
    task_file: list[str] = task_file_option()
    split: Literal["test", "validation"] = field(default="test", metadata={
        "help": "which split; validation is carved out of train as in training (same --seed and --validation-size)"})
    data_dir: str | None = data_dir_option()
    seed: Seed | None = seed_option(None, "seed of the validation split (default: the model's training seed)")
    validation_size: Fraction | None = field(default=None, metadata={
        "help": "fraction of train held out for validation (default: the model's training value)"})
    batch_size: PositiveInt = field(default=128, metadata={"help": "examples per batch and process"})
    backend: Backend = backend_option("the export's own figures (e.g. of its int8 graphs), in one process; with --estimate-on, "
                                                "its own confidences")
    json: str | None = field(default=None, metadata={"metavar": "FILE", "help": "also write the metrics here as JSON"})
    per_class: bool = field(default=False, metadata={
        "help": "also print each classification task's precision, recall, F1 and support per class (per label for multi-label "
                "tasks) and, for single-label tasks, the most frequent confusions; with --json the file also holds them "
                "('per_class', and 'confusion_matrix': rows the reference labels, columns the predicted ones, in label order)"})
    risk_coverage: bool = field(default=False, metadata={
        "help": "also print, for each single-label task, selective prediction: the accuracy on the texts whose predicted label's "
                "probability reaches a minimum confidence, at several minimums (those keeping 100%%, 95%%, 90%%, 80%%, 70%% and 50%% "
                "of the texts, and 0.5, 0.8, 0.9, 0.95, 0.99), and the AURC; with --json the file also holds them ('risk_coverage')"})
    min_confidence: list[Confidence] | None = field(default=None, metadata={
        "metavar": "P", "help": "with --risk-coverage (which it turns on): also the share of texts these minimum confidences keep "
                                "and their accuracy, each as given, e.g. the one for mtl-text predict --min-confidence; with --json "
                                "under 'risk_coverage.requested'"})
    target_accuracy: list[Fraction] | None = field(default=None, metadata={
        "metavar": "A", "help": "with --risk-coverage (which it turns on): also, for each single-label task, the lowest minimum "
                                "confidence whose kept texts reach accuracy A with probability 1 - --delta, for texts drawn like "
                                "the ones scored: selection with guaranteed risk (SGR, Geifman & El-Yaniv 2017), with its coverage and "
                                "accuracy bound; score a sample like the texts you will predict (--input FILE --head NAME), then "
                                "predict with the command it prints (mtl-text predict --task-min-confidence TASK=P); with --json "
                                "under 'risk_coverage.guaranteed'"})
    delta: Fraction | None = field(default=None, metadata={
        "help": "--target-accuracy: the probability that its guarantee fails (its accuracy bound holds with 1 - delta; default: "
                "0.05)"})
    estimate_on: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "instead of scoring labelled data: estimate each single-label head's accuracy on these unlabelled "
                                   "texts (a file as mtl-text predict reads one: one text per line, or .jsonl, .csv, .tsv; "
                                   "--text-column and --text-pair-column name its fields) from its confidences there and on the "
                                   "validation split: ATC (average thresholded confidence, Garg et al. 2022) and DoC (difference of "
                                   "confidences, Guillory et al. 2021), beside the validation accuracy; e.g. for texts of a new "
                                   "domain or a later period. An estimate, not a measurement"})
    predictions: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "also write every example's prediction and reference here as JSON (for paired significance tests)"})
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json (sizes are always checked); --no-verify-hashes skips "
                "it for very large models"})
    token: str | None = token_option("read a private or gated Hub model")

    def __post_init__(self):
        super().__post_init__()
        check_scored(self, other_files=["--estimate-on"])
        if self.estimate_on:
            other = next((o for o, v in (("--input", self.input), ("--task", self.task), ("--ensemble-with", self.ensemble_with),
                                         ("--split", self.split != "test"), ("--label-column", self.label_column),
                                         ("--per-class", self.per_class), ("--risk-coverage", self.risk_coverage),
                                         ("--min-confidence", self.min_confidence), ("--target-accuracy", self.target_accuracy),
                                         ("--predictions", self.predictions)) if v), None)
            if other:
                raise ConfigError(f"--estimate-on estimates the accuracy on unlabelled texts against the validation split; {other} "
                                  "scores labelled data: run them apart")
        if self.delta is not None and not self.target_accuracy:
            raise ConfigError("--delta is the failure probability of --target-accuracy's guarantee, which is not given")


def predict_command(args: EvaluateArguments, reports: dict, target: float) -> str | None:
    """The ``mtl-text predict`` command that marks each head's texts below the minimum
    ``--target-accuracy`` found for it at ``target`` (``--task-min-confidence HEAD=P``: the head that
    scored each report, ``--head`` for ``--task`` and ``--input``); ``None`` where none was found."""
    from ..modeling.heads import printed_minimum

    minimums = {}
    for name, report in reports.items():
        for found in report.get("risk_coverage", {}).get("guaranteed", []):
            if found["target_accuracy"] == target and found["min_confidence"] is not None:
                minimums[args.head or name] = printed_minimum(found["min_confidence"])
    if not minimums:
        return None
    ensemble = f" --ensemble-with {' '.join(args.ensemble_with)}" if args.ensemble_with else ""
    return (f"mtl-text predict --model {args.model}{ensemble} --task-min-confidence "
            + " ".join(f"{head}={value}" for head, value in minimums.items()))


def estimate_main(args: EvaluateArguments) -> int:
    """``--estimate-on FILE``: each single-label head's estimated accuracy on the file's texts."""
    from ..data.readers import open_data
    from ..data.tasks import load_task_file
    from ..inference.inputs import input_format, read_texts
    from ..transfer.estimation import estimate_model_accuracy
    from ..utils.log import setup_logging

    setup_logging()
    for spec in args.task_file:
        load_task_file(spec)
    path = input_file(args.estimate_on, "--estimate-on")
    with open_data(path) as lines:
        texts, pairs = read_texts(lines, str(path), input_format(str(path), args.input_format), args.text_column or "text",
                                  args.text_pair_column or "text_pair")
    if not texts:
        raise InputError(f"--estimate-on {path}: no texts in the file")
    estimates = estimate_model_accuracy(args.model, texts, pairs, args.tasks, args.data_dir, args.seed, args.validation_size,
                                        args.batch_size, args.verify_hashes, args.token, args.backend)
    print(f"estimated accuracy of {args.model} on {args.estimate_on} ({len(texts)} texts), from the confidences; the validation "
          "split's accuracy beside them:")
    print("| task | validation accuracy | ATC estimate | DoC estimate | mean confidence: validation -> texts | ATC threshold |")
    print("|---|---:|---:|---:|---|---:|")
    for name, e in estimates.items():
        print(f"| {name} | {e['source_accuracy']:.4f} | {e['atc']:.4f} | {e['doc']:.4f} | {e['source_confidence']:.4f} -> "
              f"{e['target_confidence']:.4f} | {e['atc_threshold']:.4f} |")
    if args.json:
        atomic_write_text(args.json, json.dumps(estimates, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from accelerate import Accelerator

    from ..data.tasks import load_task_file
    from ..inference.evaluation import evaluate_ensemble, evaluate_model, format_class_report, format_table
    from ..modeling.heads import SelectiveRequest, format_risk_coverage
    from ..utils.allocator import tune_malloc
    from ..utils.log import setup_logging

    (args,), _ = ArgumentParser(EvaluateArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    output_file(args.json, "--json")  # named before any work
    output_file(args.predictions, "--predictions")
    tune_malloc()
    if args.estimate_on:
        return estimate_main(args)
    accelerator = Accelerator()
    setup_logging(accelerator.is_main_process)
    for spec in args.task_file:
        load_task_file(spec)
    predictions = {} if args.predictions else None
    risk_coverage = args.risk_coverage or bool(args.min_confidence) or bool(args.target_accuracy)
    selective = SelectiveRequest(tuple(args.min_confidence or ()), tuple(args.target_accuracy or ()),
                                 **({"delta": args.delta} if args.delta is not None else {}))
    reports = {} if args.per_class or risk_coverage else None
    heads_of = scored_heads(args, args.model, args.token)
    if args.ensemble_with:
        results = evaluate_ensemble([args.model, *args.ensemble_with], args.tasks, args.split, args.data_dir, args.seed,
                                    args.validation_size, args.batch_size, args.verify_hashes, predictions, token=args.token,
                                    reports=reports, heads_of=heads_of, selective=selective, backend=args.backend)
    else:
        results = evaluate_model(args.model, args.tasks, args.split, args.data_dir, args.seed, args.validation_size, args.batch_size,
                                 accelerator, args.verify_hashes, heads_of, predictions, token=args.token, reports=reports,
                                 selective=selective, backend=args.backend)
    if accelerator.is_main_process:
        scorer = f"ensemble of {', '.join([args.model, *args.ensemble_with])}" if args.ensemble_with else args.model
        if args.input:
            print(f"head {args.head} of {scorer} on {args.input}:")
        elif args.task:
            print(f"head {args.head} of {scorer} on task {args.task} ({args.split} split):")
        elif args.ensemble_with:
            print(f"{scorer} ({args.split} split):")
        print(format_table(results))
        for name, report in (reports or {}).items():
            if args.per_class and "per_class" in report:
                print(f"\n{name}, per class:\n{format_class_report(report)}")
            if risk_coverage and "risk_coverage" in report:
                print(f"\n{name}, selective prediction (keep the texts whose confidence reaches a minimum):\n"
                      f"{format_risk_coverage(report['risk_coverage'])}")
            asked = {"per_class": args.per_class, "confusion_matrix": args.per_class, "risk_coverage": risk_coverage}
            results[name].update({k: v for k, v in report.items() if asked[k]})  # for --json
        for target in args.target_accuracy or ():  # the minimums found, as mtl-text predict takes them
            command = predict_command(args, reports or {}, target)
            if command:
                print(f"\nto predict with the minimums found for accuracy {target:g}:\n{command}")
        if args.json:
            atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
        if args.predictions:
            atomic_write_text(args.predictions, json.dumps(predictions) + "\n")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
