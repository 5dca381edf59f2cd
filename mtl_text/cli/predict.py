"""``mtl-text predict`` / ``scripts/predict.py``: score text with a saved model; one JSON object per
text (or sentence pair) on standard output, or in --output FILE, with each head's output
(single-label: the predicted label and every label's probability; multi-label: the labels above
their thresholds and every label's probability; regression: the value); or the same as CSV rows,
one column per field (--output-format csv)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Literal, TextIO

from ..arguments import Arguments, Backend, PositiveInt, SelectionArguments, backend_option, ensemble_option, token_option
from ..data.readers import gzip_named, open_data
from ..errors import ConfigError, InputError
from ..inference import DEFAULT_MAX_BATCH_TOKENS
from ..inference.inputs import Example, input_format, one_kind, read_examples
from ..inference.outputs import PredictionWriter, output_format
from ..utils.files import atomic_open
from ..utils.iteration import chunked
from .parsing import ArgumentParser, input_file, output_file


@dataclass
class PredictArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training, or a Hugging Face Hub id (OWNER/NAME, or OWNER/NAME@REVISION for a branch, tag or commit) where no such folder exists"})
    ensemble_with: list[str] | None = ensemble_option(
        "only the tasks every model has with the same labels; put texts before this option, or after '--'")
    input: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "file of texts ('-' for standard input; a .gz file is decompressed); with no texts and no "
                                  "--input, standard input is read"})
    input_format: Literal["text", "jsonl", "tsv", "csv"] | None = field(default=None, metadata={
        "help": "text: one text per line, taken as it is; jsonl: one JSON object per line with a 'text' field (and 'text_pair' "
                "for sentence-pair tasks); tsv: one sentence pair per line, the two texts separated by a tab; csv: comma-separated "
                "values whose header row names a 'text' column (and 'text_pair'), other columns ignored, quoted fields may hold "
                "commas and line breaks. Default: jsonl for a .jsonl file, tsv for a .tsv file, csv for a .csv file (each also "
                "with .gz after it), text otherwise (standard input included)"})
    text_column: str | None = field(default=None, metadata={
        "help": "jsonl and csv input: the field or column holding the text (default: text)"})
    text_pair_column: str | None = field(default=None, metadata={
        "help": "jsonl and csv input: the field or column holding a sentence pair's second text (default: text_pair)"})
    keep_columns: list[str] | None = field(default=None, metadata={
        "help": "jsonl and csv input: fields or columns copied from each record into its output line, before the text (e.g. "
                "--keep-columns id, to join predictions back to records); every record must have them"})
    tasks: list[str] | None = field(default=None, metadata={
        "help": "heads to use (default: every task of the model that takes the input's kind, single texts or pairs); put texts "
                "before this option, or after '--'"})
    top_k: PositiveInt | None = field(default=None, metadata={
        "help": "classification heads: print only the K most probable labels' probabilities, the most probable first (default: "
                "every label's, in label order); the predicted label or labels are unchanged"})
    batch_size: PositiveInt = field(default=64, metadata={"help": "at most this many texts per encoder pass"})
    max_batch_tokens: PositiveInt = field(default=DEFAULT_MAX_BATCH_TOKENS, metadata={
        "help": "at most this many tokens (padding included) per encoder pass: the texts are sorted by length and batched under "
                "both limits, so short texts are not padded to long ones; outputs keep the input order"})
    device: str = field(default="cpu", metadata={"help": "where the model runs: cpu, cuda, cuda:1, ..."})
    backend: Backend = backend_option()
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json (sizes are always checked); --no-verify-hashes skips "
                "it for very large models"})
    token: str | None = token_option("read a private or gated Hub model")
    output: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "write the outputs to this file instead of standard output, whole or not at all: into a "
                                  "temporary file beside it, renamed into place once every text is scored (a .gz file is "
                                  "compressed)"})
    output_format: Literal["jsonl", "csv"] | None = field(default=None, metadata={
        "help": "jsonl: one JSON object per text; csv: a header row, then one row per text and one column per field (the kept "
                "columns, text, empty_text, TASK.label, TASK.probabilities.LABEL, TASK.labels joined by commas, TASK.value, ...; "
                "not with --top-k). Default: csv for a .csv --output file (also .csv.gz), jsonl otherwise"})

    def __post_init__(self):
        super().__post_init__()
        if self.top_k is not None and output_format(self.output, self.output_format) == "csv":
            raise ConfigError("--top-k keeps each text's most probable labels, which differ from row to row, but CSV output has one "
                              "column per label; write JSON Lines (--output-format jsonl)")


def build_parser(prog: str | None = None) -> ArgumentParser:
    parser = ArgumentParser((PredictArguments, SelectionArguments), prog=prog, description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("texts", nargs="*", help="texts to score; with none and no --input, texts are read from standard input")
    return parser


OUTPUT_KEYS = ("text", "text_pair", "predictions", "empty_text")  # what an output line holds besides the kept columns
CHUNK = 4096  # records read, scored, then written at a time: input and output stream, and a progress bar counts them on a terminal


def reads_standard_input(args: PredictArguments, texts: list[str]) -> bool:
    """Whether the records come from standard input: ``--input -``, or neither texts nor ``--input``."""
    return args.input == "-" or not (args.input or texts)


def input_examples(args: PredictArguments, texts: list[str]) -> tuple[Iterator[Example], int | None]:
    """The records to score, read lazily: the command-line texts, then the records of ``--input``
    (or standard input when neither is given), each with its second text when the input holds
    sentence pairs and its kept columns; and how many there are where that is known before scoring.

    A file is read twice: once whole, checking every record and counting them (so a bad record
    stops the command before any output, and the progress bar knows its end), then as it is
    scored. Standard input and pipes are read once, as they come: a bad record there stops the
    command after the results before its chunk were written.

    Raises:
        InputError: ``--input`` not found or a folder, a bad line (named by file and line), pairs
            after single texts given as arguments, ``--text-column``/``--text-pair-column``/
            ``--keep-columns`` for texts without fields, or a kept column that an output line holds
            already; for standard input and pipes, the bad line's error comes as it is read.
    """
    fmt = input_format(args.input, args.input_format)
    columns = {"text_column": args.text_column or "text", "text_pair_column": args.text_pair_column or "text_pair",
               "keep_columns": args.keep_columns or ()}
    named = [o for o, v in (("--text-column", args.text_column), ("--text-pair-column", args.text_pair_column),
                            ("--keep-columns", args.keep_columns)) if v]
    reads = args.input or not texts
    if named and (not reads or fmt not in ("jsonl", "csv")):
        raise InputError(f"{named[0]} names a field of jsonl or csv input, but the texts are "
                         + (f"read as {fmt}" if reads else "given as arguments"))
    if texts and args.keep_columns:
        raise InputError("--keep-columns: texts given as arguments have no columns to keep; give every text in the input")
    clash = [c for c in args.keep_columns or () if c in OUTPUT_KEYS]
    if clash:
        raise InputError(f"--keep-columns {clash[0]!r}: an output line holds {clash[0]!r} already ({', '.join(OUTPUT_KEYS)})")
    given = [Example(i, text, None, {}) for i, text in enumerate(texts, start=1)]

    def records(stream, source: str) -> Iterator[Example]:
        for example in one_kind(read_examples(stream, source, fmt, **columns), source):
            if given and example.text_pair is not None:
                raise InputError("texts given as arguments are single texts, but the input holds sentence pairs; give them in one place")
            yield example

    def file_records(path: Path) -> Iterator[Example]:
        with open_data(path) as f:  # a .gz file is decompressed
            yield from records(f, str(path))

    if args.input and args.input != "-":
        path = input_file(args.input)
        if path.is_file():
            count = sum(1 for _ in file_records(path))  # the first reading: every record checked, nothing kept
            return chain(given, file_records(path)), len(given) + count
        return chain(given, file_records(path)), None  # a named pipe (--input <(zcat texts.gz)): read once
    if reads_standard_input(args, texts):
        return chain(given, records(sys.stdin.buffer, "<stdin>")), None
    return iter(given), len(given)


def check_swallowed_texts(args: PredictArguments) -> None:
    """Texts written after ``--tasks`` or ``--ensemble-with`` are read as task or model names (the
    options take several values): say so before any model loads.

    Raises:
        InputError: a ``--tasks`` value that cannot name a task, or an ``--ensemble-with`` value with
            spaces that names no path here.
    """
    from ..data.tasks import is_task_name

    checks = (("--tasks", args.tasks, "is not a task name", lambda v: not is_task_name(v)),
              ("--ensemble-with", args.ensemble_with, "names no model", lambda v: any(c.isspace() for c in v) and not Path(v).exists()))
    for option, values, what, swallowed in checks:
        text = next((v for v in values or [] if swallowed(v)), None)
        if text is not None:
            raise InputError(f"{option} {text!r} {what}: a text? {option} takes several values, so put texts before it or after '--' "
                             f"(mtl-text predict --model M {option} X -- \"some text\")")


def output_stream(args: PredictArguments) -> contextlib.AbstractContextManager[TextIO]:
    """Where the outputs go: standard output, or ``--output`` written atomically
    (:func:`~mtl_text.utils.files.atomic_open`; compressed where its name ends with ``.gz``).

    Raises:
        InputError: ``--output`` names a folder, or a file in a folder that does not exist.
    """
    path = output_file(args.output, "--output")
    return contextlib.nullcontext(sys.stdout) if path is None else atomic_open(path, compress=gzip_named(path))


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from ..utils.allocator import tune_malloc

    (args, selection), rest = build_parser(prog).parse(argv)
    from ..inference.ensemble import load_predictor

    texts = []
    for i, text in enumerate(rest.texts, start=1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
            raise InputError(f"text argument {i}: not valid UTF-8") from None
        texts.append(text)
    check_swallowed_texts(args)
    output = output_stream(args)  # a bad --output is named before the model loads
    tune_malloc()
    options = {"batch_size": args.batch_size, "device": args.device, "verify_hashes": args.verify_hashes,
               "max_batch_tokens": args.max_batch_tokens, "backend": args.backend, "token": args.token}
    predictor = load_predictor(args.model, args.ensemble_with, **options)
    predictor.check_tasks(args.tasks)  # before reading any input
    minimum = selection.min_confidences()
    if minimum is not None:
        predictor.check_min_confidence(minimum, args.tasks)
    examples, total = input_examples(args, texts)
    typed = reads_standard_input(args, texts) and sys.stdin.isatty()  # each line answered as it is typed
    from tqdm.auto import tqdm

    with output as stream, tqdm(total=total, desc="Predicting", unit="text", disable=True if typed else None, leave=False,
                                dynamic_ncols=True) as progress:
        # disable=None: no bar where standard error is not a terminal; none between typed lines either
        writer = PredictionWriter(stream, output_format(args.output, args.output_format))
        for chunk in chunked(examples, 1 if typed else CHUNK):
            pairs = [e.text_pair for e in chunk] if chunk[0].text_pair is not None else None
            for example, result in zip(chunk, predictor.predict([e.text for e in chunk], args.tasks, pairs, args.top_k,
                                                                                 minimum)):
                writer.write({**example.kept, **result})
            stream.flush()  # a chunk's results reach the next command in a pipeline before the next chunk is read
            progress.update(len(chunk))
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
