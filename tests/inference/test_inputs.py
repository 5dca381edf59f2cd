"""Prediction input formats: plain text lines are taken as they are, JSON Lines only when asked or
inferred from a .jsonl name; sentence pairs from JSON Lines or TSV."""

import pytest

from mtl_text import InputError
from mtl_text.inference.inputs import input_format, read_examples, read_input, read_texts


def test_format_is_inferred_from_the_suffix_unless_chosen():
    assert input_format("texts.jsonl") == "jsonl" and input_format("TEXTS.JSONL") == "jsonl"
    assert input_format("texts.txt") == "text" and input_format(None) == "text"
    assert input_format("texts.jsonl", "text") == "text"
    assert input_format("pairs.tsv") == "tsv" and input_format("reviews.CSV") == "csv"
    assert input_format("texts.jsonl.gz") == "jsonl" and input_format("texts.txt.gz") == "text" and input_format("a.gz") == "text"


def test_text_lines_stay_as_they_are():
    lines = [b"{curly} is my favourite band\n", b"\n", b'{"text": "json"}\r\n']
    assert read_texts(lines, "in") == (["{curly} is my favourite band", "", '{"text": "json"}'], None)


def test_jsonl_lines():
    assert read_texts([b'{"text": "a", "id": 1}\n', b"\n", b'{"text": ""}\n'], "in", "jsonl") == (["a", ""], None)
    with pytest.raises(InputError, match=r"in, line 2: invalid JSON .*--input-format text"):
        read_texts([b'{"text": "a"}\n', b"{curly}\n"], "in", "jsonl")
    with pytest.raises(InputError, match="in, line 1: a JSON line needs a string field 'text'"):
        read_texts([b'{"body": "a"}\n'], "in", "jsonl")


def test_non_utf8_is_named_by_line():
    with pytest.raises(InputError, match=r"<stdin>, line 2: not valid UTF-8 \(byte b'\\xe9' at column 4\)"):
        read_texts([b"ok\n", b"caf\xe9\n"], "<stdin>")


def test_sentence_pairs_from_jsonl_and_tsv():
    assert read_texts([b'{"text": "a b", "text_pair": "c"}\n', b'{"text": "d", "text_pair": ""}\n'], "in", "jsonl") == (
        ["a b", "d"], ["c", ""])
    assert read_texts([b"a b\tc\n", b"\n", b"d\te\r\n"], "in", "tsv") == (["a b", "d"], ["c", "e"])
    with pytest.raises(InputError, match=r"in, line 2: expected a sentence pair, two texts separated by one tab; found 1"):
        read_texts([b"a\tb\n", b"no tab\n"], "in", "tsv")
    with pytest.raises(InputError, match=r"in, line 2: a single text among sentence pairs"):
        read_texts([b'{"text": "a", "text_pair": "b"}\n', b'{"text": "c"}\n'], "in", "jsonl")
    with pytest.raises(InputError, match=r"in, line 1: field 'text_pair' must be a string"):
        read_texts([b'{"text": "a", "text_pair": 3}\n'], "in", "jsonl")


def test_csv_records_by_header_with_quotes_and_line_breaks():
    lines = [b"id,text,label\r\n", b'1,"a, b",pos\r\n', b"\r\n", b'2,"she said ""no""\n', b'and left",neg\r\n', b"3,,neg\r\n"]
    assert read_texts(lines, "in", "csv") == (["a, b", 'she said "no"\nand left', ""], None)
    assert list(read_examples(lines, "in", "csv")) == [(2, "a, b", None, {}), (4, 'she said "no"\nand left', None, {}), (6, "", None, {})]
    pairs = [b"sentence1, sentence2 ,label\n", b"a,b,1\n", b'"c",,0\n']
    assert read_texts(pairs, "in", "csv", "sentence1", "sentence2") == (["a", "c"], ["b", ""])
    assert read_texts([b'{"sentence": "a"}\n'], "in", "jsonl", text_column="sentence") == (["a"], None)
    assert read_texts([b"text\n"], "in", "csv") == ([], None) and read_texts([], "in", "csv") == ([], None)


def test_bad_csv_is_named_by_line():
    with pytest.raises(InputError, match=r"in, line 1: the CSV header has no column 'text' \(it names \['review', 'label'\]\)"):
        read_texts([b"review,label\n", b"good,1\n"], "in", "csv")
    with pytest.raises(InputError, match=r"in, line 3: 3 field\(s\), but the header names 2; a field holding a comma must be quoted"):
        read_texts([b"text,label\n", b"good,1\n", b"good, really,1\n"], "in", "csv")
    with pytest.raises(InputError, match=r"in, line 3: not valid UTF-8"):
        read_texts([b"text\n", b"ok\n", b"caf\xe9\n"], "in", "csv")
    with pytest.raises(InputError, match=r"in, line 2: not valid CSV \(unexpected end of data\)"):
        read_texts([b"text\n", b'"never closed\n'], "in", "csv")
    with pytest.raises(InputError, match=r"in, line 2: not valid CSV \(',' expected after '\"'\)"):
        read_texts([b"text,label\n", b'"quoted"not,1\n'], "in", "csv")


def test_a_byte_order_mark_opening_the_input_is_dropped():
    bom = b"\xef\xbb\xbf"
    assert read_texts([bom + b"text,label\r\n", b"good,pos\r\n"], "in", "csv") == (["good"], None)
    assert read_texts([bom + b'{"text": "good"}\n'], "in", "jsonl") == (["good"], None)
    assert read_texts([bom + b"good\n", bom + b"kept\n"], "in") == (["good", "\ufeffkept"], None)


def test_a_csv_field_longer_than_the_csv_modules_default_limit():
    """20 Newsgroups' longest post has 160,616 characters; the csv module stops at 131,072 by default."""
    import csv

    limit = csv.field_size_limit()
    long = "word " * 40_000  # 200,000 characters
    assert read_texts([b"id,text\n", b'1,"' + long.encode() + b'"\n'], "in", "csv") == ([long], None)
    assert csv.field_size_limit() == limit  # restored


def test_kept_columns_travel_with_their_records():
    csv_lines = [b"id,text,label\n", b"7,good,pos\n", b"\n", b'8,"bad, really",neg\n']
    inputs = read_input(csv_lines, "in", "csv", keep_columns=["id", "label"])
    assert inputs.texts == ["good", "bad, really"] and inputs.kept == [{"id": "7", "label": "pos"}, {"id": "8", "label": "neg"}]
    jsonl = [b'{"id": 7, "text": "a", "meta": {"x": 1}}\n', b"\n", b'{"id": null, "text": "b", "meta": []}\n']
    assert read_input(jsonl, "in", "jsonl", keep_columns=["id", "meta"]).kept == [{"id": 7, "meta": {"x": 1}}, {"id": None, "meta": []}]
    assert read_input(csv_lines, "in", "csv").kept == [{}, {}]
    with pytest.raises(InputError, match=r"in, line 1: the CSV header has no column\(s\) \['ID'\] to keep"):
        read_input(csv_lines, "in", "csv", keep_columns=["ID"])
    with pytest.raises(InputError, match=r"in, line 3: no field\(s\) \['id'\] to keep"):
        read_input([b'{"id": 1, "text": "a"}\n', b"\n", b'{"text": "b"}\n'], "in", "jsonl", keep_columns=["id"])
    with pytest.raises(ValueError, match="text input has no fields to keep"):
        read_input([b"a\n"], "in", "text", keep_columns=["id"])
