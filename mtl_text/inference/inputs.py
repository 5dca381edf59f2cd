"""Prediction input: texts (or sentence pairs) from raw lines, in an explicit format.

* ``text``: one text a line, taken as it is (a line starting with ``{`` is text too). Blank lines are
  texts (empty ones), so output lines match input lines.
* ``jsonl``: JSON Lines, one object a line with a string ``text`` field, and for pair tasks a string
  ``text_pair`` field; blank lines are skipped.
* ``tsv``: sentence pairs, one a line: the first text, a tab, the second text (no quoting; a text
  holding a tab cannot be given this way, use ``jsonl``).
* ``csv``: comma-separated values (RFC 4180, as Python's :mod:`csv` reads them: quoted fields may
  hold commas, quotes and line breaks) with a header row naming a ``text`` column, and for pair tasks
  a ``text_pair`` column; other columns (an id, a label) are ignored; blank lines are skipped.

The ``jsonl`` field and ``csv`` column names can be chosen (``text_column``, ``text_pair_column``),
and other fields or columns carried along with each text (``keep_columns``: an id, to join the
predictions back to their records).
Input is UTF-8; a byte-order mark opening it (as spreadsheet programs write) is not part of the text.
:func:`input_format` infers the format from a file name: ``.jsonl`` means JSON Lines, ``.tsv`` pairs
in TSV, ``.csv`` CSV, anything else plain text. One input holds single texts or pairs, not both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..data.readers import csv_records, decoded_lines, format_suffix
from ..errors import InputError

FORMATS = ("text", "jsonl", "tsv", "csv")


class Example(NamedTuple):
    """One input record: its (first) line, its text, a pair's second text (else ``None``), and the
    fields or columns kept from it (``keep_columns``; ``{}`` without)."""

    line: int
    text: str
    text_pair: str | None
    kept: dict[str, Any]


@dataclass
class Inputs:
    """An input's texts, in order; the second texts when it holds sentence pairs (else ``None``);
    each record's kept fields (``{}`` each without ``keep_columns``)."""

    texts: list[str] = field(default_factory=list)
    text_pairs: list[str] | None = None
    kept: list[dict[str, Any]] = field(default_factory=list)


def input_format(path: str | os.PathLike | None, chosen: str | None = None) -> str:
    """The format to read: ``chosen`` if given, else ``jsonl`` for a ``.jsonl`` file, ``tsv`` for a
    ``.tsv`` file, ``csv`` for a ``.csv`` file, else ``text``; a ``.gz`` ending is looked past
    (``texts.jsonl.gz`` is JSON Lines, :func:`~mtl_text.data.readers.open_data` decompresses it)."""
    if chosen:
        return chosen
    suffix = format_suffix(path)
    return suffix if suffix in ("jsonl", "tsv", "csv") else "text"


def _csv_examples(lines: Iterable[bytes], source: str, text_column: str, text_pair_column: str, keep_columns: Sequence[str]
                  ) -> Iterator[Example]:
    """Each CSV record after the header, named by its first line."""
    records = csv_records(lines, source, "UTF-8", InputError)
    first = next(records, None)
    if first is None:
        return
    _, names = first
    if text_column not in names:
        raise InputError(f"{source}, line 1: the CSV header has no column {text_column!r} (it names {names}); "
                         "the first row must name the columns (--text-column chooses the text's)")
    missing = [c for c in keep_columns if c not in names]
    if missing:
        raise InputError(f"{source}, line 1: the CSV header has no column(s) {missing} to keep (it names {names})")
    text_at, pair_at = names.index(text_column), names.index(text_pair_column) if text_pair_column in names else None
    keep_at = {c: names.index(c) for c in keep_columns}
    for line, row in records:
        yield Example(line, row[text_at], row[pair_at] if pair_at is not None else None, {c: row[i] for c, i in keep_at.items()})


