"""Hashed bigram vectors (fastText's n-gram features) in the word-vector encoder."""

import pytest
import torch

import mtl_text
from mtl_text import ConfigError
from mtl_text.modeling.encoders import WordVectorEncoder, build_encoder


def test_bigram_rows_follow_the_previous_token_of_the_same_text():
    enc = WordVectorEncoder(50, 4, bigram_buckets=97)
    ids = torch.tensor([[5, 9, 5, 9, 0, 0], [7, 5, 9, 3, 8, 2]])
    mask = (ids > 0).long()
    rows = enc.bigram_ids(ids, mask)
    assert rows[0, 0] == 0 and rows[1, 0] == 0  # a text's first token ends no bigram
    assert (rows[0, 4:] == 0).all()  # padding
    assert rows[0, 1] == rows[0, 3] == rows[1, 2] != 0  # "5 9" wherever it occurs
    assert rows[0, 1] != rows[0, 2]  # "5 9" and "9 5" differ
    assert ((rows >= 0) & (rows <= 97)).all()
    pair_types = torch.tensor([[0, 0, 0, 1, 1, 1]])
    pair = enc.bigram_ids(ids[1:], mask[1:], pair_types)
    assert pair[0, 3] == 0 and pair[0, 4] != 0  # no bigram across the two texts of a pair


def test_the_table_starts_at_zero_trains_and_round_trips():
    torch.manual_seed(0)
    plain = WordVectorEncoder(50, 4)
    enc = WordVectorEncoder(50, 4, bigram_buckets=31)
    enc.embedding.load_state_dict(plain.embedding.state_dict())
    ids = torch.tensor([[5, 9, 12]])
    assert torch.equal(enc(ids, torch.ones_like(ids)), plain(ids, torch.ones_like(ids)))  # zero at the start
    enc(ids, torch.ones_like(ids)).sum().backward()
    assert enc.bigrams.weight.grad[enc.bigram_ids(ids, torch.ones_like(ids))[0, 1:]].abs().sum() > 0
    assert enc.bigrams.weight.grad[0].abs().sum() == 0  # "no bigram" stays zero
    assert build_encoder(enc.config_dict()).bigram_buckets == 31


def test_bigrams_need_a_new_trainable_word_vector_encoder():
    with pytest.raises(ConfigError, match="--bigram-buckets"):
        mtl_text.EncoderArguments(bigram_buckets=10, freeze_encoder=True)
    with pytest.raises(ValueError, match="bigram_buckets"):
        WordVectorEncoder(50, 4, bigram_buckets=-1)
