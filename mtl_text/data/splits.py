"""A task's data as ``train``/``validation``/``test`` :class:`datasets.Dataset` splits: loaded by the
task's own loader, checked, with the validation split carved out of ``train`` when the task has
none."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..arguments import DATA_DIR_ENV
from ..errors import DataError, DataFormatError
from .tasks import Task, get_task

if TYPE_CHECKING:  # imported where used: `import mtl_text` (a task file, `mtl-text predict`) does not load datasets
    import datasets

SPLITS = ("train", "validation", "test")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The data folder: ``data_dir`` if given, else ``$MTL_TEXT_DATA_DIR``, else ``None``."""
    value = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def _head_type(problem_type: str):
    """The head type of ``problem_type`` (it owns its labels' format and whether splits stratify),
    imported when first needed: ``import mtl_text`` does not load torch."""
    from ..modeling.heads import head_type

    return head_type(problem_type)


def _to_dataset(task: Task, split: str, columns) -> datasets.Dataset:
    import datasets

    head = _head_type(task.problem_type)  # the head type owns its labels' format
    text_columns = ["text", "text_pair"] if task.text_pair else ["text"]
    features = datasets.Features({**{c: datasets.Value("string") for c in text_columns}, "label": head.label_feature(task.labels)})
    if isinstance(columns, datasets.Dataset):
        missing = {*text_columns, "label"} - set(columns.column_names)
        if missing:
            raise DataFormatError(f"task '{task.name}', split '{split}': dataset lacks column(s) {sorted(missing)}")
        columns = {c: columns[c] for c in (*text_columns, "label")}
    missing = [c for c in (*text_columns, "label") if c not in columns]
    if missing:
        raise DataFormatError(f"task '{task.name}', split '{split}': the loader gave no column(s) {missing}"
                              + (" (a sentence-pair task needs 'text_pair')" if "text_pair" in missing else ""))
    texts = {c: list(columns[c]) for c in text_columns}
    labels = list(columns["label"])
    if any(len(t) != len(labels) for t in texts.values()):
        raise DataFormatError(f"task '{task.name}', split '{split}': {[len(t) for t in texts.values()]} texts but {len(labels)} labels")
    source, lines = columns.get("source"), columns.get("lines")
    ids = []
    for i, label in enumerate(labels):
        where = (f"{source}, line {lines[i]}" if source and lines else f"task '{task.name}', split '{split}', example {i}")
        for c in text_columns:
            if not isinstance(texts[c][i], str):
                raise DataFormatError(f"{where}: {c} must be a string, found {type(texts[c][i]).__name__}")
        if task.text_pair and not texts["text_pair"][i].strip():
            raise DataFormatError(f"{where}: the second text (text_pair) is empty; every example of a sentence-pair task needs both")
        ids.append(head.encode_label(label, task.labels, where))
    return datasets.Dataset.from_dict({**texts, "label": ids}, features=features)


def _source(columns) -> str:
    """Where a split came from, for messages: the file the readers record, else the task's loader."""
    source = columns.get("source") if isinstance(columns, dict) else None
    return f" (read from {source})" if source else ""


def check_split(task: Task, split: str, dataset: datasets.Dataset, source: str = "", published_size: bool = True) -> None:
    """A split is usable: not empty, not only empty texts, and (``published_size``) of the task's
    published size.

    Raises:
        DataError: an empty split, or one whose texts are all empty.
        DataFormatError: another size than ``task.num_examples[split]``.
    """
    where = f"task '{task.name}', split '{split}'{source}"
    if len(dataset) == 0:
        raise DataError(f"{where}: no examples; every split must have at least one")
    if not any(text.strip() for text in dataset["text"]):
        raise DataError(f"{where}: all {len(dataset)} texts are empty; there is nothing to learn from or score")
    expected = (task.num_examples or {}).get(split) if published_size else None
    if expected is not None and len(dataset) != expected:
        raise DataFormatError(f"{where}: {len(dataset):,} examples, expected {expected:,} (the published count): the data is "
                              "damaged or incomplete; replace it with a complete copy")


def column(dataset: datasets.Dataset, name: str) -> list:
    """Column ``name`` of ``dataset`` as a list, read in one batch: ``datasets`` 4+ returns a lazy
    column whose iteration reads one row at a time (3 s for SST-2's 67,349 labels on a 2-core machine,
    a tenth of that in one batch)."""
    return dataset[name][:]


def phrase_groups(texts: Sequence[str]) -> list[int]:
    """Group each text with a longest text that contains it word for word: a treebank sentence with
    its phrases. SST-2's training split (Socher et al. 2013, as GLUE ships it) holds 67,349 phrases
    of 6,920 sentences; drawn one by one, 88% of a validation split occur inside a training text
    (``benchmarks/validation_overlap.py``), so validation rewards memorised phrases. Carved by these
    groups, a sentence and all its phrases fall on one side.

    Texts are compared as their whitespace-separated words, so ``"a b"`` lies in ``"x a b y"`` but
    not in ``"xa b"``. A text inside no longer text starts its own group, and equal texts share
    one. About 2 s for SST-2's training split on a 2-core machine.

    The result is remembered for the last few inputs in the process (a pure function of the
    texts): loading SST-2 again, for another seed, fold or run, does not group it again.

    Returns:
        ``(len(texts),)`` group ids: the index of the group's longest text.
    """
    return list(_phrase_groups(tuple(texts)))


