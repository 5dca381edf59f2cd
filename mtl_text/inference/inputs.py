"""Prediction input: texts from raw lines, in an explicit format.

* ``text``: one text a line, taken as it is (a line starting with ``{`` is text too). Blank lines are
  texts (empty ones), so output lines match input lines.
* ``jsonl``: JSON Lines, one object a line with a string ``text`` field; blank lines are skipped.

:func:`input_format` infers the format from a file name: ``.jsonl`` means JSON Lines, anything else
plain text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator

from ..errors import InputError

FORMATS = ("text", "jsonl")


def input_format(path: str | os.PathLike | None, chosen: str | None = None) -> str:
    """The format to read: ``chosen`` if given, else ``jsonl`` for a ``.jsonl`` file, else ``text``."""
    if chosen:
        return chosen
    return "jsonl" if path is not None and str(path).lower().endswith(".jsonl") else "text"


def read_texts(lines: Iterable[bytes], source: str, fmt: str = "text") -> Iterator[str]:
    """Texts from raw input lines.

    Args:
        lines: the raw lines (bytes, line ends included or not).
        source: what to name in errors (a path or ``<stdin>``).
        fmt: ``text`` or ``jsonl`` (see the module's text).

    Raises:
        InputError: a line that is not UTF-8; in ``jsonl``, invalid JSON or no string ``text`` field.
            The message names ``source`` and the line.
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
            yield line
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{source}, line {line_no}: invalid JSON ({e.msg}, column {e.colno}); "
                             "is this plain text? then use --input-format text") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f"{source}, line {line_no}: a JSON line needs a string field 'text'")
        yield obj["text"]
