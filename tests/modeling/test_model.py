import json

import numpy as np
import pytest
import torch

from mtl_text.data.tokenization import train_word_tokenizer, word_sequences
from mtl_text.errors import ModelLoadError
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.heads import SingleLabelClassificationHead
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.modeling.vectors import embedding_matrix, load_vectors, train_word2vec

TEXTS = ["The movie was great fun .", "A dull , lifeless film .", "Who wrote Hamlet ?", "Where is the Louvre ?"]
TASKS = {"sentiment": {"labels": ["negative", "positive"], "max_length": 16}, "qtype": {"labels": ["HUM", "LOC", "NUM"], "max_length": 8}}


def small_model(pooling="attention", seed=0):
    torch.manual_seed(seed)
    tokenizer = train_word_tokenizer(TEXTS)
    encoder = WordVectorEncoder(len(tokenizer), 16)
    return MultiTaskModel(encoder, TASKS, pooling=pooling, head_hidden_size=8, head_dropout=0.1).eval(), tokenizer


@pytest.mark.parametrize("pooling", ["mean", "mean_max", "attention"])
def test_save_and_restore_give_identical_logits(tmp_path, pooling):
    model, tokenizer = small_model(pooling)
    enc = tokenizer(TEXTS + [""], padding=True, return_tensors="pt")
    before = model.predict_logits(enc["input_ids"], enc["attention_mask"])
    model.save_pretrained(tmp_path / "m", tokenizer, {"training_args": {"seed": 0}})
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in (tmp_path / "m").iterdir()}
    restored = MultiTaskModel.from_pretrained(tmp_path / "m")
    after = restored.predict_logits(enc["input_ids"], enc["attention_mask"])
    for task in TASKS:
        assert torch.equal(before[task], after[task])
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["tasks"]["qtype"]["labels"] == ["HUM", "LOC", "NUM"] and config["training_args"] == {"seed": 0}
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]  # no temporary files left


def test_saving_keeps_other_files(tmp_path):
    model, tokenizer = small_model()
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    model.save_pretrained(tmp_path, tokenizer)
    model.save_pretrained(tmp_path, tokenizer)
    assert (tmp_path / "metrics.jsonl").read_text() == "{}\n"


def test_predict_logits_uses_one_encoder_pass():
    model, tokenizer = small_model()
    calls = []
    model.encoder.register_forward_hook(lambda *a: calls.append(1))
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    out = model.predict_logits(enc["input_ids"], enc["attention_mask"])
    assert len(calls) == 1 and out["sentiment"].shape == (4, 2) and out["qtype"].shape == (4, 3)
    with pytest.raises(KeyError, match="no head for"):
        model.predict_logits(enc["input_ids"], enc["attention_mask"], ["nope"])


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="is not a folder"):
        MultiTaskModel.from_pretrained(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="config.json is missing"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_invalid_config_json_names_the_file(tmp_path):
    model, tokenizer = small_model()
    model.save_pretrained(tmp_path, tokenizer)
    (tmp_path / "config.json").write_text('{"encoder": ')
    with pytest.raises(ModelLoadError, match=r"config\.json: not valid JSON"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_truncated_weights_name_the_file(tmp_path):
    model, tokenizer = small_model()
    model.save_pretrained(tmp_path, tokenizer)
    weights = tmp_path / "model.safetensors"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    with pytest.raises(ModelLoadError, match=rf"model\.safetensors: {size // 2} bytes, expected {size} \(truncated or altered\)"):
        MultiTaskModel.from_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["files"]  # a folder without file records (saved before 0.2.0): safetensors itself refuses the file
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"model\.safetensors: not a readable safetensors file"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_weights_that_do_not_match_the_config(tmp_path):
    model, tokenizer = small_model()
    model.save_pretrained(tmp_path, tokenizer)
    config = json.loads((tmp_path / "config.json").read_text())
    config["encoder"]["embedding_dim"] = 32
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="do not match"):
        MultiTaskModel.from_pretrained(tmp_path)


def test_head_shapes_and_options():
    assert SingleLabelClassificationHead(10, ["a", "b", "c"], hidden_size=0)(torch.zeros(2, 10)).shape == (2, 3)
    head = SingleLabelClassificationHead(10, ["a", "b", "c", "d"], hidden_size=6, dropout=0.5)
    assert head(torch.zeros(5, 10)).shape == (5, 4)
    assert [m.out_features for m in head.modules() if isinstance(m, torch.nn.Linear)] == [6, 4]
    with pytest.raises(ValueError, match="dropout"):
        SingleLabelClassificationHead(10, ["a", "b"], dropout=1.0)


def test_freeze_encoder_keeps_embeddings_fixed():
    encoder = WordVectorEncoder(20, 8, freeze=True, embeddings=np.ones((20, 8), dtype=np.float32))
    assert not encoder.embedding.weight.requires_grad
    assert torch.equal(encoder.embedding.weight[0], torch.zeros(8))  # [PAD] stays zero
    with pytest.raises(ValueError, match="shape"):
        WordVectorEncoder(20, 8, embeddings=np.ones((19, 8)))


def test_tokenizer_oov_and_truncation():
    tokenizer = train_word_tokenizer(["the cat sat", "the dog sat"], min_frequency=2)
    assert tokenizer.convert_ids_to_tokens(tokenizer("The cat sat")["input_ids"]) == ["the", "[UNK]", "sat"]
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1
    ids = tokenizer("sat the sat the sat", truncation=True, max_length=2)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["sat", "the"]  # the first tokens are kept
    assert tokenizer("   ")["input_ids"] == []


def test_word2vec_is_reproducible_and_fills_the_matrix():
    tokenizer = train_word_tokenizer(TEXTS * 5)
    sentences = word_sequences(tokenizer, TEXTS * 5)
    a = train_word2vec(sentences, vector_size=8, seed=1)
    b = train_word2vec(sentences, vector_size=8, seed=1)
    assert np.array_equal(a.vectors, b.vectors)
    matrix, found = embedding_matrix(tokenizer.get_vocab(), a, seed=0)
    assert found == len(tokenizer) - 2
    assert np.array_equal(matrix[0], np.zeros(8)) and np.array_equal(matrix[1], np.zeros(8))
    assert np.array_equal(matrix[tokenizer.convert_tokens_to_ids("movie")], a["movie"])


def test_pretrained_glove_vectors(shared_dir):
    vectors = load_vectors(shared_dir / "vectors" / "glove-6B-50d.w2v.bin")
    assert vectors.vector_size == 50 and len(vectors) == 400000
    vocab = {"[PAD]": 0, "[UNK]": 1, "movie": 2, "qqzzxxnotaword": 3}
    matrix, found = embedding_matrix(vocab, vectors, seed=0)
    assert found == 1
    assert np.array_equal(matrix[2], vectors["movie"])
    assert 0 < np.abs(matrix[3]).mean() < 1  # unknown word: random at the vectors' scale


def test_bad_vectors_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="vectors file"):
        load_vectors(tmp_path / "none.bin")
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world this is not vectors\n")
    with pytest.raises(ValueError, match="bad.txt"):
        load_vectors(bad)


