"""``mtl-text predict`` / ``scripts/predict.py``: score text with a saved model; one JSON object per
text on standard output, with each head's output (for single-label tasks: the predicted label and
the probability of every label)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from ..arguments import Arguments, Range
from ..errors import InputError
from ..inference.inputs import input_format, read_texts
from .parsing import ArgumentParser


@dataclass
class PredictArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training"})
    input: str | None = field(default=None, metadata={
        "metavar": "FILE", "help": "file of texts ('-' for standard input); with no texts and no --input, standard input is read"})
    input_format: Literal["text", "jsonl"] | None = field(default=None, metadata={
        "help": "text: one text per line, taken as it is; jsonl: one JSON object per line with a 'text' field. Default: jsonl for "
                "a .jsonl file, text otherwise (standard input included)"})
    tasks: list[str] | None = field(default=None, metadata={
        "help": "heads to use (default: all of the model's tasks); put texts before this option, or after '--'"})
    batch_size: Annotated[int, Range(min=1)] = field(default=64, metadata={"help": "texts per encoder pass"})
    device: str = field(default="cpu", metadata={"help": "where the model runs: cpu, cuda, cuda:1, ..."})
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json (sizes are always checked); --no-verify-hashes skips "
                "it for very large models"})


def build_parser(prog: str | None = None) -> ArgumentParser:
    parser = ArgumentParser(PredictArguments, prog=prog, description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("texts", nargs="*", help="texts to score; with none and no --input, texts are read from standard input")
    return parser


def read_inputs(args: PredictArguments, texts: list[str]) -> list[str]:
    """The command-line texts, then those of ``--input`` (or standard input when neither is given).

    Raises:
        InputError: ``--input`` not found, or a bad line (named by file and line).
    """
    fmt = input_format(args.input, args.input_format)
    if args.input and args.input != "-":
        path = Path(args.input)
        if not path.is_file():
            raise InputError(f"--input: {path} not found")
        with open(path, "rb") as f:
            return texts + list(read_texts(f, str(path), fmt))
    if args.input == "-" or not texts:
        return texts + list(read_texts(sys.stdin.buffer, "<stdin>", fmt))
    return texts


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from ..inference.prediction import Predictor
    from ..utils.allocator import tune_malloc

    (args,), rest = build_parser(prog).parse(argv)
    texts = []
    for i, text in enumerate(rest.texts, start=1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates
            raise InputError(f"text argument {i}: not valid UTF-8") from None
        texts.append(text)
    tune_malloc()
    predictor = Predictor.from_pretrained(args.model, batch_size=args.batch_size, device=args.device,
                                          verify_hashes=args.verify_hashes)
    predictor.model.check_tasks(args.tasks)  # before reading any input
    for result in predictor.predict(read_inputs(args, texts), args.tasks):
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
