"""Lazy iteration: items taken a chunk at a time, so that a stream larger than memory is held one
chunk at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter where they do not divide), read lazily:
    the next list is taken from ``items`` only when asked for. :func:`itertools.batched` of Python
    3.12, in lists.

    Raises:
        ValueError: ``size`` < 1 (at the first list asked for).
    """
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk
