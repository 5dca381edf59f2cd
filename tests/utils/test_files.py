"""Atomic output files (mtl_text.utils.files.atomic_open): the whole file or the old one, never half."""

import gzip
import os

import pytest

from mtl_text.utils.files import atomic_open, atomic_write_text


@pytest.mark.parametrize("name, compress", [("out.jsonl", False), ("out.csv.gz", True)])
def test_a_write_stopped_midway_leaves_the_old_file_and_no_temporary_one(tmp_path, name, compress):
    path = tmp_path / name

    def read() -> str:
        with (gzip.open(path, "rt", encoding="utf-8") if compress else open(path, encoding="utf-8")) as f:
            return f.read()

    with atomic_open(path, compress=compress) as f:
        f.write("first, é\n")
    assert read() == "first, é\n" and oct(os.stat(path).st_mode & 0o777) == "0o644"
    with pytest.raises(KeyboardInterrupt), atomic_open(path, compress=compress) as f:
        f.write("second\n" * 1000)
        raise KeyboardInterrupt  # Ctrl-C halfway
    assert read() == "first, é\n" and os.listdir(tmp_path) == [name]
    if compress:  # the name inside the gzip header is the file's own, for gunzip -N
        assert path.read_bytes()[10:].split(b"\0", 1)[0] == b"out.csv"


def test_atomic_write_text_replaces_the_whole_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("old and longer\n")
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n" and os.listdir(tmp_path) == ["results.json"]
