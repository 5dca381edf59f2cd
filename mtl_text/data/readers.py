"""Readers for labelled text files: CSV, TSV and JSON Lines.

Each reader returns a column dictionary ``{"text": [...], "label": [...], "source": path, "lines": [...]}``
that a task's loader can hand back as one split (``source`` and each row's line number name the
place of a later error, e.g. a label the task's head rejects); with ``text_pair_field`` it also has
``"text_pair"``, the second text of a sentence-pair task. Readers never alter text and never drop a
row silently:

* a malformed row (wrong number of fields, invalid JSON, missing field, unknown label, a pair row
  whose second text is missing or empty) raises :class:`DataFormatError` naming the file and the line;
* a row whose (first) text is empty or whitespace only is skipped, and the number of skipped rows and
  their line numbers are logged as a warning (an empty text carries no signal to learn from).

A file whose name ends with ``.gz`` is read through :mod:`gzip` (:func:`open_data`): ``train.csv.gz``
is a compressed CSV file.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import itertools
import json
import logging
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import DataFormatError, DataNotFoundError
from .labels import label_id, label_list

logger = logging.getLogger(__name__)


def _label(value, labels: Sequence[str] | None, where: str, multi_label: bool = False):
    """``value`` as a label id when the task's ``labels`` are given, else unchanged; with
    ``multi_label``, a comma-separated string (or list) of labels as a list of ids."""
    if multi_label:
        return [_label(v, labels, where) for v in label_list(value, where)]
    return value if labels is None else label_id(value, labels, where)

PathLike = str | os.PathLike


def missing_data_error(task: str, expected: Sequence[PathLike], how_to_get: str, cause: BaseException | None = None):
    """Build the error raised when a task's data is neither on disk nor downloadable.

    Args:
        task: the task's name.
        expected: the local files that were looked for.
        how_to_get: one sentence on how to obtain the files.
        cause: the exception raised by the download attempt, if any.
    """
    where = "\n".join(f"  - {p}" for p in expected) or "  (no data folder given)"
    msg = (
        f"data for task '{task}' not found. Expected these files:\n{where}\n"
        f"Point --data-dir (or the MTL_TEXT_DATA_DIR environment variable) at the folder that holds them. "
        f"{how_to_get}"
    )
    if cause is not None:
        msg += f"\nThe download attempt failed with: {type(cause).__name__}: {cause}"
    return DataNotFoundError(msg)


class _Collector:
    """Accumulates rows, skipping (and remembering) empty texts."""

    def __init__(self, path: PathLike, pairs: bool = False):
        self.path = path
        self.texts: list[str] = []
        self.pairs: list[str] | None = [] if pairs else None
        self.labels: list = []
        self.lines: list[int] = []
        self.skipped_lines: list[int] = []

    def add(self, text: str, label, line: int, text_pair: str | None = None) -> None:
        if self.pairs is not None and not (text_pair or "").strip():
            raise DataFormatError(f"{self.path}, line {line}: the second text (text_pair) is missing or empty; every row of a "
                                  "sentence-pair task needs both texts")
        if not text.strip():
            self.skipped_lines.append(line)
            return
        self.texts.append(text)
        if self.pairs is not None:
            self.pairs.append(text_pair)
        self.labels.append(label)
        self.lines.append(line)

    def result(self) -> dict[str, list]:
        if self.skipped_lines:
            shown = ", ".join(map(str, self.skipped_lines[:10])) + (" ..." if len(self.skipped_lines) > 10 else "")
            logger.warning(
                "%s: skipped %d row(s) with empty text (lines %s)", self.path, len(self.skipped_lines), shown
            )
        pairs = {} if self.pairs is None else {"text_pair": self.pairs}
        return {"text": self.texts, **pairs, "label": self.labels, "source": str(self.path), "lines": self.lines}


@dataclass(frozen=True)
class HubDataset:
    """A task's data as a Hugging Face Hub dataset: where a built-in task downloads it from when its
    files are not on disk, and what a model card names as the data of the task's test results (the
    Hub then lists the model under the dataset and shows the results against it).

    Attributes:
        path: the dataset's Hub id (``"nyu-mll/glue"``), or a local dataset folder as
            ``datasets.load_dataset`` reads one (parquet, CSV or JSON files).
        name: its configuration (``"sst2"``), or ``None``.
        splits: the task's split -> the dataset's (``{"train": "train", "test": "validation"}``: GLUE's
            test labels are hidden, so the task's test split is GLUE's validation split).
        columns: the task's column -> the dataset's (``{"text": "sentence", "label": "label"}``);
            empty when the task reads the dataset with its own code (then :meth:`read` is not used).
        revision: the dataset repository's branch, tag or commit (default: ``main``); pinning a
            commit keeps a task's data from changing under it.

    Raises:
        ValueError: an empty ``path``, or ``splits`` without ``"test"``.
    """

    path: str
    name: str | None = None
    splits: Mapping[str, str] = field(default_factory=lambda: {"train": "train", "test": "test"})
    columns: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None

    def __post_init__(self):
        if not self.path or not isinstance(self.path, str):
            raise ValueError(f"HubDataset: path must be a Hub dataset id such as 'nyu-mll/glue' (or a dataset folder), got {self.path!r}")
        if "test" not in self.splits:
            raise ValueError(f"HubDataset {self.path}: splits must map 'test' to one of the dataset's splits, got {dict(self.splits)}")

    @property
    def test_split(self) -> str:
        """The dataset's split that the task's test split is."""
        return self.splits["test"]

    def test_reference(self) -> dict[str, str]:
        """The dataset and split that the task's test split is, as training records it beside the
        test results (``test_results.json``'s ``datasets``) for the model card:
        ``{"path": ..., "name": ..., "split": ..., "revision": ...}`` (``name`` and ``revision``
        only where there is one)."""
        return {"path": self.path, **({"name": self.name} if self.name else {}), "split": self.test_split,
                **({"revision": self.revision} if self.revision else {})}

    def read(self) -> dict[str, dict]:
        """The splits as column dictionaries (:func:`read_hub_dataset`).

        Raises:
            ValueError: no ``columns`` to read.
        """
        if not self.columns:
            raise ValueError(f"HubDataset {self.path}: no columns given, so it cannot be read as the task's columns")
        return read_hub_dataset(self.path, self.name, self.splits, self.columns, self.revision)


def read_hub_dataset(path: str, name: str | None, splits: Mapping[str, str], columns: Mapping[str, str],
                     revision: str | None = None) -> dict[str, dict]:
    """Splits of a Hugging Face Hub dataset as column dictionaries, through ``datasets.load_dataset``:
    the download path of the built-in tasks when their files are not on disk.

    A column of class ids (a ``datasets.ClassLabel``, or a sequence of them for multi-label data)
    is read as the class names, so that the task maps each name to its own label id: a dataset
    whose classes come in another order than the task's labels is not mislabelled, and a name the
    task does not have is an error naming the example.

    Args:
        path, name: the dataset and its configuration (``"nyu-mll/glue"``, ``"mrpc"``).
        splits: our split -> the dataset's (``{"train": "train", "test": "validation"}``).
        columns: our column -> the dataset's (``{"text": "sentence1", "text_pair": "sentence2", "label": "label"}``).
        revision: the dataset's branch, tag or commit (default: ``main``).

    Raises:
        DataFormatError: the dataset has no such split or column (naming those it has).
        whatever ``datasets`` raises when the download fails (the caller turns it into
        :class:`DataNotFoundError`, e.g. with :func:`missing_data_error`).
    """
    import datasets

    data = datasets.load_dataset(path, name, **({"revision": revision} if revision else {}))
    where = f"dataset {path}" + (f" ({name})" if name else "")  # a Hub id, or a local dataset folder
    for theirs in splits.values():
        if theirs not in data:
            raise DataFormatError(f"{where}: no split {theirs!r}; it has {sorted(data)}")
        missing = sorted(set(columns.values()) - set(data[theirs].column_names))
        if missing:
            raise DataFormatError(f"{where}, split {theirs!r}: no column(s) {missing}; it has {data[theirs].column_names}")
    return {ours: {column: _class_names(data[theirs], source) for column, source in columns.items()} for ours, theirs in splits.items()}


def _class_names(dataset, column: str) -> list:
    """A column of ``dataset`` as a list; class ids (``ClassLabel``, or a sequence of them) as their names."""
    import datasets

    values = dataset[column][:]
    feature = dataset.features[column]
    if isinstance(feature, datasets.ClassLabel):
        return [feature.int2str(v) if v is not None and v >= 0 else v for v in values]  # -1, None: no label (left for the task to refuse)
    inner = getattr(feature, "feature", None)  # datasets.Sequence / List of ClassLabel: multi-label
    if isinstance(inner, datasets.ClassLabel):
        return [[inner.int2str(v) for v in row] for row in values]
    return values


def read_local_or_hub(task: str, data_dir: Path | None, files: Mapping[str, str], read, hub: HubDataset | tuple,
                      how_to_get: str) -> dict[str, dict]:
    """A built-in task's splits: its local files when all are there, else the Hugging Face Hub.

    Args:
        task: the task's name (for the error).
        data_dir: the data folder, or ``None``.
        files: split -> file path relative to ``data_dir``.
        read: reads one local file into a column dictionary (e.g. a :func:`read_tsv` call).
        hub: the :class:`HubDataset` to download (or the arguments of :func:`read_hub_dataset`:
            ``path, name, splits, columns``).
        how_to_get: one sentence on how to obtain the files, for the error.

    Raises:
        DataNotFoundError: the files are missing and the download fails too
            (:func:`missing_data_error`, naming the files looked for and the download's error).
        DataFormatError: a local file is malformed (from ``read``), or the downloaded dataset lacks a
            split or column ``hub`` names.
    """
    paths = {split: data_dir / name for split, name in files.items()} if data_dir else {}
    if paths and all(p.is_file() for p in paths.values()):
        return {split: read(p) for split, p in paths.items()}
    try:
        return (hub if isinstance(hub, HubDataset) else HubDataset(*hub)).read()
    except DataFormatError:  # downloaded, but without a split or column the task names
        raise
    except Exception as e:
        raise missing_data_error(task, list(paths.values()), how_to_get, e) from e


def read_sha256_manifest(path: PathLike) -> dict[str, str]:
    """A ``sha256sum`` listing (``<64 hex>  <name>`` per line) as name -> hex digest.

    Raises:
        DataFormatError: a line of another form (named by file and line).
    """
    manifest = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            digest, sep, name = line.rstrip("\n").partition("  ")
            if not line.strip():
                continue
            if not sep or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not name:
                raise DataFormatError(f"{path}, line {line_no}: expected '<sha256 hex>  <file name>'")
            manifest[name] = digest
    return manifest


def open_data(path: PathLike) -> BinaryIO:
    """A data or input file opened for reading bytes; one whose name ends with ``.gz`` is read through
    :mod:`gzip` (``reviews.csv.gz``: CSV, compressed). A damaged compressed file is reported by
    :func:`decoded_lines` as it reads.

    Raises:
        FileNotFoundError, OSError: as :func:`open`.
    """
    return gzip.open(path, "rb") if gzip_named(path) else open(path, "rb")


def gzip_named(path: PathLike) -> bool:
    """Whether the file's name says gzip: it ends with ``.gz`` (any case)."""
    return Path(path).name.lower().endswith(".gz")


def _name_and_format(path: PathLike) -> tuple[str, str]:
    """A file's name without its format ending, and that ending (lower-case, no dot; ``""`` for none),
    past a ``.gz``: ``("reviews", "csv")`` for ``reviews.CSV.gz``."""
    name = Path(path).name
    name = name[:-3] if gzip_named(path) else name
    stem, dot, suffix = name.rpartition(".")
    return (stem, suffix.lower()) if dot else (name, "")


def format_suffix(path: PathLike | None) -> str:
    """The ending that names a file's format, lower-case and without its dot, past a ``.gz``:
    ``csv`` for ``reviews.CSV.gz``; ``""`` for none."""
    return "" if path is None else _name_and_format(path)[1]


def format_stem(path: PathLike) -> str:
    """A file's name without its format ending and a ``.gz``: ``reviews`` for ``reviews.csv.gz``."""
    return _name_and_format(path)[0]


def decoded_lines(lines: Iterable[bytes], source: str | os.PathLike, encoding: str = "utf-8",
                  error: type[Exception] = DataFormatError) -> Iterator[str]:
    """Raw lines (a binary file, standard input's buffer) decoded one by one, line ends kept, so
    that a byte sequence that is not valid in ``encoding`` is reported at its own line (a text-mode
    file decodes blocks of several lines). A UTF-8 byte-order mark opening the first line (as
    spreadsheet programs write) is not part of the text, as with Python's ``utf-8-sig`` codec.

    Raises:
        error: a line that is not valid ``encoding``, named by ``source``, line and column; a
            compressed file (:func:`open_data`) that is damaged or cut short, named by the line
            where reading failed.
    """
    utf8 = codecs.lookup(encoding).name == "utf-8"
    lines = iter(lines)
    for line_no in itertools.count(1):
        try:
            raw = next(lines)
        except StopIteration:
            return
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a compressed file (open_data) that is damaged or cut short
            raise error(f"{source}, line {line_no}: the compressed file is damaged or truncated ({type(e).__name__}: {e})") from None
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise error(f"{source}, line {line_no}: not valid {encoding} (byte {raw[e.start:e.start + 1]!r} at column "
                        f"{e.start + 1})") from None
        yield line[1:] if line_no == 1 and utf8 and line.startswith("\ufeff") else line


CSV_FIELD_LIMIT = 2**31 - 1  # characters; the csv module's default, 131,072, is below 20 Newsgroups' longest post (160,616)


@contextlib.contextmanager
def long_csv_fields() -> Iterator[None]:
    """Let the :mod:`csv` module read fields of up to :data:`CSV_FIELD_LIMIT` characters within the
    block (its default limit, 131,072, is process-wide; the previous limit is restored after)."""
    previous = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


_SEPARATOR_NAMES = {",": "a comma", "\t": "a tab", ";": "a semicolon", "|": "a bar"}


def csv_records(lines: Iterable[bytes], source: str | os.PathLike, encoding: str = "utf-8",
                error: type[Exception] = DataFormatError, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL,
                header: bool = True) -> Iterator[tuple[int, list[str]]]:
    """Each record of delimited text (CSV, TSV) as its first line and its fields, read lazily by
    :mod:`csv` in strict mode, blank lines skipped. The first record is the header where there is one
    (its names stripped of surrounding spaces); it sets the number of fields every later record
    must have. A quoted field may hold the separator, quotes and line breaks, and is as long as
    :func:`long_csv_fields` allows.

    Strict mode makes a quote left open or stray an error, where :mod:`csv`'s default would glue
    the records that follow into one field (the ``"a great film,1`` of a spreadsheet), losing them.

    Raises:
        error: a line that is not valid ``encoding``; text that is not valid CSV (named by the
            record's first line, and the line where the fault was found when the record runs on);
            a record with another number of fields than the first. Each names ``source`` and line.
    """
    reader = csv.reader(decoded_lines(lines, source, encoding, error), delimiter=delimiter, quoting=quoting, strict=True)
    width = None
    with long_csv_fields():
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                runs_on = f"; the record runs on to line {reader.line_num}: is a quote left open?" if reader.line_num > start else ""
                raise error(f"{source}, line {start}: not valid CSV ({e}{runs_on})") from None
            line, start = start, reader.line_num + 1
            if not row:  # a blank line between records is not a record
                continue
            if width is None:
                width = len(row)
                yield line, [name.strip() for name in row] if header else row
                continue
            if len(row) != width:
                hint = (f"; a field holding {_SEPARATOR_NAMES.get(delimiter, repr(delimiter))} must be quoted"
                        if quoting != csv.QUOTE_NONE else "")
                raise error(f"{source}, line {line}: {len(row)} field(s), but the {'header names' if header else 'first record has'} "
                            f"{width}{hint}")
            yield line, row


def read_csv(
    path: PathLike,
    text_field: str | int = "text",
    label_field: str | int = "label",
    labels: Sequence[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    quoting: int = csv.QUOTE_MINIMAL,
    header: bool = True,
    multi_label: bool = False,
    text_pair_field: str | int | None = None,
) -> dict[str, list]:
    """Read a delimited file, with a header row (or without: ``header=False``).

    Args:
        path: the file.
        text_field, label_field: column names in the header (surrounding spaces are ignored); with
            ``header=False``, column indices (every row must have as many fields as the first).
        labels: the task's label names; when given, each label (a name or an integer id) is mapped
            to its id and an unknown one raises.
        delimiter: the field separator.
        encoding: the file's text encoding.
        quoting: a :mod:`csv` quoting constant (``csv.QUOTE_NONE`` for GLUE-style TSV).
        header: whether the first row names the columns.
        multi_label: each label field holds several labels separated by commas (``"3,27"``),
            returned as a list of ids.
        text_pair_field: the column of the second text of a sentence-pair task (name or index).

    Returns:
        ``{"text": list[str], "label": list[int | str], "source": str, "lines": list[int]}``, plus
        ``"text_pair": list[str]`` with ``text_pair_field``.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: an empty file, a missing column, a row with the wrong number of fields, text
            that is not in ``encoding`` or not valid CSV (a quote left open or stray: :func:`csv_records`),
            an unknown label, or an empty second text; the message names the file and the record's
            first line.
    """
    path = Path(path)
    out = _Collector(path, pairs=text_pair_field is not None)
    fields = [text_field, label_field] + ([text_pair_field] if text_pair_field is not None else [])
    with open_data(path) as f:
        records = csv_records(f, path, encoding, DataFormatError, delimiter, quoting, header)
        first = next(records, None)
        if first is None:
            raise DataFormatError(f"{path}: the file is empty; expected " + ("a header row" if header else "records"))
        line, row = first
        if header:
            missing = [c for c in fields if c not in row]
            if missing:
                raise DataFormatError(f"{path}, line {line}: header {row} lacks the column(s) {missing}")
            columns = [row.index(c) for c in fields]
        else:
            columns = [int(c) for c in fields]
            beyond = [c for c in columns if not 0 <= c < len(row)]
            if beyond:
                raise DataFormatError(f"{path}, line {line}: no field {beyond[0]}; the records have {len(row)} (fields count from 0)")
            records = itertools.chain([first], records)
        ti, li = columns[:2]
        for line, row in records:
            pair = row[columns[2]] if text_pair_field is not None else None
            out.add(row[ti], _label(row[li], labels, f"{path}, line {line}", multi_label), line, pair)
    return out.result()


def read_tsv(path: PathLike, text_field: str | int = "text", label_field: str | int = "label", labels=None, **kwargs) -> dict[str, list]:
    """Read a tab-separated file with a header row and no quoting (the GLUE convention).

    Same arguments, return value and errors as :func:`read_csv`.
    """
    kwargs.setdefault("quoting", csv.QUOTE_NONE)
    return read_csv(path, text_field, label_field, labels, delimiter="\t", **kwargs)


def read_jsonl(
    path: PathLike,
    text_field: str = "text",
    label_field: str = "label",
    labels: Sequence[str] | None = None,
    encoding: str = "utf-8",
    text_pair_field: str | None = None,
    multi_label: bool = False,
) -> dict[str, list]:
    """Read a JSON Lines file: one object per line with a text and a label field (and, for a
    sentence-pair task, ``text_pair_field``: e.g. ``{"text": ..., "text_pair": ..., "label": ...}``).

    Blank lines are ignored. With ``multi_label``, each label field is a list of labels (or one
    comma-separated string of them). Same return value as :func:`read_csv`.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: invalid JSON, a line that is not an object, a missing or non-string text
            field, a missing or unknown label, a missing or empty second text; the message names the
            file and line.
    """
    path = Path(path)
    out = _Collector(path, pairs=text_pair_field is not None)
    with open_data(path) as f:
        for line_no, line in enumerate(decoded_lines(f, path, encoding), start=1):
            where = f"{path}, line {line_no}"
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(f"{where}: invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(obj, dict):
                raise DataFormatError(f"{where}: expected a JSON object, found {type(obj).__name__}")
            for field in (text_field, label_field):
                if field not in obj:
                    raise DataFormatError(f"{where}: missing field '{field}' (fields present: {sorted(obj)})")
            for field in (text_field, text_pair_field):
                if field is not None and field in obj and not isinstance(obj[field], str):
                    raise DataFormatError(f"{where}: field '{field}' must be a string, found {type(obj[field]).__name__}")
            pair = obj.get(text_pair_field) if text_pair_field is not None else None
            out.add(obj[text_field], _label(obj[label_field], labels, where, multi_label), line_no, pair)
    return out.result()


LABELLED_FORMATS = ("csv", "tsv", "jsonl")


def read_labelled(path: PathLike, fmt: str | None = None, text_field: str = "text", label_field: str = "label",
                  text_pair_field: str | None = None) -> dict[str, list]:
    """A labelled file in the format its name ends with (``.csv``, ``.tsv``, ``.jsonl``) or ``fmt``:
    :func:`read_csv`, :func:`read_tsv` (a header row, GLUE's convention) or :func:`read_jsonl`, by
    column (field) names. The labels are left raw (names, ids, numbers, lists): the task's head
    type encodes them.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: a format that is neither chosen nor shown by the name, or as the reader.
    """
    path = Path(path)
    fmt = fmt or format_suffix(path)
    if fmt not in LABELLED_FORMATS:
        raise DataFormatError(f"{path}: a labelled file is read as {', '.join(LABELLED_FORMATS)}; its name ends with none of them, "
                              "so choose the format")
    if fmt == "jsonl":
        return read_jsonl(path, text_field, label_field, text_pair_field=text_pair_field)
    return (read_csv if fmt == "csv" else read_tsv)(path, text_field, label_field, text_pair_field=text_pair_field)

