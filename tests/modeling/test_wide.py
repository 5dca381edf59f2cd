"""The wide part (hashed TF-IDF n-grams, a linear model per task beside the deep head): its features
are scikit-learn's TF-IDF of the same n-grams; n-grams never span padding or the two texts of a
pair; it starts at zero and learns only the rows of the n-grams it saw; it is saved, restored and
refused where it cannot go (cached features); trained on real SST-2 it lifts a linear model (its ONNX
export: tests/inference/test_onnx.py)."""

import json

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from mtl_text import ConfigError, ModelLoadError
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.modeling.wide import WideNgrams, ngram_buckets
from mtl_text.training.config import TrainingConfig
from mtl_text.training.optimization import parameter_groups

from helpers import predictor_accuracy

TEXTS = ["a dull , dull film", "great fun", "", "the film is great fun , not dull", "dull"]


def test_ngrams_stop_at_padding_and_at_the_pair_boundary():
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 8, 9]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    segments = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 1]])
    grams = ngram_buckets(ids, mask, 1_000_003, 2, segments)
    unigrams, bigrams = grams[:, :4], grams[:, 4:]
    assert (unigrams != 0).tolist() == [[True, True, True, False], [True, True, True, True]]
    # bigrams end at tokens 1.. of a text: none at a text's first token, padding, or the second text's first token
    assert (bigrams != 0).tolist() == [[False, True, True, False], [False, True, False, True]]
    assert unigrams[0, 0] == unigrams[1, 0] and bigrams[0, 1] == bigrams[1, 1]  # "5", "5 6" hash alike everywhere
    assert unigrams[0, 2] != unigrams[1, 2]  # 7 vs 8
    assert len({*unigrams[1].tolist(), *bigrams[1, [1, 3]].tolist()}) == 6  # words and word pairs in distinct rows


def test_weights_are_scikit_learns_sublinear_tfidf_of_the_same_ngrams():
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    rows = tokenizer(TEXTS)["input_ids"]
    wide = WideNgrams(buckets=4096, num_outputs=2, ngrams=2)
    wide.fit_idf(rows)
    ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    mask = (torch.arange(ids.shape[1]) < torch.tensor([len(r) for r in rows]).unsqueeze(1)).long()
    buckets, offsets, weights = wide.bags(ids, mask)
    ours = np.zeros((len(rows), 4097))
    ends = [*offsets.tolist()[1:], len(buckets)]
    for i, (start, end) in enumerate(zip(offsets.tolist(), ends)):
        ours[i, buckets[start:end].numpy()] = weights[start:end].numpy()
    grams = ngram_buckets(ids, mask, 4096, 2)
    docs = [[str(g) for g in row.tolist() if g] for row in grams]
    vectorizer = TfidfVectorizer(analyzer=lambda doc: doc, sublinear_tf=True)
    theirs = vectorizer.fit_transform(docs).toarray()
    columns = [int(name) for name in vectorizer.get_feature_names_out()]
    np.testing.assert_allclose(ours[:, columns], theirs, rtol=1e-5, atol=1e-6)
    assert ours.sum() == pytest.approx(theirs.sum(), rel=1e-5)  # no weight outside sklearn's columns
    assert offsets[2] == offsets[3]  # the empty text has an empty bag
    assert "dull" in TEXTS[0] and ours[0].max() > 0


def test_the_onnx_layout_gives_the_same_weights_on_real_text(data_dir):
    """dense_tfidf (the ONNX graph's form: one row per text, no scatter-adds) against bags (PyTorch's),
    on real SST-2 sentences with repeated words, an empty text, and sentence pairs."""
    import mtl_text
    from mtl_text.data.splits import column

    texts = column(mtl_text.load_test_split("sst2", data_dir), "text")[:200] + ["", "the the the film film"]
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    wide = WideNgrams(buckets=1 << 18, num_outputs=2, ngrams=2)
    wide.fit_idf(tokenizer(texts)["input_ids"][:100])  # an IDF from part of the texts: unseen n-grams too
    for pairs in (None, texts[::-1]):
        enc = tokenizer(texts, pairs, padding=True, return_tensors="pt", return_token_type_ids=pairs is not None)
        segments = enc.get("token_type_ids")
        buckets, offsets, weights = wide.bags(enc["input_ids"], enc["attention_mask"], segments)
        texts_ = torch.repeat_interleave(torch.arange(len(texts)), torch.diff(offsets, append=torch.tensor([len(buckets)])))
        expected = torch.zeros(len(texts), wide.buckets + 1).index_put_((texts_, buckets), weights)
        dense_buckets, dense_weights = wide.dense_tfidf(enc["input_ids"], enc["attention_mask"], segments)
        got = torch.zeros(len(texts), wide.buckets + 1).scatter_add_(1, dense_buckets, dense_weights)
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)
        assert (dense_weights > 0).sum() == len(buckets)  # one weight per distinct n-gram of a text
        assert got[len(texts) - 2].abs().sum() == 0 or pairs is not None  # the empty text
        assert got[len(texts) - 1, buckets[texts_ == len(texts) - 1]].gt(0).all()


