"""Tasks: a small declarative description of a classification data set, and the registry of them.

A task is a :class:`Task` object registered with :func:`register_task`. The built-in tasks live in
the repository's ``tasks/`` folder (installed as ``mtl_text.builtin_tasks``); a user's own task is
one Python file that calls :func:`register_task`, loaded with :func:`load_task_file` (the training
script's ``--task-file``). Example, a whole task file::

    from mtl_text import Task, register_task, read_jsonl

    def load(data_dir):
        return {
            "train": read_jsonl(data_dir / "reviews" / "train.jsonl", labels=LABELS),
            "test": read_jsonl(data_dir / "reviews" / "test.jsonl", labels=LABELS),
        }

    LABELS = ["negative", "positive"]
    register_task(Task(name="reviews", labels=LABELS, load=load, max_length=256))
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, DataNotFoundError, TaskFileError, UnknownTaskError
from .readers import HubDataset

logger = logging.getLogger(__name__)

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class Task:
    """A text task (classification or regression, of single texts or pairs): a small declarative object.

    Attributes:
        name: the name used on the command line and as the head's name (letters, digits, ``_``,
            ``-``).
        labels: the label names; label id ``i`` is ``labels[i]``. For a regression task, the names of
            its real-valued targets (e.g. ``("similarity",)``): one output each.
        load: ``load(data_dir) -> splits``. ``data_dir`` is a :class:`pathlib.Path` (the folder given
            by ``--data-dir`` or ``MTL_TEXT_DATA_DIR``) or ``None``. ``splits`` maps ``"train"``,
            ``"test"`` and optionally ``"validation"`` to a column dictionary
            ``{"text": [...], "label": [...]}`` (plus ``"text_pair"`` for a pair task) or a
            :class:`datasets.Dataset` with those columns; labels are ids or label names (a list of
            them per text for multi-label tasks; a number, or one per target, for regression). The loader reads local files first and falls back to the
            real download source; if both fail it raises :class:`~mtl_text.errors.DataNotFoundError`.
            Default, with a ``hub_dataset`` that names its ``columns``: read that dataset
            (:meth:`~mtl_text.data.readers.HubDataset.read`), so a task of a Hub dataset is one call::

                register_task(Task(name="imdb", labels=("neg", "pos"), hub_dataset=HubDataset(
                    "stanfordnlp/imdb", columns={"text": "text", "label": "label"})))
        max_length: the maximum number of tokens per example for this task (both texts of a pair
            together, special tokens included); a longer text keeps its first ``max_length`` tokens,
            and a longer pair loses tokens from the end of the longer of its two texts, one at a
            time (the ``longest_first`` rule of Hugging Face tokenizers).
        pooling: how this task pools the shared encoder's token vectors by default (a mode of
            :class:`mtl_text.modeling.pooling.Pooling`): ``mean`` suits sentences; ``attention`` suits long
            documents, where most words say nothing about the label. Used with word-vector encoders;
            a transformer's contextual token vectors pool by ``mean`` unless ``--pooling`` says
            otherwise. ``--pooling`` overrides it.
        problem_type: the kind of head, named as transformers names problem types; the head type
            registered under this name (:func:`mtl_text.modeling.heads.register_head_type`) owns
            the loss, the decoding of logits and the metrics. Built in:
            ``single_label_classification``, ``multi_label_classification``, ``regression``.
        text_pair: the examples are pairs of texts (paraphrase, entailment, similarity): the loader
            gives a second column ``text_pair``. A transformer reads the pair as one sequence the
            way its tokenizer joins two texts (separator, segment ids); a word-vector encoder pools
            each text alone and the head reads ``[u, v, |u - v|, u * v]`` (InferSent, Conneau et
            al. 2017; Sentence-BERT, Reimers & Gurevych 2019).
        description: one line shown by ``--list-tasks``.
        class_weights: weights of the single-label loss per label: ``"balanced"`` (``n / (num_labels
            * count_i)`` on the training split) or one number per label; ``None``: unweighted.
            ``--class-weights`` overrides it.
        primary_metric: the metric model selection and early stopping use for this task, one of its
            head's metrics where higher is better (``None``: the head type's primary, accuracy for
            single-label classification); CoLA uses ``matthews_corrcoef``, GLUE's metric for it.
        num_examples: the published size of each split the loader returns (e.g.
            ``{"train": 67349, "test": 872}``), where known. A split loaded with another number of
            examples is an error naming its source: a damaged or incomplete file is never used
            silently.
        validation_groups: ``validation_groups(texts) -> group ids``, one per training text: when
            the validation split (or a cross-validation fold) is carved out of ``train``, a group's
            texts fall on one side, so validation does not score texts that training has seen in
            part. SST-2 uses :func:`mtl_text.data.splits.phrase_groups` (a sentence with its
            phrases). ``None``: examples are drawn one by one.
        wide_svm: with a wide part (``--wide-buckets``; the default with word vectors), fit a linear
            SVM on its features after training and add it to the wide part (``--wide-svm``, which
            overrides this). Suits long documents whose label shows in exact words and word pairs
            (20 Newsgroups: +2.5 points of accuracy over the wide part alone); not short texts
            whose validation split says little about the test texts (SST-2's phrases: about −1
            point). Classification tasks only.
        wide: with a wide part (``--wide-buckets``; the default with word vectors), give this task
            one (``--wide-tasks``, which overrides this). ``False`` for a task that the wide part
            hurts: GoEmotions alone, 0.055 macro-F1 lower with it (three seeds, docs/tasks.md).
        calibrate: after training, fit the head's temperature on the validation split
            (temperature scaling; ``--calibrate``, which overrides this): for a task whose
            probabilities come out over-confident (20 Newsgroups with its SVM: test ECE 0.10 to 0.03
            in three seeds). Classification tasks only.
        hub_dataset: the task's data as a Hugging Face Hub dataset
            (:class:`~mtl_text.data.readers.HubDataset`), where it is one: the model card names it as
            the data of the task's test results (``datasets`` and ``model-index``, with the Hub's
            split that the task's test split is), so the Hub lists the model under the dataset. The
            built-in GLUE tasks, TREC and GoEmotions declare theirs and download from it; ``None``:
            the card names the task alone.

    Raises:
        ValueError: a malformed name, too few labels for the problem type (2 for classification, 1
            for regression) or duplicate ones, ``max_length < 1``, an
            unknown pooling or problem type, ``wide_svm`` or ``calibrate`` for a regression task, a ``hub_dataset``
            that is not a :class:`~mtl_text.data.readers.HubDataset`, no ``load`` and no
            ``hub_dataset`` with ``text`` and ``label`` columns to read.
    """

    name: str
    labels: Sequence[str]
    load: Callable[[Path | None], Mapping] | None = None
    max_length: int = 128
    pooling: str = "mean"
    problem_type: str = SINGLE_LABEL
    description: str = ""
    num_examples: Mapping[str, int] | None = None
    class_weights: str | Sequence[float] | None = None
    text_pair: bool = False
    primary_metric: str | None = None
    validation_groups: Callable[[list[str]], Sequence] | None = None
    wide_svm: bool = False
    calibrate: bool = False
    wide: bool = True
    hub_dataset: HubDataset | None = None

    def __post_init__(self):
        if not is_task_name(self.name):
            raise ValueError(f"task name {self.name!r} must be non-empty and use only letters, digits, '_', '-'")
        from ..modeling.heads import HEAD_TYPES  # torch only when a task is built, not at package import
        from ..modeling.pooling import POOLING_MODES

        if self.problem_type not in HEAD_TYPES:
            raise ValueError(f"task '{self.name}': unknown problem_type {self.problem_type!r}; expected one of {sorted(HEAD_TYPES)}")
        min_labels = HEAD_TYPES[self.problem_type].min_labels
        if len(self.labels) < min_labels:
            raise ValueError(f"task '{self.name}': a {self.problem_type} task needs at least {min_labels} label(s), got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"task '{self.name}': label names must be unique, got {list(self.labels)}")
        if self.max_length < 1:
            raise ValueError(f"task '{self.name}': max_length must be >= 1, got {self.max_length}")
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"task '{self.name}': unknown pooling {self.pooling!r}; expected one of {POOLING_MODES}")
        if self.class_weights is not None and self.class_weights != "balanced" and (
                isinstance(self.class_weights, str) or len(self.class_weights) != len(self.labels)):
            raise ValueError(f"task '{self.name}': class_weights must be 'balanced' or one number per label, got {self.class_weights!r}")
        if self.wide_svm and self.problem_type == REGRESSION:
            raise ValueError(f"task '{self.name}': wide_svm fits a linear SVM classifier; a {REGRESSION} task cannot have it")
        if self.calibrate and self.problem_type == REGRESSION:
            raise ValueError(f"task '{self.name}': calibrate fits a temperature to probabilities; a {REGRESSION} task has none")
        if self.hub_dataset is not None and not isinstance(self.hub_dataset, HubDataset):
            raise ValueError(f"task '{self.name}': hub_dataset must be a mtl_text.HubDataset, got {self.hub_dataset!r}")
        if self.load is None:
            needed = {"text", "label", *(("text_pair",) if self.text_pair else ())}
            if self.hub_dataset is None or not needed <= set(self.hub_dataset.columns):
                raise ValueError(f"task '{self.name}': give load=, or a hub_dataset whose columns map {sorted(needed)} to the "
                                 "dataset's columns")
            object.__setattr__(self, "load", functools.partial(_read_hub_dataset, self.name, self.hub_dataset))
        object.__setattr__(self, "labels", tuple(self.labels))
        self.metric_names  # noqa: B018 -- a primary metric the head does not report fails here

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics this task's head reports, its primary metric first.

        Raises:
            ValueError: a ``primary_metric`` the head does not report, or one where lower is better.
        """
        from ..modeling.heads import HEAD_TYPES, ordered_metrics

        try:
            return ordered_metrics(HEAD_TYPES[self.problem_type].task_metric_names(self.labels), self.primary_metric)
        except ValueError as e:
            raise ValueError(f"task '{self.name}': {e}") from None


