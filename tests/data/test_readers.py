import logging

import pytest

from mtl_text import DataFormatError, read_csv, read_jsonl, read_labelled, read_tsv

LABELS = ["neg", "pos"]


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def test_csv_reads_names_and_ids(tmp_path):
    path = write(tmp_path, "a.csv", 'text,label\n"good, really",pos\nbad,0\n')
    assert read_csv(path, labels=LABELS) == {"text": ["good, really", "bad"], "label": [1, 0], "source": str(path), "lines": [2, 3]}


def test_a_byte_order_mark_opening_the_file_is_not_part_of_its_header_or_text(tmp_path):
    """Spreadsheet programs save "CSV UTF-8" with a byte-order mark before the header."""
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbftext,label\r\ngood,pos\r\n", "wb")
    assert read_csv(path, labels=LABELS)["text"] == ["good"]
    path = write(tmp_path, "a.jsonl", b'\xef\xbb\xbf{"text": "good", "label": "pos"}\n', "wb")
    assert read_jsonl(path, labels=LABELS)["text"] == ["good"]
    path = write(tmp_path, "b.csv", b"text,label\n\xef\xbb\xbfgood,pos\n", "wb")  # elsewhere it is text: kept
    assert read_csv(path, labels=LABELS)["text"] == ["\ufeffgood"]


def test_csv_reads_a_field_longer_than_the_csv_modules_default_limit(tmp_path):
    import csv

    limit, long = csv.field_size_limit(), "word " * 40_000  # 200,000 characters; 20 Newsgroups' longest post has 160,616
    path = write(tmp_path, "a.csv", f'text,label\n"{long}",pos\n')
    assert read_csv(path, labels=LABELS)["text"] == [long] and csv.field_size_limit() == limit


def test_csv_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "a.csv", "text,label\nfine,pos\nbroken,pos,extra\n")
    with pytest.raises(DataFormatError, match=r"a\.csv, line 3: 3 field\(s\), but the header names 2; a field holding a comma must be quoted"):
        read_csv(path, labels=LABELS)
    path = write(tmp_path, "b.tsv", "fine\tpos\nbroken\n")
    with pytest.raises(DataFormatError, match=r"b\.tsv, line 2: 1 field\(s\), but the first record has 2$"):
        read_tsv(path, text_field=0, label_field=1, header=False)
    with pytest.raises(DataFormatError, match=r"b\.tsv, line 1: no field 2; the records have 2"):
        read_tsv(path, text_field=2, label_field=1, header=False)


def test_csv_quote_left_open_is_an_error_not_glued_records(tmp_path):
    """A spreadsheet's stray quote: read leniently, the three records below became one text with the
    last one's label, the other two lost without a word."""
    path = write(tmp_path, "a.csv", 'text,label\n"a great film,pos\na dull film,neg\n"fine" they said,pos\n')
    with pytest.raises(DataFormatError, match=r"a\.csv, line 2: not valid CSV \(',' expected after '\"'; the record runs on to line 4: "
                                              r"is a quote left open\?\)"):
        read_csv(path, labels=LABELS)
    path = write(tmp_path, "b.csv", 'text,label\n"never closed,pos\n')
    with pytest.raises(DataFormatError, match=r"b\.csv, line 2: not valid CSV \(unexpected end of data"):
        read_csv(path, labels=LABELS)
    path = write(tmp_path, "c.csv", 'text,label\n"a film, in two\nlines",pos\n\n"",neg\nshort,neg\n')
    assert read_csv(path, labels=LABELS) == {"text": ["a film, in two\nlines", "short"], "label": [1, 0], "source": str(path), "lines": [2, 6]}
    path = write(tmp_path, "d.csv", "\n\n")
    with pytest.raises(DataFormatError, match=r"d\.csv: the file is empty; expected a header row"):
        read_csv(path)


def test_csv_missing_column(tmp_path):
    path = write(tmp_path, "a.csv", "sentence,label\nx,pos\n")
    with pytest.raises(DataFormatError, match=r"line 1: header .* lacks the column\(s\) \['text'\]"):
        read_csv(path)


def test_unknown_label_names_line(tmp_path):
    path = write(tmp_path, "a.tsv", "text\tlabel\nfine\tpos\nodd\tneutral\n")
    with pytest.raises(DataFormatError, match=r"a\.tsv, line 3: unknown label 'neutral'"):
        read_tsv(path, labels=LABELS)


def test_tsv_keeps_quotes_and_text_unaltered(tmp_path):
    path = write(tmp_path, "a.tsv", 'sentence \tlabel\n"quoted" start \t1\n')
    assert read_tsv(path, text_field="sentence", labels=LABELS) == {"text": ['"quoted" start '], "label": [1], "source": str(path), "lines": [2]}