def small_model(wide_buckets: int) -> tuple[MultiTaskModel, object]:
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), {"mood": {"labels": ["neg", "pos"], "max_length": 16}},
                           pooling="mean", head_hidden_size=0, wide_buckets=wide_buckets)
    if wide_buckets:
        model.wide["mood"].fit_idf(tokenizer(TEXTS)["input_ids"])
    return model, tokenizer


def batch(tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]


def test_starts_at_zero_and_learns_only_the_rows_it_saw():
    model, tokenizer = small_model(wide_buckets=1024)
    plain, _ = small_model(wide_buckets=0)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("wide.")})
    ids, mask = batch(tokenizer, TEXTS[:2])
    model.eval(), plain.eval()
    torch.testing.assert_close(model(ids, mask, task="mood"), plain(ids, mask, task="mood"))  # zero at the start
    model.train()
    out = model(ids, mask, task="mood", labels=torch.tensor([0, 1]))
    out.loss.backward()
    grad = model.wide["mood"].weight.weight.grad
    seen = set(ngram_buckets(ids, mask, 1024, 2).flatten().tolist()) - {0}
    assert {i for i in range(grad.shape[0]) if grad[i].abs().sum() > 0} == seen


def test_weight_decay_by_default_regularises_the_wide_part_and_head_not_the_word_vectors():
    assert TrainingConfig.from_options(tasks=["sst2"]).optimization.weight_decay == 0.1
    assert TrainingConfig.from_options(tasks=["sst2"], encoder="transformer", model_name_or_path="m").optimization.weight_decay == 0.0
    assert TrainingConfig.from_options(tasks=["sst2"], weight_decay=0).optimization.weight_decay == 0.0
    model, tokenizer = small_model(wide_buckets=1024)
    groups = parameter_groups(model, learning_rate=1e-2, head_learning_rate=1e-2, weight_decay=0.1)
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.1 for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in decayed}
    assert names == {"wide.mood.weight.weight", "heads.mood.layers.1.weight"}, names
    # AdamW shrinks a wide row that no text of the batch touches: the L2 penalty a linear SVM has
    model.wide["mood"].weight.weight.data.fill_(1.0)
    optimizer = torch.optim.AdamW(groups)
    ids, mask = batch(tokenizer, TEXTS[:1])
    model(ids, mask, task="mood", labels=torch.tensor([0])).loss.backward()
    optimizer.step()
    unseen = sorted(set(range(1025)) - set(ngram_buckets(ids, mask, 1024, 2).flatten().tolist()))[0]
    torch.testing.assert_close(model.wide["mood"].weight.weight[unseen], torch.full((2,), 1 - 1e-2 * 0.1))


def test_saved_and_restored_with_its_idf(tmp_path):
    model, tokenizer = small_model(wide_buckets=512)
    with torch.no_grad():
        model.wide["mood"].weight.weight.normal_()
    model.save_pretrained(tmp_path, tokenizer)
    assert json.loads((tmp_path / "config.json").read_text())["wide"] == {"buckets": 512, "ngrams": 2}
    restored = MultiTaskModel.from_pretrained(tmp_path)
    ids, mask = batch(tokenizer, TEXTS)
    torch.testing.assert_close(restored.wide["mood"].idf, model.wide["mood"].idf)
    torch.testing.assert_close(restored(ids, mask, task="mood"), model.eval()(ids, mask, task="mood"))
    assert not restored.can_cache_features("mood")


def test_a_bad_config_is_refused(tmp_path):
    model, tokenizer = small_model(wide_buckets=64)
    model.save_pretrained(tmp_path / "model", tokenizer)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["wide"]["buckets"] = 0
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="wide.buckets"):
        MultiTaskModel.from_pretrained(tmp_path / "model", verify_hashes=False)
    with pytest.raises(ValueError, match="wide_buckets"):
        small_model(wide_buckets=-1)


