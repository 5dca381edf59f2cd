"""No silent partial data: damaged or incomplete data files, empty splits and empty texts are errors
naming the task, split and file, raised before anything trains."""

import shutil

import pytest

from mtl_text import DataError, DataFormatError, Task, load_task_splits, register_task
from mtl_text.cli import run_command
from mtl_text.cli.train import main as train_main


@pytest.fixture
def newsgroups_copy(tmp_path, data_dir):
    """A data folder with a copy of the 20 Newsgroups archive and its manifest."""
    folder = tmp_path / "data" / "20newsgroups"
    folder.mkdir(parents=True)
    for name in ("20news-bydate.tar.gz", "20news-bydate.MANIFEST.sha256"):
        shutil.copy(data_dir / "20newsgroups" / name, folder / name)
        (folder / name).chmod(0o644)
    return folder


@pytest.mark.parametrize("manifest", [True, False], ids=["with-manifest", "counts-only"])
def test_an_archive_with_zeroed_bytes_is_named(newsgroups_copy, manifest):
    archive = newsgroups_copy / "20news-bydate.tar.gz"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4] = b"\0\0\0\0"
    archive.write_bytes(bytes(data))
    if not manifest:
        (newsgroups_copy / "20news-bydate.MANIFEST.sha256").unlink()
    with pytest.raises(DataFormatError, match=str(archive)):
        load_task_splits("20newsgroups", newsgroups_copy.parent)


def test_a_truncated_archive_is_named(newsgroups_copy):
    archive = newsgroups_copy / "20news-bydate.tar.gz"
    archive.write_bytes(archive.read_bytes()[: 6_000_000])
    with pytest.raises(DataFormatError, match=f"{archive}: not a readable tar.gz archive, truncated or damaged"):
        load_task_splits("20newsgroups", newsgroups_copy.parent)


def test_a_post_that_differs_from_the_manifest_is_named(newsgroups_copy):
    manifest = newsgroups_copy / "20news-bydate.MANIFEST.sha256"
    lines = manifest.read_text().splitlines()
    digest, name = lines[100].split("  ")
    lines[100] = ("0" if digest[0] != "0" else "1") + digest[1:] + "  " + name
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=f"member {name} differs from the manifest"):
        load_task_splits("20newsgroups", newsgroups_copy.parent)


def test_a_truncated_tsv_fails_the_published_count(tmp_path, data_dir):
    folder = tmp_path / "sst2"
    folder.mkdir()
    shutil.copy(data_dir / "sst2" / "train.tsv", folder / "train.tsv")
    lines = (data_dir / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / "dev.tsv").write_text("".join(lines[:501]), encoding="utf-8")  # header + 500 of 872
    with pytest.raises(DataFormatError, match=rf"task 'sst2', split 'test' \(read from {folder / 'dev.tsv'}\): 500 examples, expected 872"):
        load_task_splits("sst2", tmp_path)


def test_a_non_utf8_row_is_reported_at_its_own_line(tmp_path):
    from mtl_text import read_tsv

    rows = ["text\tlabel"] + [f"sentence number {i}\t{i % 2}" for i in range(5000)]
    data = ("\n".join(rows) + "\n").encode()
    bad_line = 4321
    lines = data.split(b"\n")
    lines[bad_line - 1] = b"caf\xe9 au lait\t1"
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataFormatError, match=rf"{path}, line {bad_line}: not valid utf-8 \(byte b'\\xe9' at column 4\)"):
        read_tsv(path, labels=["0", "1"])


def register_dict_task(name, splits):
    return register_task(Task(name=name, labels=["a", "b"], load=lambda data_dir: splits))


def test_empty_and_textless_splits_are_errors():
    full = {"text": ["good", "bad", "fine", "poor"] * 5, "label": ["a", "b"] * 10}
    register_dict_task("empty_test_split", {"train": full, "test": {"text": [], "label": []}})
    with pytest.raises(DataError, match="task 'empty_test_split', split 'test': no examples"):
        load_task_splits("empty_test_split")
    register_dict_task("textless_train", {"train": {"text": ["", " "] * 10, "label": ["a", "b"] * 10}, "test": full})
    with pytest.raises(DataError, match="task 'textless_train', split 'train': all 20 texts are empty"):
        load_task_splits("textless_train")


def test_an_empty_test_file_stops_training_before_it_starts(tmp_path, capsys):
    (tmp_path / "train.jsonl").write_text("".join(f'{{"text": "text {i}", "label": "{"ab"[i % 2]}"}}\n' for i in range(40)))
    (tmp_path / "test.jsonl").write_text("\n")
    task_file = tmp_path / "empty_task.py"
    task_file.write_text("from mtl_text import Task, read_jsonl, register_task\n"
                         "register_task(Task(name='empty_file_task', labels=['a', 'b'], load=lambda d: {s: read_jsonl(d / f'{s}.jsonl', "
                         "labels=['a', 'b']) for s in ('train', 'test')}))\n")
    out = tmp_path / "out"
    status = run_command(train_main, ["--task-file", str(task_file), "--tasks", "empty_file_task", "--data-dir", str(tmp_path),
                                      "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert f"error: task 'empty_file_task', split 'test' (read from {tmp_path / 'test.jsonl'}): no examples" in err
    assert not (out / "model.safetensors").exists()