@functools.lru_cache(maxsize=4)
def _phrase_groups(texts: tuple[str, ...]) -> tuple[int, ...]:
    words = [text.split() for text in texts]
    padded = [" " + " ".join(w) + " " for w in words]
    vocabularies = [set(w) for w in words]
    longest_first = sorted(range(len(texts)), key=lambda i: -len(padded[i]))
    postings: dict[str, list[int]] = {}  # word -> the texts holding it, longest first
    for i in longest_first:
        for word in vocabularies[i]:
            postings.setdefault(word, []).append(i)
    groups = list(range(len(texts)))
    for i in longest_first:  # a container's group is known before its phrases'
        if not words[i]:
            continue
        rarest = min(vocabularies[i], key=lambda w: len(postings[w]))  # a container holds this word too
        for candidate in postings[rarest]:
            if candidate == i:  # the rest are no longer than text i
                break
            if padded[i] in padded[candidate]:
                groups[i] = groups[candidate]
                break
    return tuple(groups)


def carve_validation(train: datasets.Dataset, validation_size: float, seed: int,
                     stratify: bool, groups: Sequence | None = None) -> tuple[datasets.Dataset, datasets.Dataset]:
    """``(train, validation)``: a random ``validation_size`` fraction of ``train`` (rounded up) drawn
    with ``seed``, stratified on ``label`` when ``stratify``: the same split, index for index, as
    ``train.train_test_split(test_size=validation_size, seed=seed, stratify_by_column="label")``
    (a test checks it), computed with the function ``datasets`` itself uses on the label column read
    in one batch; ``datasets`` 4+ reads that column one row at a time there (11 s for SST-2's 67,349
    examples on a 2-core machine, 0.3 s this way).

    ``groups`` (one id per example): a ``validation_size`` fraction of the groups instead, every
    example of a group on the same side (scikit-learn's ``GroupShuffleSplit``, seeded; not
    stratified, so the validation split holds about, not exactly, that fraction of the examples).

    Raises:
        ValueError: a label with a single example, when ``stratify`` without ``groups``; ``groups``
            of another length than ``train``, or a single group.
    """
    import math

    import numpy as np
    from datasets.utils.stratify import stratified_shuffle_split_generate_indices

    if groups is not None:
        from sklearn.model_selection import GroupShuffleSplit

        if len(groups) != len(train):
            raise ValueError(f"{len(groups)} group ids for {len(train)} training examples; expected one per example")
        if len(set(groups)) < 2:
            raise ValueError("cannot carve a validation split by groups: all training examples are in one group")
        splitter = GroupShuffleSplit(n_splits=1, test_size=validation_size, random_state=seed)
        train_idx, validation_idx = next(splitter.split(np.zeros(len(train)), groups=np.asarray(groups)))
        return train.select(np.sort(train_idx)), train.select(np.sort(validation_idx))
    if not stratify:
        carved = train.train_test_split(test_size=validation_size, seed=seed)
        return carved["train"], carved["test"]
    n_validation = math.ceil(validation_size * len(train))
    labels = train.select_columns(["label"]).with_format("numpy")[:]["label"]
    try:
        train_idx, validation_idx = next(stratified_shuffle_split_generate_indices(
            labels, len(train) - n_validation, n_validation, rng=np.random.default_rng(seed)))
    except ValueError as e:
        if str(e) == "Minimum class count error":  # datasets' own message, as train_test_split rewords it
            raise ValueError("cannot carve a stratified validation split: a label has a single training example; "
                             "the least populated label needs at least 2") from None
        raise
    return train.select(train_idx), train.select(validation_idx)