def test_on_by_default_with_word_vectors_and_in_training_each_part_also_learns_alone():
    from mtl_text.training.config import DEFAULT_WIDE_BUCKETS, TrainingConfig

    assert TrainingConfig.from_options(tasks=["sst2"]).heads.wide_buckets == DEFAULT_WIDE_BUCKETS
    assert TrainingConfig.from_options(tasks=["sst2"], encoder="transformer", model_name_or_path="m").heads.wide_buckets == 0
    assert TrainingConfig.from_options(tasks=["sst2"], wide_buckets=4096).heads.wide_buckets == 4096
    assert TrainingConfig.from_options(tasks=["sst2"], wide_buckets=0).heads.wide_buckets == 0
    with pytest.raises(ConfigError, match="wide"):
        TrainingConfig.from_options(tasks=["sst2"], wide_buckets=-1)
    model, tokenizer = small_model(wide_buckets=256)
    with torch.no_grad():
        model.wide["mood"].weight.weight.normal_()
    ids, mask = batch(tokenizer, TEXTS)
    labels = torch.tensor([0, 1, 0, 1, 0])
    head = model.heads["mood"]
    model.eval()
    out = model(ids, mask, task="mood", labels=labels)
    wide = model.wide["mood"](ids, mask)
    torch.testing.assert_close(out.loss, head.loss(out.logits, labels))  # evaluation: the task's loss only
    torch.manual_seed(1)
    model.train()
    trained = model(ids, mask, task="mood", labels=labels)
    torch.manual_seed(1)
    deep = head(model.pool("mood", model.encoder(ids, mask), model._pooling_mask(mask), None))
    torch.testing.assert_close(trained.logits, deep + wide)
    torch.testing.assert_close(trained.loss, head.loss(deep + wide, labels) + head.loss(deep, labels) + head.loss(wide, labels))
    torch.testing.assert_close(trained.head_loss, head.loss(deep + wide, labels))


def test_on_real_sst2_the_wide_part_lifts_a_linear_model(data_dir):
    """Word vectors frozen at random and a linear head cannot learn much from 2,000 sentences; the
    wide part, trained the same way, learns their words."""
    from mtl_text.data.tasks import get_task

    splits = get_task("sst2").load(data_dir)
    texts, labels = list(splits["train"]["text"])[:2000], torch.tensor(list(splits["train"]["label"])[:2000])
    test_texts, test_labels = list(splits["test"]["text"]), torch.tensor(list(splits["test"]["label"]))
    tokenizer = train_word_tokenizer(texts, min_frequency=1)
    scores = {}
    for buckets in (0, 2**16):
        torch.manual_seed(0)
        model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 16, freeze=True),
                               {"sst2": {"labels": ["negative", "positive"], "max_length": 64}}, pooling="mean", head_hidden_size=0,
                               wide_buckets=buckets)
        if buckets:
            model.wide["sst2"].fit_idf(tokenizer(texts)["input_ids"])
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
        for _ in range(3):
            for start in range(0, len(texts), 32):
                ids, mask = batch(tokenizer, texts[start: start + 32])
                loss = model(ids, mask, task="sst2", labels=labels[start: start + 32]).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            ids, mask = batch(tokenizer, test_texts)
            scores[buckets] = (model(ids, mask, task="sst2").argmax(-1) == test_labels).float().mean().item()
    assert scores[2**16] > scores[0] + 0.05, scores


def test_trained_on_real_data_predictor_matches_the_test_table(tmp_path, data_dir):
    """Training fits each task's IDF on its tokenized training split (pairs too), saves the wide part,
    and the Predictor's test accuracy equals the run's test table."""
    import mtl_text
    from mtl_text import DataArguments, OptimizationArguments, TrainingConfig

    config = TrainingConfig(data=DataArguments(tasks=["trec", "mrpc"], data_dir=str(data_dir), max_train_examples=300, cache_dir="none"),
                            optimization=OptimizationArguments(max_steps=30, batch_size=16, seed=3))
    config.encoder.embedding_dim, config.encoder.w2v_epochs, config.heads.wide_buckets = 16, 1, 8192
    config.checkpoints.output_dir, config.checkpoints.save_total_limit = str(tmp_path), 0
    result = mtl_text.train(config)
    model = MultiTaskModel.from_pretrained(tmp_path)
    assert model.wide_buckets == 8192 and set(model.wide) == {"trec", "mrpc"}
    assert all((model.wide[t].idf > 1).any() and model.wide[t].weight.weight.abs().sum() > 0 for t in model.wide)
    assert predictor_accuracy(tmp_path, data_dir, "trec", seed=3) == pytest.approx(result.metrics["trec"]["accuracy"], abs=1e-9)


def test_init_from_reuses_a_head_with_its_wide_part_only_when_both_have_the_same():
    from mtl_text.transfer.initialization import transfer_heads

    source, _ = small_model(wide_buckets=128)
    with torch.no_grad():
        source.wide["mood"].weight.weight.normal_()
    same, _ = small_model(wide_buckets=128)
    assert transfer_heads(same, source) == ["mood"]
    torch.testing.assert_close(same.wide["mood"].state_dict(), source.wide["mood"].state_dict())
    for other in (0, 256):
        target, _ = small_model(wide_buckets=other)
        assert transfer_heads(target, source) == []


