"""Sentence-pair tasks and the regression head (GLUE STS-B, MRPC, RTE), on small real subsets: the
head's loss, scaling and metrics; pair tokenization and truncation; the [u, v, |u-v|, u*v] features
of word vectors; end to end (train, save, restore with identical outputs, predict pairs, evaluate);
bad inputs named by file and line."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from transformers import AutoTokenizer

from mtl_text import DataFormatError, MultiTaskModel, Predictor, Task, TrainingConfig, load_task_splits, read_jsonl, read_tsv, train
from mtl_text.cli.predict import main as predict_main
from mtl_text.data.tokenization import tokenize_splits, train_word_tokenizer
from mtl_text.modeling.encoders import TransformerEncoder, WordVectorEncoder
from mtl_text.modeling.heads import MultiLabelClassificationHead, RegressionHead

from helpers import run_cli


def test_regression_head_scales_targets_and_reports_correlations():
    head = RegressionHead(4, ["similarity"], hidden_size=0, dropout=0.0, target_mean=[2.5], target_std=[2.0])
    logits, targets = torch.tensor([[0.5], [-1.0], [0.0]]), torch.tensor([[4.0], [0.0], [3.5]])
    standardised = (targets - 2.5) / 2.0
    assert head.loss(logits, targets).item() == pytest.approx(torch.mean((logits - standardised) ** 2).item())
    assert head.loss(logits, targets, reduction="sum").item() == pytest.approx(torch.sum((logits - standardised) ** 2).item())
    values = head.decode(logits)
    assert values.flatten().tolist() == pytest.approx([3.5, 0.5, 2.5])  # back in the target's units
    metrics = head.compute_metrics(values, targets)
    assert metrics["pearson"] == pytest.approx(pearsonr([3.5, 0.5, 2.5], [4.0, 0.0, 3.5])[0])
    assert metrics["spearman"] == pytest.approx(spearmanr([3.5, 0.5, 2.5], [4.0, 0.0, 3.5])[0])
    assert metrics["mse"] == pytest.approx(np.mean([0.25, 0.25, 1.0]))
    assert head.primary_metric == "pearson" and head.options() == {"target_mean": [2.5], "target_std": [2.0]}
    assert head.format_prediction(values[0]) == {"value": 3.5}
    assert RegressionHead(4, ["similarity"]).compute_metrics(torch.ones(3, 1), targets)["pearson"] == 0.0  # constant output
    with pytest.raises(TypeError, match="no probabilities"):
        head.probabilities(logits)


def test_regression_targets_must_be_numbers():
    assert RegressionHead.encode_label(" 3.8 ", ["similarity"], "x") == [3.8]
    for bad in ("high", "nan", True, None):
        with pytest.raises(DataFormatError, match="f.tsv, line 4: a regression target must be a finite number"):
            RegressionHead.encode_label(bad, ["similarity"], "f.tsv, line 4")


def test_thresholds_are_tuned_per_label_for_the_best_f1():
    head = MultiLabelClassificationHead(4, ["a", "b", "c"], hidden_size=0, dropout=0.0)
    probs = torch.tensor([[0.30, 0.9, 0.1], [0.22, 0.8, 0.1], [0.12, 0.7, 0.1], [0.05, 0.2, 0.1]])
    refs = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    chosen = head.tune_thresholds(torch.logit(probs), refs)
    # label a: 0.15 and 0.20 both separate (F1 1), the tie goes to the one nearer 0.5; label c: no positive, keeps 0.5
    assert chosen[0] == pytest.approx(0.2) and chosen[2] == 0.5
    assert 0.2 < chosen[1] <= 0.7 and head.options()["thresholds"][0] == pytest.approx(0.2)
    assert head.decode(torch.logit(probs))[:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_pairs_are_tokenized_together_and_truncated_longest_first(shared_dir):
    import datasets

    pair = datasets.Dataset.from_dict({"text": ["a b c d e f g h"], "text_pair": ["x y"], "label": [0]})
    words = train_word_tokenizer(["a b c d e f g h x y"])
    enc = tokenize_splits(datasets.DatasetDict({"test": pair}), words, max_length=6)["test"][0]
    assert words.convert_ids_to_tokens(enc["input_ids"]) == ["a", "b", "c", "d", "x", "y"]  # the longer text lost its end
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1]
    bert = AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2")
    enc = tokenize_splits(datasets.DatasetDict({"test": pair}), bert, max_length=8)["test"][0]
    assert bert.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "a", "b", "c", "[SEP]", "x", "y", "[SEP]"]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]


def test_word_vectors_pool_each_text_of_a_pair_alone():
    torch.manual_seed(0)
    tasks = {"sts": {"labels": ["similarity"], "max_length": 16, "problem_type": "regression", "text_pair": True},
             "single": {"labels": ["a", "b"], "max_length": 16}}
    model = MultiTaskModel(WordVectorEncoder(20, 8), tasks, pooling="mean", head_hidden_size=0, head_dropout=0.0).eval()
    assert model.heads["sts"].layers[-1].in_features == 32 and model.heads["single"].layers[-1].in_features == 8
    ids, mask, types = torch.tensor([[3, 4, 5, 6, 0]]), torch.tensor([[1, 1, 1, 1, 0]]), torch.tensor([[0, 0, 1, 1, 0]])
    emb = model.encoder.embedding.weight
    u, v = emb[[3, 4]].mean(0), emb[[5, 6]].mean(0)
    expected = model.heads["sts"](torch.cat([u, v, (u - v).abs(), u * v]).unsqueeze(0))
    assert torch.allclose(model(ids, mask, task="sts", token_type_ids=types), expected, atol=1e-6)
    with pytest.raises(ValueError, match="token_type_ids"):
        model(ids, mask, task="sts")


def test_a_transformer_reads_a_pair_as_one_sequence_with_segment_ids():
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32))
    tasks = {"sts": {"labels": ["similarity"], "max_length": 16, "problem_type": "regression", "text_pair": True}}
    model = MultiTaskModel(TransformerEncoder(bert), tasks, pooling="mean", head_hidden_size=0).eval()
    assert model.heads["sts"].layers[-1].in_features == 16  # one pooled vector: a cross-encoder
    ids, mask = torch.tensor([[2, 7, 8, 3, 9, 3]]), torch.ones(1, 6, dtype=torch.long)
    first, second = torch.zeros_like(ids), torch.tensor([[0, 0, 0, 0, 1, 1]])
    assert not torch.allclose(model(ids, mask, task="sts", token_type_ids=first), model(ids, mask, task="sts", token_type_ids=second))


def test_a_pair_row_without_its_second_text_is_named(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence1\tsentence2\tscore\nA cat sits.\tA cat is sitting.\t4.5\nA dog runs.\t \t1.0\n")
    with pytest.raises(DataFormatError, match=rf"{path}, line 3: the second text \(text_pair\) is missing or empty"):
        read_tsv(path, text_field="sentence1", text_pair_field="sentence2", label_field="score")
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text('{"text": "a", "text_pair": "b", "label": 1}\n{"text": "c", "label": 0}\n')
    with pytest.raises(DataFormatError, match=rf"{jsonl}, line 2: the second text \(text_pair\) is missing or empty"):
        read_jsonl(jsonl, text_pair_field="text_pair")


def test_a_non_numeric_regression_target_is_named_by_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence1\tsentence2\tscore\nA cat sits.\tA cat is sitting.\t4.5\nA dog runs.\tA dog is running.\thigh\n")
    task = Task(name="my_sts", labels=("similarity",), problem_type="regression", text_pair=True,
                load=lambda d: {s: read_tsv(path, text_field="sentence1", text_pair_field="sentence2", label_field="score")
                                for s in ("train", "test")})
    with pytest.raises(DataFormatError, match=rf"{path}, line 3: a regression target must be a finite number, found 'high'"):
        load_task_splits(task)


def test_glue_pair_tasks_read_their_published_files(data_dir):
    sizes = {name: {s: len(d) for s, d in load_task_splits(name, data_dir).items()} for name in ("stsb", "mrpc", "rte")}
    assert {n: s["train"] + s["validation"] for n, s in sizes.items()} == {"stsb": 5749, "mrpc": 3668, "rte": 2490}
    assert {n: s["test"] for n, s in sizes.items()} == {"stsb": 1500, "mrpc": 408, "rte": 277}
    mrpc = load_task_splits("mrpc", data_dir)["test"]  # a byte-order mark before the header
    assert mrpc[0]["text"].startswith("He said the foodservice pie business") and mrpc[0]["label"] == 1


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("pairs") / "model"
    config = TrainingConfig.from_options(tasks=["stsb", "mrpc", "rte"], data_dir=str(data_dir), max_train_examples=500, max_steps=80,
                                         eval_every=40, embedding_dim=16, w2v_epochs=1, cache_dir="none", save_total_limit=0, seed=4,
                                         output_dir=str(out))
    return train(config), out


def test_pair_and_regression_tasks_train_and_report_their_own_metrics(pair_model):
    result, out = pair_model
    assert set(result.metrics["stsb"]) == {"pearson", "spearman", "mse", "loss", "examples"}
    assert set(result.metrics["mrpc"]) == {"accuracy", "f1", "macro_f1", "matthews_corrcoef", "loss", "ece", "examples"}
    assert [result.metrics[t]["examples"] for t in ("stsb", "mrpc", "rte")] == [1500, 408, 277]
    assert set(result.class_reports) == {"mrpc", "rte"}  # a regression head has no classes
    tasks = json.loads((out / "config.json").read_text())["tasks"]
    assert tasks["stsb"]["text_pair"] and tasks["stsb"]["problem_type"] == "regression"
    assert 2.0 < tasks["stsb"]["head_options"]["target_mean"][0] < 3.5  # STS-B scores lie in [0, 5]


def test_restored_pair_model_gives_identical_outputs_and_predicts_pairs(pair_model, data_dir, tmp_path, capsys):
    result, out = pair_model
    predictor = Predictor.from_pretrained(out)
    test = load_task_splits("stsb", data_dir)["test"]
    values = predictor.predict_labels(test["text"], ["stsb"], text_pairs=test["text_pair"])["stsb"]
    metrics = predictor.model.heads["stsb"].compute_metrics(values, torch.tensor(test["label"]))
    assert metrics["pearson"] == pytest.approx(result.metrics["stsb"]["pearson"], abs=1e-6)
    assert metrics["mse"] == pytest.approx(result.metrics["stsb"]["mse"], rel=1e-5)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("A man is playing a guitar.\tA man plays the guitar.\nA dog runs.\tStocks fell sharply.\n")
    status, stdout, stderr = run_cli(predict_main, ["--model", str(out), "--input", str(pairs)], capsys)
    assert status == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert [r["text_pair"] for r in lines] == ["A man plays the guitar.", "Stocks fell sharply."]
    assert all(set(r["predictions"]) == {"stsb", "mrpc", "rte"} and isinstance(r["predictions"]["stsb"]["value"], float) for r in lines)
    assert lines[0]["predictions"]["rte"]["label"] in ("entailment", "not_entailment")
    status, _, stderr = run_cli(predict_main, ["--model", str(out), "--", "a single text"], capsys)
    assert status == 2 and "takes single texts" in stderr


def test_a_regression_pair_head_scores_glues_own_file(pair_model, shared_dir):
    """GLUE's STS-B dev file, read as a labelled file by its columns, scores as the stsb task's test split."""
    from mtl_text import file_task
    from mtl_text.inference.evaluation import evaluate_model

    result, out = pair_model
    task = file_task(shared_dir / "data" / "glue" / "STS-B" / "dev.tsv", ["similarity"], "regression", text_pair=True,
                     text_column="sentence1", text_pair_column="sentence2", label_column="score")
    metrics = evaluate_model(out, heads_of={task: "stsb"})["dev"]
    assert metrics["examples"] == 1500
    assert metrics["pearson"] == pytest.approx(result.metrics["stsb"]["pearson"], abs=1e-6)
    assert metrics["mse"] == pytest.approx(result.metrics["stsb"]["mse"], rel=1e-5)
