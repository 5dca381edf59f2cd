"""A task's data as ``train``/``validation``/``test`` :class:`datasets.Dataset` splits: loaded by the
task's own loader, checked, with the validation split carved out of ``train`` when the task has
none."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from ..arguments import DATA_DIR_ENV
from ..errors import DataFormatError
from .labels import label_id
from .tasks import Task, get_task

SPLITS = ("train", "validation", "test")


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
        where = f"task '{task.name}', split '{split}', example {i}"
        if not isinstance(text, str):
            raise DataFormatError(f"{where}: text must be a string, found {type(text).__name__}")
        ids.append(label_id(label, task.labels, where))
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
        UnknownTaskError: ``task`` names no registered task.
        DataNotFoundError: the loader found no data (see :class:`~mtl_text.data.tasks.Task`).
        DataFormatError: a split is missing or malformed.
        ValueError: ``validation_size`` outside ``(0, 1)``.
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
