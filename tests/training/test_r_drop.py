"""R-Drop (--r-drop): each head's consistency loss between two predictions, checked by hand; a
real run on SST-2 that logs it and leaves a model whose dropout passes agree more than the same run
without it; the configurations it refuses."""

import json

import pytest
import torch
from torch import nn

import mtl_text
from mtl_text import ConfigError, TrainingConfig
from mtl_text.data.splits import column
from mtl_text.modeling.heads import MultiLabelClassificationHead, RegressionHead, SingleLabelClassificationHead

SMALL = {"max_train_examples": 300, "embedding_dim": 16, "w2v_epochs": 1, "cache_dir": "none", "save_total_limit": 0, "patience": 0}
A = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
B = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]])


def test_single_label_consistency_is_the_symmetric_kl_of_the_two_softmaxes():
    head = SingleLabelClassificationHead(4, ["a", "b", "c"], hidden_size=0, dropout=0.0, label_smoothing=0.2)
    log_a, log_b = A.log_softmax(-1), B.log_softmax(-1)
    kl_ab = nn.functional.kl_div(log_b, log_a, log_target=True, reduction="batchmean")  # KL(P_a || P_b)
    kl_ba = nn.functional.kl_div(log_a, log_b, log_target=True, reduction="batchmean")
    assert head.consistency_loss(A, B).item() == pytest.approx((kl_ab + kl_ba).item() / 2)  # label smoothing plays no part
    assert head.consistency_loss(B, A).item() == pytest.approx(head.consistency_loss(A, B).item())
    assert head.consistency_loss(A, A + 5.0).item() == pytest.approx(0.0, abs=1e-6)  # the same distribution


def test_multi_label_consistency_is_the_symmetric_kl_of_each_labels_bernoulli():
    head = MultiLabelClassificationHead(4, ["x", "y", "z"], hidden_size=0, dropout=0.0)
    p, q = torch.sigmoid(A), torch.sigmoid(B)
    kl_pq = p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()
    kl_qp = q * (q / p).log() + (1 - q) * ((1 - q) / (1 - p)).log()
    assert head.consistency_loss(A, B).item() == pytest.approx(((kl_pq + kl_qp) / 2).mean().item(), rel=1e-5)
    assert head.consistency_loss(A, A).item() == 0.0


def test_regression_consistency_is_the_mean_squared_difference():
    head = RegressionHead(4, ["s", "t", "u"], hidden_size=0, dropout=0.0, target_mean=[1.0] * 3, target_std=[2.0] * 3)
    assert head.consistency_loss(A, B).item() == pytest.approx(((A - B) ** 2).mean().item())


def disagreement(model_dir, texts) -> float:
    """The mean consistency loss between two training-mode passes (dropout on) over ``texts``."""
    predictor = mtl_text.Predictor.from_pretrained(model_dir)
    ids, mask, _ = predictor.encode(texts, 66)
    model = predictor.model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        return sum(model.head("sst2").consistency_loss(model(ids, mask, task="sst2"), model(ids, mask, task="sst2")).item()
                   for _ in range(5)) / 5


def test_r_drop_trains_logs_its_loss_and_makes_dropout_passes_agree(data_dir, tmp_path):
    texts = column(mtl_text.load_task_splits("sst2", data_dir, seed=5, max_train_examples=300)["validation"], "text")[:200]
    scores = {}
    for alpha in (0.0, 4.0):
        out = tmp_path / f"alpha{alpha}"
        result = mtl_text.train(TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), r_drop=alpha, head_dropout=0.3,
                                                            max_steps=80, eval_every=80, log_every=20, seed=5, output_dir=str(out),
                                                            **SMALL))
        logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        train_rows = [r for r in logged if r["split"] == "train"]
        assert len(train_rows) == 4
        if alpha:
            assert all(r["consistency"]["sst2"] > 0 for r in train_rows)
        else:
            assert all("consistency" not in r for r in train_rows)
        assert result.steps == 80 and 0.5 < result.metrics["sst2"]["accuracy"] <= 1.0
        scores[alpha] = disagreement(out, texts)
    assert scores[4.0] < scores[0.0]


def test_r_drop_refuses_what_it_cannot_double(data_dir):
    with pytest.raises(ConfigError, match="--r-drop doubles each sampled task's batch: it excludes --sampling all and --adapt"):
        TrainingConfig.from_options(tasks=["sst2", "trec"], r_drop=1.0, sampling="all")
    with pytest.raises(ConfigError, match="--r-drop doubles"):
        TrainingConfig.from_options(tasks=["amazon_books"], r_drop=1.0, adapt=["amazon_books=amazon_kitchen"])
    with pytest.raises(ConfigError, match="--r-drop must be a number >= 0, got -1.0"):
        TrainingConfig.from_options(tasks=["sst2"], r_drop=-1.0)