def cross_validation_fold(task: Task, splits: dict, k: int, folds: int, seed: int,
                          group_validation: bool = True) -> dict[str, datasets.Dataset]:
    """Fold ``k`` of ``folds`` of a task's training data (its ``validation`` split joined to ``train``
    first, if it has one): ``{"train": the other folds, "validation": fold k}``. With
    ``group_validation`` and a task that declares ``validation_groups``, a group's examples fall in
    one fold (scikit-learn's ``StratifiedGroupKFold`` / ``GroupKFold``).

    Raises:
        ValueError: ``k`` outside ``0..folds-1``, or fewer examples (of a label, when stratified) or
            groups than folds.
    """
    import datasets
    import numpy as np
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if not 0 <= k < folds:
        raise ValueError(f"fold must be in 0..{folds - 1}, got {k}")
    data = datasets.concatenate_datasets([splits["train"], splits["validation"]]) if "validation" in splits else splits["train"]
    stratified = _head_type(task.problem_type).stratify
    groups = task_groups(task, data) if group_validation else None
    if groups is None:
        splitter = (StratifiedKFold if stratified else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = (StratifiedGroupKFold if stratified else GroupKFold)(n_splits=folds, shuffle=True, random_state=seed)
    labels = np.asarray(column(data, "label")) if stratified else np.zeros(len(data))
    train_idx, val_idx = list(splitter.split(np.zeros(len(data)), labels, groups))[k]
    return {"train": data.select(train_idx), "validation": data.select(val_idx)}


def task_groups(task: Task, train: datasets.Dataset) -> list | None:
    """The group of each example of ``train`` by the task's ``validation_groups`` (``None`` where the
    task declares none).

    Raises:
        DataFormatError: the task's function returned another number of group ids than examples.
    """
    if task.validation_groups is None:
        return None
    groups = list(task.validation_groups(column(train, "text")))
    if len(groups) != len(train):
        raise DataFormatError(f"task '{task.name}': validation_groups returned {len(groups)} group ids for {len(train)} "
                              "training texts; expected one per text")
    return groups


def _read_splits(task: Task, data_dir: str | os.PathLike | None, only: Sequence[str] = SPLITS) -> dict[str, datasets.Dataset]:
    """The splits in ``only`` that the task's loader returns, as checked datasets (see
    :func:`load_task_splits` for the errors)."""
    raw = task.load(resolve_data_dir(data_dir))
    for split in ("train", "test") if "train" in only else ("test",):  # a task scored alone needs no train split
        if split not in raw:
            raise DataFormatError(f"task '{task.name}': the loader returned splits {sorted(raw)}; "
                                  + ("'train' and 'test' are required" if "train" in only else "'test' is required to score it"))
    splits = {split: _to_dataset(task, split, cols) for split, cols in raw.items() if split in only}
    for split, dataset in splits.items():
        check_split(task, split, dataset, _source(raw[split]))
    return splits


def load_test_split(task: Task | str, data_dir: str | os.PathLike | None = None) -> datasets.Dataset:
    """A task's test split alone, the same dataset as ``load_task_splits(task, data_dir)["test"]``
    without carving a validation split out of train (with SST-2's phrase groups, seconds): for
    prediction speed, test scores and comparisons, which never read the other splits.

    Raises:
        as :func:`load_task_splits`.
    """
    task = get_task(task) if isinstance(task, str) else task
    return _read_splits(task, data_dir, only=("test",))["test"]


def load_task_splits(
    task: Task | str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 42,
    validation_size: float = 0.1,
    max_train_examples: int | None = None,
    fold: tuple[int, int] | None = None,
    group_validation: bool = True,
) -> datasets.DatasetDict:
    """Load a task's data as a :class:`datasets.DatasetDict` with ``train``/``validation``/``test``.

    When the loader provides no validation split, one is carved out of ``train``: a random
    ``validation_size`` fraction drawn with ``seed``, stratified on the label where the head type
    says so (single-label classification). A task that declares ``validation_groups`` (SST-2: a
    sentence with its phrases, :func:`phrase_groups`) is carved by groups instead, unless
    ``group_validation`` is false. The test split is never touched.
    ``max_train_examples``: keep only the first N examples of the (``seed``-shuffled) train split,
    for quick runs; validation and test stay whole.

    ``fold=(k, K)``: k-fold cross-validation: the training split (with a loader's own validation
    split joined to it) is cut into ``K`` folds (stratified where the head type says so, shuffled with
    ``seed``; scikit-learn's ``StratifiedKFold`` / ``KFold``); fold ``k`` is the validation split and
    the others train.

    Returns:
        splits with columns ``text`` (string; and ``text_pair`` for a pair task) and ``label`` (the
        head type's label feature: :class:`datasets.ClassLabel` for single-label tasks, a multi-hot
        vector for multi-label ones, a vector of floats for regression).

    Raises:
        UnknownTaskError: ``task`` names no registered task.
        DataNotFoundError: the loader found no data (see :class:`~mtl_text.data.tasks.Task`).
        DataFormatError: a split is missing or malformed, or has another size than the task's
            published ``num_examples`` (a damaged or incomplete file).
        DataError: a split is empty, or all its texts are empty.
        ValueError: ``validation_size`` outside ``(0, 1)``.
    """
    import datasets

    task = get_task(task) if isinstance(task, str) else task
    splits = _read_splits(task, data_dir)
    if fold is not None:
        splits["train"] = cross_validation_fold(task, splits, *fold, seed=seed, group_validation=group_validation)
        splits["train"], splits["validation"] = splits["train"]["train"], splits["train"]["validation"]
    elif "validation" not in splits:
        if not 0 < validation_size < 1:
            raise ValueError(f"validation_size must be in (0, 1), got {validation_size}")
        groups = task_groups(task, splits["train"]) if group_validation else None
        splits["train"], splits["validation"] = carve_validation(splits["train"], validation_size, seed,
                                                                 _head_type(task.problem_type).stratify, groups)
        for split in ("train", "validation"):
            check_split(task, split, splits[split], " (after carving the validation split out of train)", published_size=False)
    if max_train_examples:
        train = splits["train"].shuffle(seed=seed)
        splits["train"] = train.select(range(min(max_train_examples, len(train))))
    return datasets.DatasetDict({s: splits[s] for s in SPLITS})
