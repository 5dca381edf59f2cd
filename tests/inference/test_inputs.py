"""Prediction input formats: plain text lines are taken as they are, JSON Lines only when asked or
inferred from a .jsonl name; sentence pairs from JSON Lines or TSV."""

import pytest

from mtl_text import InputError
from mtl_text.inference.inputs import input_format, read_texts


def test_format_is_inferred_from_the_suffix_unless_chosen():
    assert input_format("texts.jsonl") == "jsonl" and input_format("TEXTS.JSONL") == "jsonl"
    assert input_format("texts.txt") == "text" and input_format(None) == "text"
    assert input_format("texts.jsonl", "text") == "text"
    assert input_format("pairs.tsv") == "tsv"


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
