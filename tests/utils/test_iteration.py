"""Lazy chunks of a stream."""

import pytest

from mtl_text.utils.iteration import chunked


def test_chunks_are_taken_lazily_in_order():
    pulled = []

    def items():
        for i in range(7):
            pulled.append(i)
            yield i

    chunks = chunked(items(), 3)
    assert next(chunks) == [0, 1, 2] and pulled == [0, 1, 2]  # nothing read beyond the first chunk
    assert list(chunks) == [[3, 4, 5], [6]]
    assert list(chunked([], 3)) == [] and list(chunked("abcd", 2)) == [["a", "b"], ["c", "d"]]
    with pytest.raises(ValueError, match="chunk size must be >= 1, got 0"):
        next(chunked([1], 0))
