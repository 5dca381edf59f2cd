"""The padding collator: the same batches as transformers' DataCollatorWithPadding (keys, values and
dtypes) for every task shape, on real tokenized examples, with a word-level tokenizer and with
all-MiniLM-L6-v2's, right or left padding; pad_batch's errors."""

import datasets
import pytest
import torch
from transformers import AutoTokenizer, DataCollatorWithPadding

import mtl_text
from mtl_text.data.collation import PaddingCollator, pad_batch
from mtl_text.data.tokenization import tokenize_splits, train_word_tokenizer


def batches(splits, tokenizer):
    rows = tokenize_splits(splits, tokenizer, 48)["train"]
    return [[rows[i] for i in range(start, min(start + 7, len(rows)))] for start in range(0, len(rows), 7)]


@pytest.mark.parametrize("task", ["sst2", "mrpc", "goemotions", "stsb", "20newsgroups"])
def test_padding_collator_gives_what_data_collator_with_padding_gives(data_dir, shared_dir, task):
    splits = mtl_text.load_task_splits(task, data_dir, seed=0)
    splits = datasets.DatasetDict({"train": splits["train"].select(range(24))})
    minilm = AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2")
    words = train_word_tokenizer(splits["train"]["text"][:12], min_frequency=1)
    for tokenizer, side in [(t, s) for t in (minilm, words) for s in ("right", "left")]:
        tokenizer.padding_side = side
        for examples in batches(splits, tokenizer):
            ours, theirs = PaddingCollator(tokenizer)(examples), DataCollatorWithPadding(tokenizer)(examples)
            assert sorted(ours) == sorted(theirs)
            for key, value in theirs.items():
                assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), (task, side, key)
            columns = {key: [e[key] for e in examples] for key in examples[0]}  # one batch of columns, as a datasets slice gives
            assert all(torch.equal(PaddingCollator(tokenizer)(columns)[key], value) for key, value in theirs.items())
    assert ("token_type_ids" in ours) == (task in ("mrpc", "stsb"))


def test_pad_batch_pads_in_bulk_and_refuses_an_unknown_side():
    ids, mask, types = pad_batch([[5, 6, 7], [8], []], pad_token_id=0, token_type_ids=[[0, 1, 1], [0], []])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert types.tolist() == [[0, 1, 1], [0, 0, 0], [0, 0, 0]] and ids.dtype == mask.dtype == types.dtype == torch.int64
    ids, mask, types = pad_batch([[5, 6, 7], [8]], pad_token_id=1, padding_side="left")
    assert ids.tolist() == [[5, 6, 7], [1, 1, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]] and types is None
    assert pad_batch([], pad_token_id=0)[0].shape == (0, 0)
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left', got 'middle'"):
        pad_batch([[1]], pad_token_id=0, padding_side="middle")
    with pytest.raises(ValueError, match="different columns"):
        PaddingCollator(train_word_tokenizer(["a b"], min_frequency=1))([{"input_ids": [1], "labels": 0}, {"input_ids": [2]}])
