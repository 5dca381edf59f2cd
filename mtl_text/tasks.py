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

import datasets

from .readers import DataFormatError

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "MTL_TEXT_DATA_DIR"
SPLITS = ("train", "validation", "test")
METRICS = ("accuracy", "macro_f1")


class UnknownTaskError(KeyError):
    """A task name that is not registered. The message lists the known tasks."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


@dataclass(frozen=True)
class Task:
    """A single-label text classification task.

    Attributes:
        name: the name used on the command line and as the head's name (letters, digits, ``_``,
            ``-``).
        labels: the label names; label id ``i`` is ``labels[i]``.
        load: ``load(data_dir) -> splits``. ``data_dir`` is a :class:`pathlib.Path` (the folder given
            by ``--data-dir`` or ``MTL_TEXT_DATA_DIR``) or ``None``. ``splits`` maps ``"train"``,
            ``"test"`` and optionally ``"validation"`` to a column dictionary
            ``{"text": [...], "label": [...]}`` or a :class:`datasets.Dataset` with those columns;
            labels are ids or label names. The loader reads local files first and falls back to the
            real download source; if both fail it raises :class:`~mtl_text.readers.DataNotFoundError`.
        max_length: the maximum number of tokens per text for this task; longer texts keep their
            first ``max_length`` tokens (after special tokens are accounted for).
        pooling: how this task pools the shared encoder's token vectors by default (a mode of
            :class:`mtl_text.pooling.Pooling`): ``mean`` suits sentences; ``attention`` suits long
            documents, where most words say nothing about the label. Used with word-vector encoders;
            a transformer's contextual token vectors pool by ``mean`` unless ``--pooling`` says
            otherwise. ``--pooling`` overrides it.
        metrics: the metrics reported for this task (from ``"accuracy"``, ``"macro_f1"``).
        description: one line shown by ``--list-tasks``.
    """

    name: str
    labels: Sequence[str]
    load: Callable[[Path | None], Mapping]
    max_length: int = 128
    pooling: str = "mean"
    metrics: Sequence[str] = METRICS
    description: str = ""

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ValueError(f"task name {self.name!r} must be non-empty and use only letters, digits, '_', '-'")
        if len(self.labels) < 2:
            raise ValueError(f"task '{self.name}': needs at least 2 labels, got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"task '{self.name}': label names must be unique, got {list(self.labels)}")
        if self.max_length < 1:
            raise ValueError(f"task '{self.name}': max_length must be >= 1, got {self.max_length}")
        from .pooling import POOLING_MODES  # torch only when a task is built, not at package import

        if self.pooling not in POOLING_MODES:
            raise ValueError(f"task '{self.name}': unknown pooling {self.pooling!r}; expected one of {POOLING_MODES}")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"task '{self.name}': unknown metric(s) {unknown}; known: {list(METRICS)}")
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "metrics", tuple(self.metrics))

    @property
    def num_labels(self) -> int:
        return len(self.labels)


_REGISTRY: dict[str, Task] = {}
_BUILTINS_LOADED = False
_LOADED_FILES: dict[Path, str] = {}


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
    from . import builtin_tasks

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

    Raises:
        FileNotFoundError: ``spec`` looks like a file path but there is no such file.
        ModuleNotFoundError: ``spec`` is neither a file nor an importable module.
    """
    _load_builtins()
    before = set(_REGISTRY)
    text = str(spec)
    path = Path(text)
    if text.endswith(".py") or path.exists() or os.sep in text:
        path = path.resolve()
        if not path.is_file():
            raise FileNotFoundError(f"task file {spec} not found (expected a Python file that calls register_task)")
        if path in _LOADED_FILES:  # importing twice would register new Task objects under the same names
            return [n for n, t in _REGISTRY.items() if getattr(t.load, "__module__", None) == _LOADED_FILES[path]]
        module_name = f"mtl_text_user_tasks.{path.stem}_{zlib.crc32(str(path).encode()):08x}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        _LOADED_FILES[path] = module_name
    else:
        importlib.import_module(text)
    added = sorted(set(_REGISTRY) - before)
    if not added:
        logger.warning("%s registered no new task", spec)
    return added


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data folder: ``data_dir`` if given, else ``$MTL_TEXT_DATA_DIR``, else ``None``."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def _to_dataset(task: Task, split: str, columns) -> datasets.Dataset:
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=list(task.labels))})
    if isinstance(columns, datasets.Dataset):
        missing = {"text", "label"} - set(columns.column_names)
        if missing:
            raise DataFormatError(f"task '{task.name}', split '{split}': dataset lacks column(s) {sorted(missing)}")
        columns = {"text": columns["text"], "label": columns["label"]}
    texts, labels = list(columns["text"]), list(columns["label"])
    if len(texts) != len(labels):
        raise DataFormatError(f"task '{task.name}', split '{split}': {len(texts)} texts but {len(labels)} labels")
    ids = []
    for i, (text, label) in enumerate(zip(texts, labels)):
        if not isinstance(text, str):
            raise DataFormatError(f"task '{task.name}', split '{split}', example {i}: text must be a string, found {type(text).__name__}")
        if isinstance(label, str):
            if label not in task.labels:
                raise DataFormatError(f"task '{task.name}', split '{split}', example {i}: unknown label {label!r}; expected one of {list(task.labels)}")
            label = task.labels.index(label)
        elif not (isinstance(label, int) and 0 <= label < task.num_labels):
            raise DataFormatError(f"task '{task.name}', split '{split}', example {i}: label {label!r} is not an id in 0..{task.num_labels - 1}")
        ids.append(label)
    return datasets.Dataset.from_dict({"text": texts, "label": ids}, features=features)


def load_task_splits(
    task: Task | str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 42,
    validation_size: float = 0.1,
    max_train_examples: int | None = None,
) -> datasets.DatasetDict:
    """Load a task's data as a :class:`datasets.DatasetDict` with ``train``/``validation``/``test``.

    When the loader provides no validation split, one is carved out of ``train``: a stratified
    random ``validation_size`` fraction, drawn with ``seed``. The test split is never touched.
    ``max_train_examples``: keep only the first N examples of the (``seed``-shuffled) train split,
    for quick runs; validation and test stay whole.

    Returns:
        splits with columns ``text`` (string) and ``label`` (:class:`datasets.ClassLabel`).

    Raises:
        DataNotFoundError: the loader found no data (see :class:`Task`).
        DataFormatError: a split is missing or malformed.
    """
    task = get_task(task) if isinstance(task, str) else task
    raw = task.load(resolve_data_dir(data_dir))
    for split in ("train", "test"):
        if split not in raw:
            raise DataFormatError(f"task '{task.name}': the loader returned splits {sorted(raw)}; 'train' and 'test' are required")
    splits = {split: _to_dataset(task, split, cols) for split, cols in raw.items() if split in SPLITS}
    if "validation" not in splits:
        if not 0 < validation_size < 1:
            raise ValueError(f"validation_size must be in (0, 1), got {validation_size}")
        carved = splits["train"].train_test_split(test_size=validation_size, stratify_by_column="label", seed=seed)
        splits["train"], splits["validation"] = carved["train"], carved["test"]
    if max_train_examples:
        train = splits["train"].shuffle(seed=seed)
        splits["train"] = train.select(range(min(max_train_examples, len(train))))
    return datasets.DatasetDict({s: splits[s] for s in SPLITS})