def test_word_dropout_only_in_training_and_never_empties_a_text():
    model, _ = small_model("mean")
    model.word_dropout = 0.5
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]])
    model.eval()
    assert torch.equal(model._pooling_mask(mask), mask)
    model.train()
    torch.manual_seed(0)
    dropped = [model._pooling_mask(mask) for _ in range(200)]
    assert all(((d <= mask).all() and d[1, 0] == 1 and d[2].sum() == 0) for d in dropped)  # a 1-token text is kept whole
    kept = torch.stack([d[0].float().mean() for d in dropped]).mean().item()
    assert kept == pytest.approx(0.5, abs=0.05)
    with pytest.raises(ValueError, match="word_dropout"):
        MultiTaskModel(model.encoder, TASKS, word_dropout=1.0)


def test_pooling_per_task(tmp_path):
    torch.manual_seed(0)
    tokenizer = train_word_tokenizer(TEXTS)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer), 16), TASKS, pooling={"sentiment": "mean_max", "qtype": "attention"})
    assert model.heads["sentiment"].layers[1].in_features == 32 and model.heads["qtype"].layers[1].in_features == 16
    model.save_pretrained(tmp_path, tokenizer)
    assert MultiTaskModel.from_pretrained(tmp_path).pooling_modes == {"sentiment": "mean_max", "qtype": "attention"}
    with pytest.raises(ValueError, match="pooling modes given for"):
        MultiTaskModel(model.encoder, TASKS, pooling={"sentiment": "mean"})


def test_a_context_free_encoder_lets_attention_score_each_word_once(data_dir, monkeypatch):
    """Word vectors alone are context-free (equal ids, equal vectors), so the model passes the ids to
    attention pooling, which scores each distinct word once: on real TREC questions the logits equal
    those of scoring every position. A convolution or bigrams make the encoder context-dependent."""
    from mtl_text.data.splits import load_task_splits
    from mtl_text.data.tasks import get_task

    assert WordVectorEncoder(10, 4).context_free
    assert not WordVectorEncoder(10, 4, conv_filters=2).context_free and not WordVectorEncoder(10, 4, bigram_buckets=8).context_free
    texts = load_task_splits(get_task("trec"), str(data_dir))["test"]["text"][:200]
    tokenizer = train_word_tokenizer(texts)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer), 16), TASKS, pooling="attention", head_hidden_size=8).eval()
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    seen = []
    model.poolers["qtype"].attention.register_forward_hook(lambda module, args, out: seen.append(args[2] is not None))
    fast = model.predict_logits(enc["input_ids"], enc["attention_mask"])
    monkeypatch.setattr(WordVectorEncoder, "context_free", property(lambda self: False))
    slow = model.predict_logits(enc["input_ids"], enc["attention_mask"])
    assert seen == [True, False]
    for task in TASKS:
        assert torch.allclose(fast[task], slow[task], atol=1e-5)
