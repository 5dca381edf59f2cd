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

The ``jsonl`` field and ``csv`` column names can be chosen (``text_column``, ``text_pair_column``).
Input is UTF-8; a byte-order mark opening it (as spreadsheet programs write) is not part of the text.
:func:`input_format` infers the format from a file name: ``.jsonl`` means JSON Lines, ``.tsv`` pairs
in TSV, ``.csv`` CSV, anything else plain text. One input holds single texts or pairs, not both.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator

from ..data.readers import decoded_lines, long_csv_fields
from ..errors import InputError

FORMATS = ("text", "jsonl", "tsv", "csv")


def input_format(path: str | os.PathLike | None, chosen: str | None = None) -> str:
    """The format to read: ``chosen`` if given, else ``jsonl`` for a ``.jsonl`` file, ``tsv`` for a
    ``.tsv`` file, ``csv`` for a ``.csv`` file, else ``text``."""
    if chosen:
        return chosen
    suffix = str(path).lower().rsplit(".", 1)[-1] if path is not None else ""
    return {"jsonl": "jsonl", "tsv": "tsv", "csv": "csv"}.get(suffix, "text")


def _csv_examples(lines: Iterable[bytes], source: str, text_column: str, text_pair_column: str
                  ) -> Iterator[tuple[int, str, str | None]]:
    """``(first line of the record, text, second text or None)`` of each CSV record after the header."""
    reader = csv.reader(decoded_lines(lines, source, "UTF-8", InputError), strict=True)  # a quote left open or stray is an error, not glued text
    with long_csv_fields():  # a field may be longer than the csv module's default limit
        try:
            header = next(reader, None)
            if header is None:
                return
            names = [name.strip() for name in header]
            if text_column not in names:
                raise InputError(f"{source}, line 1: the CSV header has no column {text_column!r} (it names {names}); "
                                 "the first row must name the columns (--text-column chooses the text's)")
            text_at, pair_at = names.index(text_column), names.index(text_pair_column) if text_pair_column in names else None
            line_no = reader.line_num
            for row in reader:
                start, line_no = line_no + 1, reader.line_num
                if not row:  # a blank line
                    continue
                if len(row) != len(names):
                    raise InputError(f"{source}, line {start}: {len(row)} field(s), but the header names {len(names)}; "
                                     "a field holding a comma must be quoted")
                yield start, row[text_at], row[pair_at] if pair_at is not None else None
        except csv.Error as e:
            raise InputError(f"{source}, line {reader.line_num}: not valid CSV ({e})") from None


def read_examples(lines: Iterable[bytes], source: str, fmt: str = "text", text_column: str = "text",
                  text_pair_column: str = "text_pair") -> Iterator[tuple[int, str, str | None]]:
    """``(line number, text, second text or None)`` from raw input lines.

    Args:
        lines: the raw lines (bytes, line ends included or not; a CSV record's quoted line breaks
            need them).
        source: what to name in errors (a path or ``<stdin>``).
        fmt: ``text``, ``jsonl``, ``tsv`` or ``csv`` (see the module's text).
        text_column, text_pair_column: the ``jsonl`` fields or ``csv`` columns of the text and of a
            pair's second text.

    Raises:
        InputError: a line that is not UTF-8; in ``jsonl``, invalid JSON, no string text field or
            a second text that is not a string; in ``tsv``, a line without exactly one tab; in
            ``csv``, a header without the text column, a record with another number of fields than
            the header, or a quote left open. The message names ``source`` and the line (a CSV
            record's first line).
        ValueError: an unknown ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {FORMATS}")
    if fmt == "csv":
        yield from _csv_examples(lines, source, text_column, text_pair_column)
        return
    for line_no, line in enumerate(decoded_lines(lines, source, "UTF-8", InputError), start=1):
        line = line.rstrip("\r\n")
        if fmt == "text":
            yield line_no, line, None
            continue
        if not line.strip():
            continue
        if fmt == "tsv":
            fields = line.split("\t")
            if len(fields) != 2:
                raise InputError(f"{source}, line {line_no}: expected a sentence pair, two texts separated by one tab; found "
                                 f"{len(fields)} field(s)")
            yield line_no, fields[0], fields[1]
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
        yield line_no, obj[text_column], obj.get(text_pair_column)


def read_texts(lines: Iterable[bytes], source: str, fmt: str = "text", text_column: str = "text",
               text_pair_column: str = "text_pair") -> tuple[list[str], list[str] | None]:
    """Every text of an input, and the second texts when it holds sentence pairs (else ``None``);
    the arguments as :func:`read_examples`.

    Raises:
        InputError: as :func:`read_examples`; also an input that mixes single texts and pairs (the
            first line of the other kind is named).
    """
    texts, pairs, first_kind = [], [], None
    for line_no, text, pair in read_examples(lines, source, fmt, text_column, text_pair_column):
        kind = pair is not None
        if first_kind is None:
            first_kind = kind
        elif kind != first_kind:
            raise InputError(f"{source}, line {line_no}: " + ("a sentence pair among single texts" if kind else
                                                              "a single text among sentence pairs (no 'text_pair')")
                             + "; one input holds single texts or pairs, not both")
        texts.append(text)
        pairs.append(pair)
    return texts, (pairs if first_kind else None)
