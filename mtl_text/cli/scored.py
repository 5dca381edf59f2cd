"""What a head scores instead of its own task's split, in ``mtl-text evaluate`` and ``mtl-text
compare``: ``--task`` (another registered task, e.g. a sentiment head on reviews of another domain:
cross-domain evaluation) or ``--input`` (your own labelled file), each with ``--head``. The options
are declared here once, and checked and turned into the heads to score alike in both commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any

from ..errors import ConfigError, UnknownHeadError
from .parsing import input_file


def task_option() -> Any:
    return field(default=None, metadata={
        "help": "cross-domain evaluation: score --head on this task's split instead (any registered task with the same problem "
                "type and label names, e.g. a sentiment head on another sentiment data set)"})


def head_option() -> Any:
    return field(default=None, metadata={"help": "the head that scores --task or --input"})


def input_option() -> Any:
    return field(default=None, metadata={
        "metavar": "FILE", "help": "score --head on your own labelled examples instead of a task: a CSV or TSV file whose header "
                                   "row names the columns, or JSON Lines; labels as the head's label names or ids (for a "
                                   "multi-label head, names or ids separated by commas; for regression, the value)"})


def input_format_option() -> Any:
    return field(default=None, metadata={
        "help": "the --input file's format (default: from its name's ending: .csv, .tsv, .jsonl, each also with .gz after it, "
                "decompressed)"})


def text_column_option() -> Any:
    return field(default=None, metadata={"help": "--input: the column (JSON field) of the text (default: text)"})


def text_pair_column_option() -> Any:
    return field(default=None, metadata={
        "help": "--input: the column (JSON field) of a sentence pair's second text, for a pair head (default: text_pair)"})


def label_column_option() -> Any:
    return field(default=None, metadata={"help": "--input: the column (JSON field) of the label (default: label)"})


def check_scored(args, other_files: Sequence[str] = ()) -> None:
    """The rules of ``--task``, ``--input`` and ``--head`` on a command's options ``args``: one of
    ``--task`` and ``--input``, with ``--head``, and neither beside ``--tasks``; ``--input`` (scored
    whole) not with ``--split validation``; ``--label-column`` only with ``--input``; the file's
    format and text columns only with ``--input`` or one of ``other_files`` (option names, e.g.
    ``--estimate-on``, whose file they describe too).

    Raises:
        ConfigError: naming the options that do not fit together.
    """
    if args.task and args.input:
        raise ConfigError("--task and --input each give the examples --head scores: give one")
    scored = "--task" if args.task else "--input" if args.input else None
    if (scored is None) != (args.head is None):
        raise ConfigError("--head goes with --task or --input: --head NAME scores --task OTHER, or the labelled file --input FILE")
    if scored and args.tasks:
        raise ConfigError(f"--tasks excludes {scored}/--head (one cross-task evaluation at a time)")
    if args.input and getattr(args, "split", "test") != "test":
        raise ConfigError("--split validation: a labelled file (--input) is scored whole; it has no validation split")
    if args.label_column and not args.input:
        raise ConfigError("--label-column describes the labelled file of --input, which is not given")
    named = next((o for o, v in (("--input-format", args.input_format), ("--text-column", args.text_column),
                                 ("--text-pair-column", args.text_pair_column)) if v), None)
    files = ["--input", *other_files]
    if named and not any(getattr(args, option[2:].replace("-", "_")) for option in files):
        raise ConfigError(f"{named} describes the file of {' or '.join(files)}, "
                          f"{'which is' if len(files) == 1 else 'neither of which is'} given")


def scored_heads(args, model: str, token: str | None = None) -> dict | None:
    """The ``heads_of`` of :func:`~mtl_text.inference.evaluation.evaluate_model`: ``--task``'s name,
    or ``--input``'s labelled file as a task shaped as ``--head`` of ``model`` (a folder or Hub id;
    the head's labels, problem type, single texts or pairs; the file is checked when read), ->
    ``--head``; ``None`` where neither is given.

    Raises:
        ModelLoadError: ``model`` is not a saved model (for ``--input``).
        UnknownHeadError: no head ``--head`` (for ``--input``).
        InputError: ``--input`` not found, or a folder.
    """
    from ..data.tasks import file_task
    from ..modeling.hub import resolve_model
    from ..modeling.model import MultiTaskModel

    if args.task:
        return {args.task: args.head}
    if not args.input:
        return None
    path = input_file(args.input)
    config = MultiTaskModel.read_config(resolve_model(model, token=token))
    if args.head not in config["tasks"]:
        raise UnknownHeadError(f"--head {args.head}: the model has no such head; its heads are {sorted(config['tasks'])}")
    head = config["tasks"][args.head]
    task = file_task(path, head["labels"], head["problem_type"], head["text_pair"], args.input_format, args.text_column or "text",
                     args.text_pair_column or "text_pair", args.label_column or "label")
    return {task: args.head}
