"""Prediction output: :meth:`~mtl_text.inference.prediction.Predictor.predict`'s results written as
JSON Lines (one object per text, as they are) or CSV (one row per text, one column per field), to
standard output or to a file.

A CSV row flattens a result as ``pandas.json_normalize`` does, joining names with dots: the kept
columns, ``text`` (and ``text_pair``), ``empty_text`` (``true``/``false``), then each head's fields,
``TASK.label`` and ``TASK.probabilities.LABEL`` for a single-label head (``TASK.abstain`` with a
minimum confidence), ``TASK.labels`` (the chosen labels joined by commas, as the readers take a
multi-label field) and ``TASK.probabilities.LABEL`` for a multi-label head, ``TASK.value`` (or
``TASK.values.TARGET``) for a regression head. The header is the first row's columns; every row has
the same ones, so ``--top-k`` (whose labels differ from row to row) is JSON Lines only.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import Any, TextIO

from ..data.labels import join_labels
from ..data.readers import format_suffix
from ..errors import InputError

OUTPUT_FORMATS = ("jsonl", "csv")


def output_format(path: str | None, chosen: str | None = None) -> str:
    """The format to write: ``chosen`` if given, else ``csv`` for a ``.csv`` (or ``.csv.gz``) file,
    else ``jsonl`` (standard output included)."""
    if chosen:
        return chosen
    return "csv" if format_suffix(path) == "csv" else "jsonl"


def _cell(value: Any) -> Any:
    """A CSV field: ``true``/``false`` for booleans (as JSON writes them), JSON text for a list or
    object (a kept field of JSON Lines input), the value itself otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


def flat_columns(result: Mapping[str, Any]) -> dict[str, Any]:
    """One result (kept fields, ``text``, ``text_pair``, ``predictions``, ``empty_text``) as one CSV
    row: column name -> field (see the module's text).

    Raises:
        InputError: a kept column named like a prediction column, or a multi-label prediction's
            label holding a comma.
    """
    row = {name: _cell(value) for name, value in result.items() if name not in ("predictions", "empty_text")}
    row["empty_text"] = _cell(bool(result.get("empty_text", False)))
    for task, output in result["predictions"].items():
        for name, value in output.items():
            try:
                columns = {f"{task}.{name}.{k}": _cell(v) for k, v in value.items()} if isinstance(value, dict) else \
                    {f"{task}.{name}": join_labels(value, f"{task}.{name}") if isinstance(value, list) else _cell(value)}
            except ValueError as e:
                raise InputError(str(e)) from None
            clash = next((c for c in columns if c in row), None)
            if clash is not None:
                raise InputError(f"kept column {clash!r} is also the name of a prediction column; rename it or write JSON Lines")
            row.update(columns)
    return row


class PredictionWriter:
    """Writes results to ``stream``, one line (JSON Lines) or row (CSV, after a header) each.

    Args:
        stream: a text stream (standard output, or a file opened with ``newline=""`` or ``"\\n"``).
        fmt: ``"jsonl"`` or ``"csv"``.

    Raises:
        ValueError: an unknown ``fmt``.
    """

    def __init__(self, stream: TextIO, fmt: str = "jsonl"):
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; expected one of {OUTPUT_FORMATS}")
        self.stream, self.fmt = stream, fmt
        self._csv: csv.DictWriter | None = None

    def write(self, result: Mapping[str, Any]) -> None:
        """Write one result.

        Raises:
            InputError: a CSV row whose columns are not the header's (see the module's text), or as
                :func:`flat_columns`.
        """
        if self.fmt == "jsonl":
            self.stream.write(json.dumps(result, ensure_ascii=False) + "\n")
            return
        row = flat_columns(result)
        if self._csv is None:
            self._csv = csv.DictWriter(self.stream, fieldnames=list(row), lineterminator="\n")
            self._csv.writeheader()
        elif list(row) != self._csv.fieldnames:
            raise InputError(f"a CSV row with the columns {list(row)} after the header {self._csv.fieldnames}: "
                             "every row must have the header's columns; write JSON Lines")
        self._csv.writerow(row)