def test_empty_texts_are_skipped_counted_and_reported(tmp_path, caplog):
    path = write(tmp_path, "a.jsonl", '{"text": "ok", "label": "pos"}\n{"text": "  ", "label": "neg"}\n\n{"text": "", "label": "neg"}\n')
    with caplog.at_level(logging.WARNING):
        out = read_jsonl(path, labels=LABELS)
    assert out["text"] == ["ok"] and out["label"] == [1]
    assert "skipped 2 row(s) with empty text (lines 2, 4)" in caplog.text


@pytest.mark.parametrize("content, match", [
    ('{"text": "a", "label": "pos"}\n{"text": "b", label: 1}\n', r"line 2: invalid JSON"),
    ('["a", "pos"]\n', r"line 1: expected a JSON object"),
    ('{"txt": "a", "label": "pos"}\n', r"line 1: missing field 'text'"),
    ('{"text": 3, "label": "pos"}\n', r"line 1: field 'text' must be a string"),
    ('{"text": "a", "label": 7}\n', r"line 1: label id 7 out of range"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, content, match):
    path = write(tmp_path, "data.jsonl", content)
    with pytest.raises(DataFormatError, match=match) as info:
        read_jsonl(path, labels=LABELS)
    assert "data.jsonl" in str(info.value)


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = write(tmp_path, "a.jsonl", b'{"text": "fine", "label": 0}\n{"text": "caf\xe9", "label": 1}\n', mode="wb")
    with pytest.raises(DataFormatError, match=r"a\.jsonl, line 2: not valid utf-8"):
        read_jsonl(path, labels=LABELS)


def test_hub_datasets_are_read_into_our_columns(monkeypatch):
    import datasets

    from mtl_text import read_hub_dataset

    glue = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence1": ["a"], "sentence2": ["b"], "label": [1]}),
                                 "validation": datasets.Dataset.from_dict({"sentence1": ["c"], "sentence2": ["d"], "label": [0]})})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name: calls.append((path, name)) or glue)
    splits = read_hub_dataset("nyu-mll/glue", "mrpc", {"train": "train", "test": "validation"},
                              {"text": "sentence1", "text_pair": "sentence2", "label": "label"})
    assert calls == [("nyu-mll/glue", "mrpc")]
    assert splits == {"train": {"text": ["a"], "text_pair": ["b"], "label": [1]}, "test": {"text": ["c"], "text_pair": ["d"], "label": [0]}}


def test_a_labelled_file_is_read_by_its_ending_or_the_chosen_format(tmp_path):
    tsv = write(tmp_path, "a.tsv", "sentence\tscore\nfine\t4.5\n")
    assert read_labelled(tsv, text_field="sentence", label_field="score")["label"] == ["4.5"]  # raw: the head type encodes it
    jsonl = write(tmp_path, "a.jsonl", '{"text": "a", "text_pair": "b", "label": ["x", "y"]}\n')
    assert read_labelled(jsonl, text_pair_field="text_pair") == {"text": ["a"], "text_pair": ["b"], "label": [["x", "y"]],
                                                                "source": str(jsonl), "lines": [1]}
    txt = write(tmp_path, "a.txt", "text,label\nfine,pos\n")
    with pytest.raises(DataFormatError, match=r"a\.txt: a labelled file is read as csv, tsv, jsonl; its name ends with none of them"):
        read_labelled(txt)
    assert read_labelled(txt, "csv")["text"] == ["fine"]
    from mtl_text import file_task

    assert [file_task(p, LABELS).name for p in ("d/20ng-test.csv.gz", "my reviews.v2.jsonl", ".csv")] == ["20ng-test", "my_reviews_v2", "file"]


def test_a_gz_file_is_read_through_gzip_and_a_damaged_one_is_named(tmp_path):
    import gzip

    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(b"text,label\n\"fine, really\",pos\nbad,neg\n"))
    assert read_labelled(path, text_field="text")["text"] == ["fine, really", "bad"]  # the format named past .gz
    rows = "".join(f"review {i * 7919 % 10007},pos\n" for i in range(5000))
    path.write_bytes(gzip.compress(f"text,label\n{rows}".encode())[:-100])  # cut short
    with pytest.raises(DataFormatError, match=r"a\.csv\.gz, line \d+: the compressed file is damaged or truncated \(EOFError"):
        read_csv(path, labels=LABELS)
    path.write_bytes(b"text,label\nplain,pos\n")  # named .gz, but not compressed
    with pytest.raises(DataFormatError, match=r"a\.csv\.gz, line 1: the compressed file is damaged or truncated \(BadGzipFile"):
        read_csv(path, labels=LABELS)
