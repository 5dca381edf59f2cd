"""Label validation, one rule for every reader and loader: a label is a label name or an integer id
``0..num_labels-1`` (an integer written as text counts as an id); anything else is an error naming
where it was found."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DataFormatError

LABEL_SEPARATOR = ","  # a multi-label example's labels in one text field (a CSV column): "joy,love"


def label_id(value, labels: Sequence[str], where: str) -> int:
    """The id of a raw label (a name, or an integer id as int or text).

    Args:
        value: the raw label.
        labels: the task's label names; id ``i`` is ``labels[i]``.
        where: the place named in the error (``"train.tsv, line 4"``).

    Raises:
        DataFormatError: a boolean, an id out of range, or an unknown name.
    """
    expected = f"expected one of {list(labels)} or an id 0..{len(labels) - 1}"
    if isinstance(value, bool):
        raise DataFormatError(f"{where}: label {value!r} is a boolean; {expected}")
    if isinstance(value, int):
        if 0 <= value < len(labels):
            return value
        raise DataFormatError(f"{where}: label id {value} out of range; {expected}")
    text = str(value).strip()
    if text in labels:
        return list(labels).index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(labels):
        return int(text)
    raise DataFormatError(f"{where}: unknown label {value!r}; {expected}")


def label_list(value, where: str) -> list:
    """A multi-label example's raw labels as a list: a list or tuple as it is, a string split on
    commas (``"3,27"`` -> ``["3", "27"]``, empty items dropped).

    Raises:
        DataFormatError: anything else (named by ``where``).
    """
    if isinstance(value, str):
        return [v for v in value.split(LABEL_SEPARATOR) if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise DataFormatError(f"{where}: a multi-label task needs a list of labels per text, found {value!r}")
    return list(value)


def join_labels(labels: Sequence[str], where: str) -> str:
    """A multi-label prediction's labels as one text field, as :func:`label_list` reads them back:
    ``["joy", "love"]`` -> ``"joy,love"``; ``""`` for none.

    Raises:
        ValueError: a label holding the separator (it could not be read back as one label; named by
            ``where``).
    """
    bad = next((label for label in labels if LABEL_SEPARATOR in label), None)
    if bad is not None:
        raise ValueError(f"{where}: label {bad!r} holds {LABEL_SEPARATOR!r}, which separates labels in one field; write JSON Lines")
    return LABEL_SEPARATOR.join(labels)
