"""Prediction output as CSV rows: every head type's fields flattened, one header for every row."""

import csv
import io

import pytest

from mtl_text.data.labels import label_list
from mtl_text.errors import InputError
from mtl_text.inference.outputs import PredictionWriter, flat_columns, output_format


def test_the_format_follows_the_suffix_unless_chosen():
    assert [output_format(p) for p in ("out.csv", "OUT.CSV.gz", "out.jsonl", "out.tsv", None)] == ["csv", "csv", "jsonl", "jsonl", "jsonl"]
    assert output_format("out.csv", "jsonl") == "jsonl" and output_format(None, "csv") == "csv"


def test_each_head_types_output_becomes_columns_that_read_back():
    """Single-label (with abstain), multi-label (labels joined as the readers split them) and
    regression with one and several targets; a kept JSON field that is a list stays JSON."""
    result = {"id": 7, "tags": ["a", "b"], "text": "t", "text_pair": "u", "predictions": {
        "sst2": {"label": "positive", "probabilities": {"negative": 0.1, "positive": 0.9}, "abstain": False},
        "goemotions": {"labels": ["joy", "love"], "probabilities": {"joy": 0.8, "love": 0.6, "anger": 0.1}},
        "stsb": {"value": 4.25}, "scores": {"values": {"x": 1.5, "y": -2.0}}}}
    row = flat_columns(result)
    assert row == {"id": 7, "tags": '["a", "b"]', "text": "t", "text_pair": "u", "empty_text": "false",
                   "sst2.label": "positive", "sst2.probabilities.negative": 0.1, "sst2.probabilities.positive": 0.9, "sst2.abstain": "false",
                   "goemotions.labels": "joy,love", "goemotions.probabilities.joy": 0.8, "goemotions.probabilities.love": 0.6,
                   "goemotions.probabilities.anger": 0.1, "stsb.value": 4.25, "scores.values.x": 1.5, "scores.values.y": -2.0}
    assert label_list(row["goemotions.labels"], "here") == ["joy", "love"]
    assert flat_columns({**result, "predictions": {"goemotions": {"labels": [], "probabilities": {}}}})["goemotions.labels"] == ""


def test_rows_that_cannot_be_one_table_are_refused():
    writer = PredictionWriter(stream := io.StringIO(), "csv")
    writer.write({"text": "a", "predictions": {"sst2": {"label": "positive", "probabilities": {"negative": 0.1, "positive": 0.9}}}})
    writer.write({"text": "", "empty_text": True, "predictions": {"sst2": {"label": "negative", "probabilities": {"negative": 0.6,
                                                                                                                   "positive": 0.4}}}})
    assert list(csv.reader(io.StringIO(stream.getvalue()))) == [
        ["text", "empty_text", "sst2.label", "sst2.probabilities.negative", "sst2.probabilities.positive"],
        ["a", "false", "positive", "0.1", "0.9"], ["", "true", "negative", "0.6", "0.4"]]
    with pytest.raises(InputError, match=r"every row must have the header's columns"):  # top-k's labels differ per row
        writer.write({"text": "b", "predictions": {"sst2": {"label": "positive", "probabilities": {"positive": 0.9}}}})
    with pytest.raises(InputError, match=r"kept column 'sst2.label' is also the name of a prediction column"):
        flat_columns({"sst2.label": "x", "text": "a", "predictions": {"sst2": {"label": "positive"}}})
    with pytest.raises(InputError, match=r"goemotions.labels: label 'a,b' holds ','"):
        flat_columns({"text": "a", "predictions": {"goemotions": {"labels": ["a,b"]}}})
    with pytest.raises(ValueError, match="unknown output format 'tsv'"):
        PredictionWriter(io.StringIO(), "tsv")
