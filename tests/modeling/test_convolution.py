"""The convolutional word-vector encoder (Kim 2014): one output per token, blind to padding and to the
other text of a pair, saved and loaded with its convolution, trained from the command line's options."""

import json

import pytest
import torch

import mtl_text
from mtl_text import ConfigError, DataArguments, OptimizationArguments, Predictor, TrainingConfig
from mtl_text.modeling.encoders import WordVectorEncoder, build_encoder
from mtl_text.modeling.model import MultiTaskModel


def encoder(**kwargs):
    torch.manual_seed(0)
    return WordVectorEncoder(30, 8, conv_filters=5, conv_widths=[2, 3], **kwargs)


def test_one_vector_per_token_of_filters_times_widths():
    enc = encoder()
    ids = torch.randint(2, 30, (4, 11))
    out = enc(ids, torch.ones_like(ids))
    assert out.shape == (4, 11, 10) and enc.hidden_size == 10 and enc.default_pooling == "max"
    assert (out >= 0).all()  # after the ReLU


def test_padding_does_not_change_the_real_tokens_vectors():
    enc = encoder()
    ids = torch.tensor([[5, 9, 12, 7]])
    padded = torch.tensor([[5, 9, 12, 7, 0, 0, 0]])
    short, long = enc(ids, torch.ones_like(ids)), enc(padded, (padded > 0).long())
    assert torch.allclose(short, long[:, :4], atol=1e-6)


def test_each_text_of_a_pair_is_convolved_alone():
    enc = encoder()
    first, second = torch.tensor([[5, 9, 12]]), torch.tensor([[7, 3, 22, 4]])
    pair = torch.cat([first, second], dim=1)
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 1]])
    out = enc(pair, torch.ones_like(pair), segments)
    assert torch.allclose(out[:, :3], enc(first, torch.ones_like(first)), atol=1e-6)
    assert torch.allclose(out[:, 3:], enc(second, torch.ones_like(second)), atol=1e-6)


def test_freezing_fixes_the_convolution_too_and_the_config_rebuilds_it():
    enc = encoder(freeze=True)
    assert not any(p.requires_grad for p in enc.parameters()) and enc.layer_groups() == [[], []]
    rebuilt = build_encoder(enc.config_dict())
    assert rebuilt.conv_filters == 5 and rebuilt.conv_widths == [2, 3] and rebuilt.hidden_size == 10
    assert build_encoder(WordVectorEncoder(30, 8).config_dict()).conv_filters == 0  # older folders: no convolution


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="conv_widths positive"):
        WordVectorEncoder(30, 8, conv_filters=4, conv_widths=[0, 3])
    with pytest.raises(ConfigError, match="does not apply to --encoder transformer"):
        mtl_text.EncoderArguments(encoder="transformer", model_name_or_path="x", conv_filters=8)
    with pytest.raises(ConfigError, match="random convolution"):
        mtl_text.EncoderArguments(conv_filters=8, freeze_encoder=True)


def test_model_round_trip_keeps_the_convolution(tmp_path):
    from mtl_text.data.tokenization import train_word_tokenizer

    texts = ["who won the cup ?", "a dull , tedious film", "where is the station ?", "great fun"]
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8, conv_filters=4, conv_widths=[1, 3]),
                           {"qtype": {"labels": ["HUM", "LOC"], "max_length": 16}}, pooling="max", head_hidden_size=4)
    model.save_pretrained(tmp_path / "model", tokenizer, {"training_config": {}})
    predictor = Predictor.from_pretrained(tmp_path / "model", device="cpu")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["encoder"]["conv_widths"] == [1, 3]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    model.eval()
    expected = model.predict_logits(batch["input_ids"], batch["attention_mask"])["qtype"]
    got = predictor.model.predict_logits(batch["input_ids"], batch["attention_mask"])["qtype"]
    assert torch.equal(expected, got)


def test_trains_on_real_data_with_max_over_time_pooling(tmp_path, data_dir):
    out = tmp_path / "cnn"
    config = TrainingConfig(
        data=DataArguments(tasks=["trec"], data_dir=str(data_dir), max_train_examples=600, cache_dir="none"),
        optimization=OptimizationArguments(max_steps=80, batch_size=32, seed=3),
    )
    config.encoder.embedding_dim, config.encoder.w2v_epochs, config.encoder.conv_filters = 32, 2, 16
    config.evaluation.eval_every, config.checkpoints.output_dir, config.checkpoints.save_total_limit = 40, str(out), 0
    result = mtl_text.train(config)
    saved = json.loads((out / "config.json").read_text())
    assert saved["encoder"]["conv_filters"] == 16 and saved["pooling"]["trec"] == "max"
    assert result.metrics["trec"]["accuracy"] > 0.4  # 6 classes, the largest 0.28 of the test set


def test_a_batch_of_empty_texts_has_no_token_vectors():
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert encoder()(empty, empty).shape == (2, 0, 10)