def is_task_name(name: str) -> bool:
    """Whether ``name`` can name a task: non-empty, letters, digits, ``_`` and ``-`` only."""
    return bool(name) and all(c.isalnum() or c in "_-" for c in name)


def _read_hub_dataset(task: str, hub: HubDataset, data_dir: Path | None) -> dict[str, dict]:
    """The default loader of a task with a ``hub_dataset`` and no ``load``: the dataset's splits
    (``data_dir`` is not used; ``datasets`` keeps its own cache).

    Raises:
        DataNotFoundError: the download failed (its error is named).
        DataFormatError: the dataset lacks a split or column the task names.
    """
    try:
        return hub.read()
    except DataError:
        raise
    except Exception as e:
        raise DataNotFoundError(f"data for task '{task}': the Hugging Face Hub dataset {hub.path}"
                                f"{f' ({hub.name})' if hub.name else ''} could not be read ({type(e).__name__}: {e}). "
                                "Without a network, `datasets` reads it from its cache (HF_DATASETS_OFFLINE=1) once it has "
                                "been downloaded") from e


_REGISTRY: dict[str, Task] = {}
_BUILTINS_LOADED = False
_LOADED_FILES: dict[Path, str] = {}


def file_task(path: str | os.PathLike, labels: Sequence[str], problem_type: str = SINGLE_LABEL, text_pair: bool = False,
              fmt: str | None = None, text_column: str = "text", text_pair_column: str = "text_pair", label_column: str = "label",
              name: str | None = None) -> Task:
    """A task whose test split is one labelled file and which has no training data: the user's own
    labelled examples, for a head to score (``mtl-text evaluate --input FILE --head HEAD``). Not
    registered. The file is read when the split is loaded (:func:`~mtl_text.data.readers.read_labelled`:
    CSV, TSV with a header, or JSON Lines), and checked as every split is.

    Args:
        labels, problem_type, text_pair: as :class:`Task` (a head's: its label names, problem type,
            and whether it reads pairs).
        fmt: ``csv``, ``tsv`` or ``jsonl``; default: the file name's ending.
        text_column, text_pair_column, label_column: the columns (JSON fields) of the text, of a
            pair's second text, and of the label (a name or id; names or ids separated by commas for
            multi-label; a number for regression).
        name: the task's name (default: the file's name without its extension and a ``.gz``, with
            characters a task name cannot hold replaced by ``_``).

    Raises:
        ValueError: as :class:`Task`.
    """
    from .readers import format_stem, read_labelled

    path = Path(path)
    name = name or "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in format_stem(path)) or "file"

    def load(data_dir):
        return {"test": read_labelled(path, fmt, text_column, label_column, text_pair_column if text_pair else None)}

    return Task(name=name, labels=labels, load=load, problem_type=problem_type, text_pair=text_pair,
                description=f"the labelled examples of {path}")