def read_examples(lines: Iterable[bytes], source: str, fmt: str = "text", text_column: str = "text",
                  text_pair_column: str = "text_pair", keep_columns: Sequence[str] = ()) -> Iterator[Example]:
    """Each :class:`Example` (line number, text, second text or ``None``, kept fields) of raw input lines.

    Args:
        lines: the raw lines (bytes, line ends included or not; a CSV record's quoted line breaks
            need them).
        source: what to name in errors (a path or ``<stdin>``).
        fmt: ``text``, ``jsonl``, ``tsv`` or ``csv`` (see the module's text).
        text_column, text_pair_column: the ``jsonl`` fields or ``csv`` columns of the text and of a
            pair's second text.
        keep_columns: ``jsonl`` fields or ``csv`` columns to carry along (as the JSON values, or the
            CSV strings); every record must have them.

    Raises:
        InputError: a line that is not UTF-8; in ``jsonl``, invalid JSON, no string text field or
            a second text that is not a string; in ``tsv``, a line without exactly one tab; in
            ``csv``, a header without the text column, a record with another number of fields than
            the header, or a quote left open; a field or column to keep that a record lacks. The
            message names ``source`` and the line (a CSV record's first line).
        ValueError: an unknown ``fmt``, or ``keep_columns`` with ``text`` or ``tsv``, which have none.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {FORMATS}")
    if keep_columns and fmt not in ("jsonl", "csv"):
        raise ValueError(f"{fmt} input has no fields to keep; keep_columns needs jsonl or csv")
    if fmt == "csv":
        yield from _csv_examples(lines, source, text_column, text_pair_column, keep_columns)
        return
    for line_no, line in enumerate(decoded_lines(lines, source, "UTF-8", InputError), start=1):
        line = line.rstrip("\r\n")
        if fmt == "text":
            yield Example(line_no, line, None, {})
            continue
        if not line.strip():
            continue
        if fmt == "tsv":
            fields = line.split("\t")
            if len(fields) != 2:
                raise InputError(f"{source}, line {line_no}: expected a sentence pair, two texts separated by one tab; found "
                                 f"{len(fields)} field(s)")
            yield Example(line_no, fields[0], fields[1], {})
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{source}, line {line_no}: invalid JSON ({e.msg}, column {e.colno}); "
                             "is this plain text? then use --input-format text") from None
        if not isinstance(obj, dict) or not isinstance(obj.get(text_column), str):
            raise InputError(f"{source}, line {line_no}: a JSON line needs a string field {text_column!r}")
        if text_pair_column in obj and not isinstance(obj[text_pair_column], str):
            raise InputError(f"{source}, line {line_no}: field {text_pair_column!r} must be a string, found "
                             f"{type(obj[text_pair_column]).__name__}")
        missing = [c for c in keep_columns if c not in obj]
        if missing:
            raise InputError(f"{source}, line {line_no}: no field(s) {missing} to keep")
        yield Example(line_no, obj[text_column], obj.get(text_pair_column), {c: obj[c] for c in keep_columns})


def one_kind(examples: Iterable[Example], source: str) -> Iterator[Example]:
    """``examples`` as they come, checked to be all single texts or all sentence pairs (as the first).

    Raises:
        InputError: the first example of the other kind, named by ``source`` and line.
    """
    first_kind = None
    for example in examples:
        kind = example.text_pair is not None
        if first_kind is None:
            first_kind = kind
        elif kind != first_kind:
            raise InputError(f"{source}, line {example.line}: " + ("a sentence pair among single texts" if kind else
                                                                   "a single text among sentence pairs (no 'text_pair')")
                             + "; one input holds single texts or pairs, not both")
        yield example


def read_input(lines: Iterable[bytes], source: str, fmt: str = "text", text_column: str = "text",
               text_pair_column: str = "text_pair", keep_columns: Sequence[str] = ()) -> Inputs:
    """Every record of an input as :class:`Inputs`; the arguments as :func:`read_examples`.

    Raises:
        InputError: as :func:`read_examples`; also an input that mixes single texts and pairs
            (:func:`one_kind`).
        ValueError: as :func:`read_examples`.
    """
    examples = list(one_kind(read_examples(lines, source, fmt, text_column, text_pair_column, keep_columns), source))
    pairs = bool(examples) and examples[0].text_pair is not None
    return Inputs([e.text for e in examples], [e.text_pair for e in examples] if pairs else None, [e.kept for e in examples])


def read_texts(lines: Iterable[bytes], source: str, fmt: str = "text", text_column: str = "text",
               text_pair_column: str = "text_pair") -> tuple[list[str], list[str] | None]:
    """Every text of an input, and the second texts when it holds sentence pairs (else ``None``);
    :func:`read_input` without kept fields.

    Raises:
        InputError: as :func:`read_input`.
    """
    inputs = read_input(lines, source, fmt, text_column, text_pair_column)
    return inputs.texts, inputs.text_pairs
