"""Problem types beyond single-label: the multi-label head (GoEmotions) and class weights (CoLA), on
small real subsets, end to end: train, save, restore with identical outputs, predict, evaluate; and
their bad inputs."""

import json
import subprocess

import pytest
import torch
from torch import nn

from mtl_text import DataFormatError, Predictor, TrainingConfig, load_task_splits, read_tsv, train
from mtl_text.cli.predict import main as predict_main
from mtl_text.modeling.heads import MultiLabelClassificationHead, SingleLabelClassificationHead

from helpers import run_cli


def test_multi_label_head_loss_decoding_metrics_and_output():
    head = MultiLabelClassificationHead(4, ["joy", "anger", "fear"], hidden_size=0, dropout=0.0, thresholds=[0.5, 0.5, 0.9])
    logits = torch.tensor([[2.0, -2.0, 1.0], [-1.0, 3.0, 3.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    expected = nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert head.loss(logits, labels).item() == pytest.approx(expected.item())
    assert head.loss(logits, labels, reduction="sum").item() == pytest.approx(2 * expected.item())
    assert head.decode(logits).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]  # sigmoid(1) = 0.73 < 0.9: no fear
    metrics = head.compute_metrics(head.decode(logits), labels)
    assert metrics["exact_match"] == 0.5 and metrics["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))
    assert metrics["macro_f1"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    assert head.format_prediction(head.probabilities(logits)[1])["labels"] == ["anger", "fear"]
    assert head.primary_metric == "macro_f1" and head.options() == {"thresholds": [0.5, 0.5, 0.9]}
    assert MultiLabelClassificationHead.encode_label("0,2", ["joy", "anger", "fear"], "x") == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="thresholds must be 3 numbers in"):
        MultiLabelClassificationHead(4, ["joy", "anger", "fear"], thresholds=[0.5, 1.0, 0.5])


def test_class_weights_change_the_loss_as_documented():
    plain = SingleLabelClassificationHead(4, ["a", "b"], hidden_size=0, dropout=0.0)
    weighted = SingleLabelClassificationHead(4, ["a", "b"], hidden_size=0, dropout=0.0, class_weights=[3.0, 1.0])
    logits, labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]), torch.tensor([1, 1, 0])
    per_example = nn.functional.cross_entropy(logits, labels, reduction="none")
    w = torch.tensor([1.0, 1.0, 3.0])
    assert plain.loss(logits, labels).item() == pytest.approx(per_example.mean().item())
    assert weighted.loss(logits, labels).item() == pytest.approx((w * per_example).sum().item() / w.sum().item())
    assert weighted.options() == {"class_weights": [3.0, 1.0]}
    with pytest.raises(ValueError, match="class_weights must be 2 positive numbers"):
        SingleLabelClassificationHead(4, ["a", "b"], class_weights=[1.0, 0.0])


def test_label_smoothing_mixes_the_label_with_a_uniform_target():
    smoothed = SingleLabelClassificationHead(4, ["a", "b", "c"], hidden_size=0, dropout=0.0, label_smoothing=0.3)
    logits, labels = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]]), torch.tensor([0, 1])
    log_p = torch.log_softmax(logits, -1)
    by_hand = -(0.7 * log_p[torch.arange(2), labels] + 0.3 * log_p.mean(-1))  # 1 - eps on the label, eps / 3 on each label
    assert smoothed.loss(logits, labels).item() == pytest.approx(by_hand.mean().item())
    assert smoothed.loss(logits, labels, reduction="sum").item() == pytest.approx(by_hand.sum().item())
    assert smoothed.loss(logits, labels).item() > nn.functional.cross_entropy(logits, labels).item()
    assert smoothed.decode(logits).tolist() == [0, 2] and smoothed.options() == {"label_smoothing": 0.3}
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), got 1.0"):
        SingleLabelClassificationHead(4, ["a", "b"], label_smoothing=1.0)


