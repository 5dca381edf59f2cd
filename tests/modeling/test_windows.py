"""Long documents read by a transformer as overlapping windows (``--window-length``): the encoder's
output against each window encoded by hand, training and prediction through the real tokenizer on
20 Newsgroups, saving, and the options' errors."""

import json

import pytest
import torch

from mtl_text import ConfigError, Predictor, load_task_splits
from mtl_text.cli.train import main as train_main
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.inference.onnx import export_onnx
from mtl_text.modeling.encoders import TransformerEncoder
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.build import check_windows
from mtl_text.training.config import EncoderArguments

from helpers import tiny_bert

START, END = 2, 3


def documents(lengths, seed=0):
    """Rows ``START, tokens, END`` of the given lengths (special tokens included), right-padded."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, 0], ids[row, n - 1] = START, END
        ids[row, 1:n - 1] = torch.randint(5, 100, (n - 2,), generator=g)
        mask[row, :n] = 1
    return ids, mask


def by_hand(plain, row_ids, n, width, stride):
    """One row's token vectors from its windows, each encoded alone: ``START + slice + END``, the
    vectors of a token seen twice averaged, START and END averaged over every window."""
    inner, step = width - 2, width - 2 - stride
    total, count = torch.zeros(n, plain.hidden_size), torch.zeros(n)
    start = 0
    while True:
        positions = list(range(1 + start, min(1 + start + inner, n - 1)))
        window = torch.tensor([[START, *row_ids[positions].tolist(), END]])
        hidden = plain(window, torch.ones_like(window))[0]
        total[positions] += hidden[1:-1]
        count[positions] += 1
        total[0] += hidden[0]
        total[n - 1] += hidden[-1]
        count[0] += 1
        count[n - 1] += 1
        if start + inner >= n - 2:
            return total / count[:, None]
        start += step


@pytest.mark.parametrize("width,stride", [(8, 2), (8, 0), (10, 7)])
def test_windows_match_each_window_encoded_alone(width, stride):
    bert = tiny_bert().eval()
    windowed, plain = TransformerEncoder(bert, window_length=width, window_stride=stride).eval(), TransformerEncoder(bert).eval()
    lengths = [23, 5, width, width + 1, 2]  # long, short, exactly one window, one token over, an empty text
    ids, mask = documents(lengths)
    with torch.no_grad():
        out = windowed(ids, mask)
        assert out.shape == (5, 23, 32)
        for row, n in enumerate(lengths):
            assert torch.allclose(out[row, :n], by_hand(plain, ids[row], n, width, stride), atol=1e-5), (row, n)
        # a batch no longer than a window is not windowed at all
        short_ids, short_mask = documents([width, 5])
        assert torch.equal(windowed(short_ids, short_mask), plain(short_ids, short_mask))


def test_windows_train_and_pool_the_whole_document():
    bert = tiny_bert()
    model = MultiTaskModel(TransformerEncoder(bert, window_length=8, window_stride=2),
                           {"topic": {"labels": ["a", "b"], "max_length": 40}}, pooling="mean", head_hidden_size=0)
    ids, mask = documents([30, 12])
    model(ids, mask, task="topic", labels=torch.tensor([0, 1])).loss.backward()
    assert bert.embeddings.word_embeddings.weight.grad[ids[0, 25]].abs().sum() > 0  # a token of the fourth window trains
    # the end of a long document changes its pooled vector (it would not if the text were cut at 8 tokens)
    changed = ids.clone()
    changed[0, 27] = 99 if ids[0, 27] != 99 else 98
    with torch.no_grad():
        model.eval()
        assert not torch.allclose(model.pooled_features(ids, mask, "topic")[0], model.pooled_features(changed, mask, "topic")[0])


def test_windows_refuse_pairs_longer_than_a_window():
    encoder = TransformerEncoder(tiny_bert(), window_length=8)
    ids, mask = documents([12])
    with pytest.raises(ValueError, match="pairs are not read as windows"):
        encoder(ids, mask, torch.zeros_like(ids))


def test_windowed_model_saves_and_restores(tmp_path):
    model = MultiTaskModel(TransformerEncoder(tiny_bert(), window_length=8, window_stride=3),
                           {"topic": {"labels": ["a", "b", "c"], "max_length": 40}}, pooling="attention", head_hidden_size=8).eval()
    ids, mask = documents([30, 9, 4])
    before = model.predict_logits(ids, mask)["topic"]
    model.save_pretrained(tmp_path)
    restored = MultiTaskModel.from_pretrained(tmp_path)
    assert (restored.encoder.window_length, restored.encoder.window_stride) == (8, 3)
    assert torch.equal(restored.predict_logits(ids, mask)["topic"], before)
    with pytest.raises(ConfigError, match="cannot be exported to ONNX yet"):
        export_onnx(tmp_path, tmp_path / "onnx")


def test_window_options_are_checked():
    with pytest.raises(ConfigError, match="between 3 and the model's 64 position embeddings"):
        TransformerEncoder(tiny_bert(max_positions=64), window_length=65)
    with pytest.raises(ConfigError, match="--window-stride must be between 0 and --window-length - 3 = 5"):
        TransformerEncoder(tiny_bert(), window_length=8, window_stride=6)
    with pytest.raises(ConfigError, match="applies to --encoder transformer only"):
        EncoderArguments(window_length=128)
    with pytest.raises(ConfigError, match="--window-stride must be between 0 and --window-length - 3 = 5"):
        EncoderArguments(encoder="transformer", model_name_or_path="x", window_length=8, window_stride=6)
    with pytest.raises(ConfigError, match="give --window-length too"):
        EncoderArguments(encoder="transformer", model_name_or_path="x", window_stride=6)
    assert TransformerEncoder(tiny_bert(), window_length=12).window_stride == 3  # default: a quarter of the window
    with pytest.raises(ConfigError, match="does not put one special token at each end"):
        check_windows("words", train_word_tokenizer(["a b c"]))


def test_training_and_prediction_read_20_newsgroups_as_windows(tiny_bert_dir, data_dir, tmp_path):
    """Windows of 32 over posts up to 120 tokens with the tiny BERT (64 positions) and MiniLM's real
    tokenizer: the pair task stays cut at a window, and the saved model scores the test posts through
    the Predictor (its own tokenization and batches) exactly as the test table says."""
    out = tmp_path / "windows"
    train_main(["--encoder", "transformer", "--model-name-or-path", str(tiny_bert_dir), "--tasks", "20newsgroups", "mrpc",
                "--data-dir", str(data_dir), "--max-train-examples", "160", "--max-steps", "6", "--eval-every", "6", "--batch-size", "16",
                "--seed", "5", "--patience", "0", "--window-length", "32", "--window-stride", "8", "--max-length", "20newsgroups=120",
                "--output-dir", str(out)])
    config = json.loads((out / "config.json").read_text())
    assert (config["encoder"]["window_length"], config["encoder"]["window_stride"]) == (32, 8)
    assert config["tasks"]["20newsgroups"]["max_length"] == 120 and config["tasks"]["mrpc"]["max_length"] == 32
    results = json.loads((out / "test_results.json").read_text())["metrics"]["20newsgroups"]
    test = load_task_splits("20newsgroups", data_dir)["test"]
    predicted = Predictor.from_pretrained(out).predict_labels(test["text"], ["20newsgroups"])["20newsgroups"]
    accuracy = (predicted == torch.tensor(test["label"])).double().mean().item()
    assert results["examples"] == 7532 and accuracy == pytest.approx(results["accuracy"], abs=1e-6)
