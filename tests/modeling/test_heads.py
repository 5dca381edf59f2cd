"""Heads own their loss, decoding and metrics: a new head type is one class, registered in one place
(here, inside the test), and trains, saves, reloads and predicts without touching the library."""

import json

import pytest
import torch
from torch import nn

import mtl_text
from mtl_text.modeling.heads import HEAD_TYPES, Head, SingleLabelClassificationHead, register_head_type

from helpers import USER_TASK, write_user_task


class MarginHead(Head):
    """A toy problem type: multi-class hinge loss, scores squashed by a sigmoid, one metric."""

    problem_type = "toy_margin"
    metric_names = ("hit_rate",)
    calls = 0

    def loss(self, logits, labels, reduction="mean"):
        MarginHead.calls += 1
        return nn.functional.multi_margin_loss(logits.float(), labels, reduction=reduction)

    def probabilities(self, logits):
        return torch.sigmoid(logits.float())

    def decode(self, logits):
        return logits.argmax(-1)

    def compute_metrics(self, predictions, references):
        return {"hit_rate": float((torch.as_tensor(predictions) == torch.as_tensor(references)).float().mean())}

    def format_prediction(self, probabilities):
        return {"scores": {label: round(float(p), 4) for label, p in zip(self.labels, probabilities)}}


def margin_task(tmp_path, suffix):
    """The easy user task of tests/helpers.py, declared with the toy problem type; its data folder."""
    data = tmp_path / "data"
    data.mkdir()
    path = write_user_task(data, suffix)
    path.write_text(USER_TASK.replace("{suffix}", suffix).replace("max_length=32", "max_length=32, problem_type='toy_margin'"))
    mtl_text.load_task_file(path)
    return data


@pytest.fixture
def margin_head():
    register_head_type(MarginHead)
    yield MarginHead
    HEAD_TYPES.pop(MarginHead.problem_type)


def test_a_new_head_type_trains_saves_reloads_and_predicts(margin_head, tmp_path):
    data = margin_task(tmp_path, "margin")
    out = tmp_path / "model"
    config = mtl_text.TrainingConfig.from_options(
        tasks=["punctuation_margin"], data_dir=str(data), max_steps=40, eval_every=20, batch_size=8, embedding_dim=16, w2v_epochs=1,
        min_word_frequency=1, metric_for_best="primary", cache_dir="none", save_total_limit=0, output_dir=str(out))
    result = mtl_text.train(config)
    assert MarginHead.calls >= 40  # the loop called the head's own loss
    assert set(result.metrics["punctuation_margin"]) == {"hit_rate", "loss", "examples"}
    assert result.metrics["punctuation_margin"]["hit_rate"] > 0.9  # an easy task, really learned
    assert json.loads((out / "config.json").read_text())["tasks"]["punctuation_margin"]["problem_type"] == "toy_margin"
    [output] = mtl_text.Predictor.from_pretrained(out).predict(["is this a question ?"])
    assert set(output["predictions"]["punctuation_margin"]["scores"]) == {"question", "statement"}


def test_metric_for_best_must_be_reported_by_every_head(margin_head, tmp_path):
    data = margin_task(tmp_path, "margin2")
    config = mtl_text.TrainingConfig.from_options(tasks=["punctuation_margin2"], data_dir=str(data), output_dir=str(tmp_path / "m"),
                                                  metric_for_best="accuracy")
    with pytest.raises(mtl_text.ConfigError, match="--metric-for-best accuracy: not a metric \\(higher is better\\) of the head of"):
        mtl_text.train(config)


def test_r_drop_needs_every_head_to_define_a_consistency_loss(margin_head, tmp_path):
    data = margin_task(tmp_path, "margin3")
    config = mtl_text.TrainingConfig.from_options(tasks=["punctuation_margin3"], data_dir=str(data), output_dir=str(tmp_path / "m"),
                                                  r_drop=1.0)
    with pytest.raises(mtl_text.ConfigError, match=r"--r-drop needs each head's consistency loss; the head type of "
                                                   r"\['punctuation_margin3'\] defines none"):
        mtl_text.train(config)


def test_single_label_head_loss_decoding_and_metrics():
    head = SingleLabelClassificationHead(4, ["a", "b", "c"], hidden_size=0, dropout=0.0)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1])
    assert head.loss(logits, labels).item() == pytest.approx(nn.functional.cross_entropy(logits, labels).item())
    assert head.loss(logits, labels, reduction="sum").item() == pytest.approx(2 * head.loss(logits, labels).item())
    assert head.decode(logits).tolist() == [0, 2]
    assert torch.allclose(head.probabilities(logits).sum(-1), torch.ones(2))
    metrics = head.compute_metrics(torch.tensor([0, 2]), labels)
    assert metrics["accuracy"] == 0.5 and metrics["macro_f1"] == pytest.approx((1 + 0 + 0) / 3)
    assert set(metrics) == {"accuracy", "macro_f1", "matthews_corrcoef"} and -1 <= metrics["matthews_corrcoef"] <= 1
    assert head.format_prediction(head.probabilities(logits)[1])["label"] == "c"
    assert head.primary_metric == "accuracy"


def test_class_reports_give_each_class_its_figures_and_the_confusions():
    from mtl_text.inference.evaluation import format_class_report
    from mtl_text.modeling.heads import MultiLabelClassificationHead, RegressionHead

    head = SingleLabelClassificationHead(4, ["a", "b", "c", "d"], hidden_size=0, dropout=0.0)
    predictions, references = torch.tensor([0, 0, 1, 2, 2, 1]), torch.tensor([0, 1, 1, 2, 0, 1])
    report = head.class_report(predictions, references)
    figures = {label: (f["precision"], f["recall"], f["support"]) for label, f in report["per_class"].items()}
    assert figures == {"a": (0.5, 0.5, 2), "b": (1.0, pytest.approx(2 / 3), 3), "c": (0.5, 1.0, 1), "d": (0.0, 0.0, 0)}
    assert report["per_class"]["c"]["f1"] == pytest.approx(2 / 3) and report["per_class"]["d"]["f1"] == 0.0
    assert report["confusion_matrix"] == [[1, 0, 1, 0], [1, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]  # rows: references
    macro = head.compute_metrics(predictions, references)["macro_f1"]
    assert sum(f["f1"] for f in report["per_class"].values()) / 4 == pytest.approx(macro)  # the same figures as the metrics
    text = format_class_report(report)
    assert "| b | 1.0000 | 0.6667 | 0.8000 | 3 |" in text and text.endswith("examples): a -> c: 1; b -> a: 1")

    multi = MultiLabelClassificationHead(4, ["joy", "anger"], hidden_size=0, dropout=0.0)
    report = multi.class_report(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    assert report["per_class"] == {"joy": {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1},
                                   "anger": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}}
    assert "confusion_matrix" not in report and "most confused" not in format_class_report(report)
    assert RegressionHead(4, ["score"], hidden_size=0).class_report(torch.zeros(3, 1), torch.zeros(3, 1)) is None


def test_register_head_type_refuses_a_taken_name_and_an_incomplete_class():
    class Copy(SingleLabelClassificationHead):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_head_type(Copy)

    class Nameless(Head):
        pass

    with pytest.raises(ValueError, match="needs a problem_type"):
        register_head_type(Nameless)