def register_task(task: Task, *, replace: bool = False) -> Task:
    """Add ``task`` to the registry and return it.

    Raises:
        ValueError: a different task with the same name is registered and ``replace`` is false.
    """
    existing = _REGISTRY.get(task.name)
    if existing is not None and existing is not task and not replace:
        raise ValueError(f"a task named '{task.name}' is already registered; pick another name or pass replace=True")
    _REGISTRY[task.name] = task
    return task


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from .. import builtin_tasks

    for info in pkgutil.iter_modules(builtin_tasks.__path__):
        importlib.import_module(f"{builtin_tasks.__name__}.{info.name}")


def list_tasks() -> list[str]:
    """The names of all registered tasks (built-in ones included), sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """Look a task up by name.

    Raises:
        UnknownTaskError: no task of that name; the message lists the known tasks.
    """
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown task '{name}'. Known tasks: {', '.join(sorted(_REGISTRY))}. "
            "Add your own with --task-file my_task.py (a file that calls mtl_text.register_task)."
        ) from None


def load_task_file(spec: str | os.PathLike) -> list[str]:
    """Import a user's task definitions and return the names of the tasks it registered.

    Args:
        spec: a path to a ``.py`` file, or a dotted module path importable from ``sys.path``.

    A task file is code: it runs when loaded, as any plugin does.

    Raises:
        TaskFileError: ``spec`` is neither a file nor an importable module, or importing it fails
            (a syntax error, an exception); the message names the file and the cause.
    """
    _load_builtins()
    before = set(_REGISTRY)
    text = str(spec)
    path = Path(text)
    if text.endswith(".py") or path.exists() or os.sep in text:
        path = path.resolve()
        if not path.is_file():
            raise TaskFileError(f"task file {spec} not found (expected a Python file that calls register_task)")
        if path in _LOADED_FILES:  # importing twice would register new Task objects under the same names
            return [n for n, t in _REGISTRY.items() if getattr(t.load, "__module__", None) == _LOADED_FILES[path]]
        module_name = f"mtl_text_user_tasks.{path.stem}_{zlib.crc32(str(path).encode()):08x}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise TaskFileError(f"task file {path} failed to load: {_describe(e, path)}") from e
        _LOADED_FILES[path] = module_name
    else:
        try:
            importlib.import_module(text)
        except ModuleNotFoundError as e:
            if e.name and text.startswith(e.name):
                raise TaskFileError(f"task module {text!r} not found (expected a .py file or an importable module)") from None
            raise TaskFileError(f"task module {text!r} failed to load: {_describe(e, None)}") from e
        except Exception as e:
            raise TaskFileError(f"task module {text!r} failed to load: {_describe(e, None)}") from e
    added = sorted(set(_REGISTRY) - before)
    if not added:
        logger.warning("%s registered no new task", spec)
    return added


def _describe(error: BaseException, path: Path | None) -> str:
    """``SyntaxError at line 3: ...`` or ``ValueError at line 7: ...`` (the deepest frame in ``path``)."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError at line {error.lineno}: {error.msg}"
    line = None
    tb = error.__traceback__
    while tb is not None:
        if path is None or Path(tb.tb_frame.f_code.co_filename).resolve() == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{type(error).__name__}{f' at line {line}' if line else ''}: {error}"
