"""Prediction input: texts (or sentence pairs) from raw lines, in an explicit format.

* ``text``: one text a line, taken as it is (a line starting with ``{`` is text too). Blank lines are
  texts (empty ones), so output lines match input lines.
* ``jsonl``: JSON Lines, one object a line with a string ``text`` field, and for pair tasks a string
  ``text_pair`` field; blank lines are skipped.
* ``tsv``: sentence pairs, one a line: the first text, a tab, the second text (no quoting; a text
  holding a tab cannot be given this way, use ``jsonl``).

:func:`input_format` infers the format from a file name: ``.jsonl`` means JSON Lines, ``.tsv`` pairs
in TSV, anything else plain text. One input holds single texts or pairs, not both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator

from ..errors import InputError

FORMATS = ("text", "jsonl", "tsv")


def input_format(path: str | os.PathLike | None, chosen: str | None = None) -> str:
    """The format to read: ``chosen`` if given, else ``jsonl`` for a ``.jsonl`` file, ``tsv`` for a
    ``.tsv`` file, else ``text``."""
    if chosen:
        return chosen
    suffix = str(path).lower().rsplit(".", 1)[-1] if path is not None else ""
    return {"jsonl": "jsonl", "tsv": "tsv"}.get(suffix, "text")


def read_examples(lines: Iterable[bytes], source: str, fmt: str = "text") -> Iterator[tuple[int, str, str | None]]:
    """``(line number, text, second text or None)`` from raw input lines.

    Args:
        lines: the raw lines (bytes, line ends included or not).
        source: what to name in errors (a path or ``<stdin>``).
        fmt: ``text``, ``jsonl`` or ``tsv`` (see the module's text).

    Raises:
        InputError: a line that is not UTF-8; in ``jsonl``, invalid JSON, no string ``text`` field or
            a ``text_pair`` that is not a string; in ``tsv``, a line without exactly one tab. The
            message names ``source`` and the line.
        ValueError: an unknown ``fmt``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {FORMATS}")
    for line_no, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{source}, line {line_no}: not valid UTF-8 (byte {raw[e.start:e.start + 1]!r} at column {e.start + 1})") from None
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
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f"{source}, line {line_no}: a JSON line needs a string field 'text'")
        if "text_pair" in obj and not isinstance(obj["text_pair"], str):
            raise InputError(f"{source}, line {line_no}: field 'text_pair' must be a string, found {type(obj['text_pair']).__name__}")
        yield line_no, obj["text"], obj.get("text_pair")


def read_texts(lines: Iterable[bytes], source: str, fmt: str = "text") -> tuple[list[str], list[str] | None]:
    """Every text of an input, and the second texts when it holds sentence pairs (else ``None``).

    Raises:
        InputError: as :func:`read_examples`; also an input that mixes single texts and pairs (the
            first line of the other kind is named).
    """
    texts, pairs, first_kind = [], [], None
    for line_no, text, pair in read_examples(lines, source, fmt):
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