def test_goemotions_reads_every_label_of_a_comment(data_dir):
    splits = load_task_splits("goemotions", data_dir)
    assert {s: len(d) for s, d in splits.items()} == {"train": 43410, "validation": 5426, "test": 5427}
    hot = torch.tensor(splits["train"]["label"])
    assert hot.shape == (43410, 28) and int((hot.sum(-1) > 1).sum()) == 7102 and bool((hot.sum(-1) >= 1).all())


def test_an_unknown_label_in_a_multi_label_row_is_named(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("fine comment\t3,27\tid1\nbad comment\t3,99\tid2\n")
    with pytest.raises(DataFormatError, match=rf"{path}, line 2: unknown label '99'"):
        read_tsv(path, text_field=0, label_field=1, labels=[str(i) for i in range(28)], header=False, multi_label=True)


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("types") / "model"
    config = TrainingConfig.from_options(tasks=["goemotions", "cola"], data_dir=str(data_dir), max_train_examples=600, max_steps=60,
                                         eval_every=30, embedding_dim=16, w2v_epochs=1, class_weights=["cola=balanced"],
                                         label_smoothing=0.1, cache_dir="none", save_total_limit=0, seed=3, output_dir=str(out))
    return train(config), out


def test_a_multi_label_head_scores_a_file_of_label_names(mixed_model, data_dir, tmp_path):
    """GoEmotions' test comments as JSON Lines with lists of emotion names, and as CSV with the names
    joined by commas: scored as the goemotions task's test split."""
    import csv

    from mtl_text import file_task, load_test_split
    from mtl_text.inference.evaluation import evaluate_model

    result, out = mixed_model
    labels = json.loads((out / "config.json").read_text())["tasks"]["goemotions"]["labels"]
    test = load_test_split("goemotions", data_dir)
    names = [[labels[i] for i, hot in enumerate(row) if hot] for row in test["label"]]
    (tmp_path / "comments.jsonl").write_text("".join(json.dumps({"text": t, "label": n}) + "\n" for t, n in zip(test["text"], names)))
    with open(tmp_path / "comments.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *((t, ",".join(n)) for t, n in zip(test["text"], names))])
    for name in ("comments.jsonl", "comments.csv"):
        task = file_task(tmp_path / name, labels, "multi_label_classification")
        metrics = evaluate_model(out, heads_of={task: "goemotions"})["comments"]
        assert metrics == pytest.approx(result.metrics["goemotions"], rel=1e-5)


def test_multi_label_and_weighted_tasks_train_together(mixed_model):
    result, out = mixed_model
    assert set(result.metrics["goemotions"]) == {"macro_f1", "micro_f1", "exact_match", "loss", "ece", "examples"}
    assert set(result.metrics["cola"]) == {"accuracy", "f1", "macro_f1", "matthews_corrcoef", "loss", "ece", "examples"}
    assert result.metrics["goemotions"]["examples"] == 5427 and result.metrics["cola"]["examples"] == 1043
    tasks = json.loads((out / "config.json").read_text())["tasks"]
    assert tasks["goemotions"]["problem_type"] == "multi_label_classification"
    weights = tasks["cola"]["head_options"]["class_weights"]
    assert weights[0] > 1 > weights[1]  # unacceptable is the rarer class
    assert tasks["cola"]["head_options"]["primary_metric"] == "matthews_corrcoef"  # CoLA selects on GLUE's metric
    assert tasks["cola"]["head_options"]["label_smoothing"] == 0.1  # single-label heads only
    assert "label_smoothing" not in tasks["goemotions"].get("head_options", {})


def test_a_task_chooses_its_primary_metric_among_its_heads_metrics():
    from mtl_text import Task

    assert Task(name="t", labels=["a", "b"], load=lambda d: {}, primary_metric="f1").metric_names == ("f1", "accuracy", "macro_f1",
                                                                                              "matthews_corrcoef")
    with pytest.raises(ValueError, match=r"task 't': primary_metric 'mse' must be one of \['accuracy'"):
        Task(name="t", labels=["a", "b"], load=lambda d: {}, primary_metric="mse")
    head = SingleLabelClassificationHead(4, ["a", "b", "c"], primary_metric="macro_f1")
    assert head.primary_metric == "macro_f1" and head.options() == {"primary_metric": "macro_f1"}
    with pytest.raises(ValueError, match="primary_metric 'f1' must be one of"):  # F1 of one class: two-label tasks only
        SingleLabelClassificationHead(4, ["a", "b", "c"], primary_metric="f1")


def test_restored_model_gives_identical_outputs_and_predicts_label_sets(mixed_model, data_dir, capsys):
    result, out = mixed_model
    predictor = Predictor.from_pretrained(out)
    assert predictor.model.heads["cola"].class_weights.tolist() == pytest.approx(
        json.loads((out / "config.json").read_text())["tasks"]["cola"]["head_options"]["class_weights"])
    assert predictor.model.heads["cola"].label_smoothing == 0.1
    test = load_task_splits("goemotions", data_dir)["test"]
    predicted = predictor.predict_labels(test["text"], ["goemotions"])["goemotions"]
    metrics = predictor.model.heads["goemotions"].compute_metrics(predicted, torch.tensor(test["label"]))
    assert metrics["macro_f1"] == pytest.approx(result.metrics["goemotions"]["macro_f1"], abs=1e-9)
    status, stdout, stderr = run_cli(predict_main, ["--model", str(out), "--", "Thank you, this is great!"], capsys)
    assert status == 0, stderr
    [output] = [json.loads(line) for line in stdout.splitlines()]
    assert isinstance(output["predictions"]["goemotions"]["labels"], list)
    assert len(output["predictions"]["goemotions"]["probabilities"]) == 28
    assert output["predictions"]["cola"]["label"] in ("unacceptable", "acceptable")


def readme_task_file(repo, marker: str) -> str:
    """The README's Python block that defines ``marker`` (so the README's example is what is tested)."""
    blocks = (repo / "README.md").read_text().split("```python\n")[1:]
    [code] = [b.split("```")[0] for b in blocks if marker in b]
    return code


def test_a_users_multi_label_task_from_one_file_as_in_the_readme(repo, python, tmp_path, capsys):
    """Trained by the command line (the task file registers its task in that process), then scored by predict (in-process)."""
    (tmp_path / "tickets").mkdir()
    rng = __import__("random").Random(0)
    words = {"billing": "invoice charged twice refund", "bug": "crash error broken fails", "feature-request": "please add support option",
             "urgent": "asap immediately now critical"}
    for split, n in (("train", 300), ("test", 60)):
        with open(tmp_path / "tickets" / f"{split}.jsonl", "w") as f:
            for _ in range(n):
                tags = rng.sample(sorted(words), rng.randint(1, 2))
                text = " ".join(rng.choice(words[t].split()) + " the app" for t in tags)
                f.write(json.dumps({"text": text, "label": tags}) + "\n")
    task_file = tmp_path / "my_task.py"
    task_file.write_text(readme_task_file(repo, 'name="tickets"'))
    out = tmp_path / "model"
    proc = subprocess.run([python, str(repo / "scripts" / "train.py"), "--task-file", str(task_file), "--tasks", "tickets", "--data-dir",
                           str(tmp_path), "--max-steps", "60", "--embedding-dim", "16", "--w2v-epochs", "2", "--min-word-frequency", "1",
                           "--tune-thresholds", "--output-dir", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "test_results.json").read_text())["class_reports"]["tickets"]
    assert set(report) == {"per_class"} and sum(f["support"] for f in report["per_class"].values()) >= 60  # per tag: no confusion matrix
    results = json.loads((out / "test_results.json").read_text())["metrics"]["tickets"]
    assert results["examples"] == 60 and results["micro_f1"] > 0.5  # keywords name the tags: learnable in 60 steps
    assert len(json.loads((out / "config.json").read_text())["tasks"]["tickets"]["head_options"]["thresholds"]) == 4
    status, stdout, stderr = run_cli(predict_main, ["--model", str(out), "--", "refund crash the app"], capsys)
    assert status == 0, stderr
    [output] = [json.loads(line) for line in stdout.splitlines()]
    assert set(output["predictions"]["tickets"]["probabilities"]) == set(words)
    assert set(output["predictions"]["tickets"]["labels"]) <= set(words)