@pytest.mark.parametrize("problem_type, labels, targets", [
    ("multi_label_classification", ["joy", "anger", "fear"], torch.tensor([[1.0, 0, 0], [0, 1, 1], [0, 0, 0], [1, 1, 0], [0, 0, 1]])),
    ("regression", ["similarity"], torch.tensor([[0.5], [2.0], [1.0], [4.5], [3.0]])),
])
def test_every_problem_type_gets_a_wide_part_of_its_outputs(problem_type, labels, targets):
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8),
                           {"t": {"labels": labels, "max_length": 16, "problem_type": problem_type}}, pooling="mean",
                           head_hidden_size=0, wide_buckets=256)
    model.wide["t"].fit_idf(tokenizer(TEXTS)["input_ids"])
    ids, mask = batch(tokenizer, TEXTS)
    out = model.train()(ids, mask, task="t", labels=targets)
    assert out.logits.shape == (len(TEXTS), len(labels)) and torch.isfinite(out.loss)
    out.loss.backward()
    assert model.wide["t"].weight.weight.grad.abs().sum() > 0


def test_a_wide_part_for_some_tasks_only_saves_loads_and_leaves_the_others_deep(tmp_path):
    """``wide_tasks``: a wide part for "mood" alone; "topic" scores by its deep part, as in a model
    without any wide part; the choice is saved in config.json and restored."""
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    tasks = {"mood": {"labels": ["neg", "pos"], "max_length": 16}, "topic": {"labels": ["a", "b", "c"], "max_length": 16}}

    def build(**wide):
        torch.manual_seed(0)
        return MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), tasks, pooling="mean", head_hidden_size=0, **wide)

    model, plain = build(wide_buckets=128, wide_tasks=["mood"]), build()
    assert list(model.wide) == ["mood"]
    model.wide["mood"].fit_idf(tokenizer(TEXTS)["input_ids"])
    with torch.no_grad():
        model.wide["mood"].weight.weight.normal_()
    ids, mask = batch(tokenizer, TEXTS)
    model.eval(), plain.eval()
    torch.testing.assert_close(model(ids, mask, task="topic"), plain(ids, mask, task="topic"))
    assert not torch.allclose(model(ids, mask, task="mood"), plain(ids, mask, task="mood"))
    model.save_pretrained(tmp_path / "model", tokenizer)
    assert json.loads((tmp_path / "model" / "config.json").read_text())["wide"] == {"buckets": 128, "ngrams": 2, "tasks": ["mood"]}
    restored = MultiTaskModel.from_pretrained(tmp_path / "model")
    assert list(restored.wide) == ["mood"]
    for task in tasks:
        torch.testing.assert_close(restored(ids, mask, task=task), model(ids, mask, task=task))
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    config["wide"]["tasks"] = ["mood", "weather"]
    (tmp_path / "model" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"wide\.tasks"):
        MultiTaskModel.from_pretrained(tmp_path / "model", verify_hashes=False)
    with pytest.raises(ValueError, match=r"wide parts asked for \['weather'\]"):
        build(wide_buckets=128, wide_tasks=["weather"])


def test_which_tasks_get_a_wide_part_and_its_svm():
    """GoEmotions' task asks for none (measured); --wide-tasks overrides; --wide-svm cannot name a
    task without one, and its defaults skip such a task."""
    from mtl_text.data.tasks import get_task
    from mtl_text.errors import ConfigError

    def chosen(**options):
        heads = TrainingConfig.from_options(tasks=["20newsgroups", "goemotions", "sst2"], **options).heads
        tasks = {n: get_task(n) for n in ("20newsgroups", "goemotions", "sst2")}
        return heads.wide_task_names(tasks), heads.wide_svm_tasks(tasks)

    assert chosen() == (["20newsgroups", "sst2"], ["20newsgroups"])
    assert chosen(wide_tasks=["all"]) == (["20newsgroups", "goemotions", "sst2"], ["20newsgroups"])
    assert chosen(wide_tasks=["sst2"]) == (["sst2"], [])  # 20NG's SVM needs its wide part: skipped by default
    assert chosen(wide_tasks=["none"]) == ([], []) and chosen(wide_buckets=0) == ([], [])
    with pytest.raises(ConfigError, match=r"--wide-svm fits a task's wide part, and \['20newsgroups'\] have none"):
        chosen(wide_tasks=["sst2"], wide_svm=["20newsgroups"])
    with pytest.raises(ConfigError, match="--wide-tasks names task"):
        chosen(wide_tasks=["trec"])
