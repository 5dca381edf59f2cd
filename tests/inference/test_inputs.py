"""Prediction input formats: plain text lines are taken as they are, JSON Lines only when asked or
inferred from a .jsonl name."""

import pytest

from mtl_text import InputError
from mtl_text.inference.inputs import input_format, read_texts


def test_format_is_inferred_from_the_suffix_unless_chosen():
    assert input_format("texts.jsonl") == "jsonl" and input_format("TEXTS.JSONL") == "jsonl"
    assert input_format("texts.txt") == "text" and input_format(None) == "text"
    assert input_format("texts.jsonl", "text") == "text"


def test_text_lines_stay_as_they_are():
    lines = [b"{curly} is my favourite band\n", b"\n", b'{"text": "json"}\r\n']
    assert list(read_texts(lines, "in")) == ["{curly} is my favourite band", "", '{"text": "json"}']


def test_jsonl_lines():
    assert list(read_texts([b'{"text": "a", "id": 1}\n', b"\n", b'{"text": ""}\n'], "in", "jsonl")) == ["a", ""]
    with pytest.raises(InputError, match=r"in, line 2: invalid JSON .*--input-format text"):
        list(read_texts([b'{"text": "a"}\n', b"{curly}\n"], "in", "jsonl"))
    with pytest.raises(InputError, match="in, line 1: a JSON line needs a string field 'text'"):
        list(read_texts([b'{"body": "a"}\n'], "in", "jsonl"))


def test_non_utf8_is_named_by_line():
    with pytest.raises(InputError, match=r"<stdin>, line 2: not valid UTF-8 \(byte b'\\xe9' at column 4\)"):
        list(read_texts([b"ok\n", b"caf\xe9\n"], "<stdin>"))
