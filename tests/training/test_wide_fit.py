"""--wide-svm: a linear SVM fitted on each chosen task's wide-part features, added with the weight fitted
on validation by the head's loss. Its margins rank classes as scikit-learn's LinearSVC predicts
(multi-class, binary, multi-label); adding it changes the logits by exactly the fitted weight times
the margins; the weight follows the informative model; training with it saves a model whose
predictions equal the test table; it is refused without a wide part, for unknown tasks and for
regression tasks."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from sklearn.svm import LinearSVC
from torch.utils.data import DataLoader

import mtl_text
from mtl_text import ConfigError, DataArguments, OptimizationArguments, TrainingConfig
from mtl_text.data.collation import PaddingCollator
from mtl_text.data.tasks import get_task
from mtl_text.data.tokenization import tokenize_splits, train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.config import DEFAULT_WIDE_BUCKETS
from mtl_text.training.wide_fit import add_svm_to_wide, check_tasks, stacking_weight, svm_margins, wide_features

from helpers import predictor_accuracy


def real_task(data_dir, name, n_train):
    """A small word-vector model with a wide part for a real task, its tokenized splits and a collator."""
    splits = mtl_text.load_task_splits(name, data_dir, seed=0)
    splits["train"] = splits["train"].select(range(n_train))
    tokenizer = train_word_tokenizer(splits["train"]["text"], min_frequency=1)
    tokenized = tokenize_splits(splits, tokenizer, 64)
    task = get_task(name)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), {name: {"labels": task.labels, "max_length": 64}},
                           pooling="mean", head_hidden_size=0, wide_buckets=2**15)
    model.wide[name].fit_idf(tokenized["train"]["input_ids"])
    model.eval()
    return model, tokenized, PaddingCollator(tokenizer)


def features_of(model, name, dataset, collator):
    columns = ["input_ids", "attention_mask", "labels"]
    return wide_features(model.wide[name], DataLoader(dataset.with_format(columns=columns), batch_size=128, collate_fn=collator))


@pytest.mark.parametrize("name", ["trec", "sst2"])
def test_margins_rank_classes_as_linear_svc_predicts(data_dir, name):
    model, tokenized, collator = real_task(data_dir, name, 1500)
    x_train, y_train = features_of(model, name, tokenized["train"], collator)
    x_test, _ = features_of(model, name, tokenized["test"], collator)
    assert x_train.shape == (1500, 2**15 + 1)
    np.testing.assert_allclose(np.asarray(x_train.multiply(x_train).sum(1)).ravel(), 1.0, rtol=1e-5)  # L2-normalised rows
    margins = svm_margins(x_train, y_train, model.head(name).num_outputs, C=1.0, seed=0)
    assert margins.shape == (2**15 + 1, model.head(name).num_outputs)
    expected = LinearSVC(C=1.0, fit_intercept=False, random_state=0).fit(x_train, y_train).predict(x_test)
    predicted = (x_test @ margins.double().numpy()).argmax(1)
    assert (predicted == expected).mean() > 0.995  # float32 weights: a near-tie may flip
    if name == "sst2":  # binary: one margin, split as (-m / 2, m / 2)
        torch.testing.assert_close(margins[:, 0], -margins[:, 1])


def test_multi_label_margins_are_one_svm_per_label(data_dir):
    model, tokenized, collator = real_task(data_dir, "trec", 1000)
    x, y = features_of(model, "trec", tokenized["train"], collator)
    labels = np.stack([y == 0, (y == 1) | (y == 2), np.zeros_like(y)], 1).astype(np.float32)  # the last label never occurs
    margins = svm_margins(x, labels, 3, C=1.0, seed=0).double().numpy()
    for j in range(2):
        expected = LinearSVC(C=1.0, fit_intercept=False, random_state=0).fit(x, labels[:, j]).decision_function(x)
        np.testing.assert_allclose(x @ margins[:, j], expected, atol=1e-4)
    assert not margins[:, 2].any()


def test_adds_the_fitted_multiple_of_the_margins(data_dir):
    model, tokenized, collator = real_task(data_dir, "trec", 1500)
    accelerator = Accelerator(cpu=True)
    val = DataLoader(tokenized["validation"].with_format(columns=["input_ids", "attention_mask", "labels"]), batch_size=256,
                     collate_fn=collator)
    batch = collator(tokenized["test"].select(range(64)).with_format(columns=["input_ids", "attention_mask"])[:])
    with torch.no_grad():
        before = model(batch["input_ids"], batch["attention_mask"], task="trec")
    x, y = features_of(model, "trec", tokenized["train"], collator)
    margins = svm_margins(x, y, 6, C=1.0, seed=42)
    report = add_svm_to_wide(model, {"trec": tokenized["train"]}, collator, {"trec": val}, accelerator, C=1.0, seed=42)["trec"]
    assert report["alpha"] > 0.1
    assert report["validation_after"] >= report["validation_before"] + 0.2  # an untrained deep part: the SVM decides
    with torch.no_grad():
        after = model(batch["input_ids"], batch["attention_mask"], task="trec")
        model.wide["trec"].weight.weight.copy_(margins)  # the margins alone, through the wide part's own lookup
        expected = before + report["alpha"] * model.wide["trec"](batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-4)


def test_refused_without_a_wide_part_for_unknown_tasks_and_for_regression():
    with pytest.raises(ConfigError, match="--wide-buckets"):
        TrainingConfig.from_options(tasks=["trec"], wide_svm=["all"], wide_buckets=0)
    with pytest.raises(ConfigError, match="--wide-buckets"):  # a transformer has no wide part by default
        TrainingConfig.from_options(tasks=["trec"], wide_svm=["trec"], encoder="transformer", model_name_or_path="some/model")
    with pytest.raises(ConfigError, match="'none' excludes"):
        TrainingConfig.from_options(tasks=["trec"], wide_svm=["none", "trec"])
    trec_stsb = {"trec": get_task("trec"), "stsb": get_task("stsb")}
    config = TrainingConfig.from_options(tasks=["trec", "stsb"], wide_svm=["trec"], wide_buckets=64)
    assert config.heads.wide_svm_tasks(trec_stsb) == ["trec"]
    with pytest.raises(ConfigError, match="sst2"):  # a task the run does not train
        TrainingConfig.from_options(tasks=["trec"], wide_svm=["sst2"], wide_buckets=64).heads.wide_svm_tasks({"trec": get_task("trec")})
    with pytest.raises(ConfigError, match="stsb"):
        check_tasks(trec_stsb, ["trec", "stsb"])
    with pytest.raises(ValueError, match="regression"):  # a task file cannot ask for it either
        dataclasses.replace(get_task("stsb"), wide_svm=True)


def test_by_default_the_tasks_that_ask_for_it_where_there_is_a_wide_part():
    tasks = {name: get_task(name) for name in ("20newsgroups", "sst2", "stsb")}
    assert [name for name, task in tasks.items() if task.wide_svm] == ["20newsgroups"]
    config = TrainingConfig.from_options(tasks=list(tasks))
    assert config.heads.wide_buckets == DEFAULT_WIDE_BUCKETS  # word vectors: a wide part per task by default
    assert config.heads.wide_svm_tasks(tasks) == ["20newsgroups"]
    assert TrainingConfig.from_options(tasks=list(tasks), wide_svm=["none"]).heads.wide_svm_tasks(tasks) == []
    assert TrainingConfig.from_options(tasks=list(tasks), wide_svm=["sst2"]).heads.wide_svm_tasks(tasks) == ["sst2"]
    assert TrainingConfig.from_options(tasks=list(tasks), wide_buckets=0).heads.wide_svm_tasks(tasks) == []
    transformer = TrainingConfig.from_options(tasks=list(tasks), encoder="transformer", model_name_or_path="some/model")
    assert transformer.heads.wide_buckets == 0 and transformer.heads.wide_svm_tasks(tasks) == []


def test_training_with_it_saves_a_model_that_predicts_the_test_table(tmp_path, data_dir):
    config = TrainingConfig(data=DataArguments(tasks=["trec", "mrpc"], data_dir=str(data_dir), max_train_examples=400, cache_dir="none"),
                            optimization=OptimizationArguments(max_steps=30, batch_size=16, seed=3))
    config.encoder.embedding_dim, config.encoder.w2v_epochs = 16, 1
    config.heads.wide_buckets, config.heads.wide_svm = 8192, ["trec"]  # MRPC's wide part stays as trained
    config.checkpoints.output_dir, config.checkpoints.save_total_limit = str(tmp_path), 0
    result = mtl_text.train(config)
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    fitted = next(entry["tasks"] for entry in logged if entry.get("split") == "wide-svm")
    assert set(fitted) == {"trec"}
    assert json.loads((tmp_path / "config.json").read_text())["wide_svm"] == fitted  # the saved model says what it holds
    assert all(f["validation_after"] >= f["validation_before"] for f in fitted.values())
    assert predictor_accuracy(tmp_path, data_dir, "trec", seed=3) == pytest.approx(result.metrics["trec"]["accuracy"], abs=1e-9)


def test_stacking_weight_follows_the_informative_model():
    """Margins that are noise get a weight near 0; margins that carry the labels, beside logits that
    are noise, get a large one."""
    from mtl_text.modeling.heads import SingleLabelClassificationHead

    head = SingleLabelClassificationHead(4, get_task("trec").labels, hidden_size=0)
    generator = torch.Generator().manual_seed(0)
    refs = torch.randint(0, 6, (600,), generator=generator)
    informative = 3.0 * torch.nn.functional.one_hot(refs, 6).float() + torch.randn(600, 6, generator=generator)
    noise = torch.randn(600, 6, generator=generator)
    assert stacking_weight(head, informative, noise, refs) < 0.05
    assert stacking_weight(head, noise, informative, refs) > 20


def test_stacking_weight_ignores_label_smoothing():
    """The stacking fit minimises the plain cross-entropy: under a label-smoothed loss it would
    shrink the weight of confident, correct margins (the 20 Newsgroups SVM's weight fell from 24 to
    1e-4 in a real run before this)."""
    from mtl_text.modeling.heads import SingleLabelClassificationHead

    labels = get_task("trec").labels
    plain = SingleLabelClassificationHead(4, labels, hidden_size=0)
    smoothed = SingleLabelClassificationHead(4, labels, hidden_size=0, label_smoothing=0.1)
    generator = torch.Generator().manual_seed(1)
    refs = torch.randint(0, 6, (600,), generator=generator)
    logits = 1.5 * torch.nn.functional.one_hot(refs, 6).float() + torch.randn(600, 6, generator=generator)
    margins = 2.0 * torch.nn.functional.one_hot(refs, 6).float() + torch.randn(600, 6, generator=generator)
    weight = stacking_weight(plain, logits, margins, refs)
    assert weight > 0.5 and stacking_weight(smoothed, logits, margins, refs) == pytest.approx(weight, rel=1e-6)
    assert smoothed.calibration_loss(logits, refs).item() == pytest.approx(torch.nn.functional.cross_entropy(logits, refs).item())


def test_stacked_logits_far_too_large_are_flagged_unless_calibrated(caplog):
    """The stacking's scale recovers logits that are 20 times too large (labels drawn from softmax(z),
    logits 20 * z, margins that are noise), and such a task is flagged unless a temperature follows."""
    from mtl_text.modeling.heads import SingleLabelClassificationHead
    from mtl_text.training.wide_fit import stacking_scales, warn_oversure

    head = SingleLabelClassificationHead(4, get_task("trec").labels, hidden_size=0)
    generator = torch.Generator().manual_seed(2)
    z = 2.0 * torch.randn(4000, 6, generator=generator)
    refs = torch.multinomial(torch.softmax(z, -1), 1, generator=generator).squeeze(1)
    scale, weight = stacking_scales(head, 20 * z, torch.randn(4000, 6, generator=generator), refs)
    assert scale == pytest.approx(1 / 20, rel=0.1) and weight < 0.05  # the noise's own weight near 0
    report = {"trec": {"scale": scale}, "sst2": {"scale": 0.8}, "mrpc": {"scale": 0.01}}
    with caplog.at_level("WARNING", logger="mtl_text.train"):
        assert warn_oversure(report, calibrated=["mrpc"]) == ["trec"]  # sst2's are fine, mrpc's get a temperature
    assert f"task trec: after the SVM's stacking its logits are {1 / scale:.3g} times as large" in caplog.text
    assert "--calibrate trec" in caplog.text and "sst2" not in caplog.text and "mrpc" not in caplog.text
