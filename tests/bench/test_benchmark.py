"""The benchmark harness: baselines, speed measurement, the transfer report, and a --quick smoke run
checked for the structure of its outputs."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mtl_text.bench.baselines import FastTextClassifier, TfidfLinearSVC
from mtl_text.bench.benchmark import BenchmarkArguments, Row, confusion_task, markdown, plan_rows, transfer_report
from mtl_text.bench.speed import measure
from mtl_text.data.splits import load_task_splits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trec(data_dir):
    return load_task_splits("trec", data_dir, seed=0)


def test_baseline_command_writes_its_model_and_summary_into_new_folders(data_dir, tmp_path):
    from mtl_text.bench.baselines import main

    model, summary = tmp_path / "a" / "b" / "model.pkl", tmp_path / "c" / "train.json"
    assert main(["--method", "tfidf-linearsvc", "--task", "trec", "--data-dir", str(data_dir), "--quick",
                 "--model-out", str(model), "--json", str(summary)]) == 0
    info = json.loads(summary.read_text())
    assert info["metrics"]["trec"]["examples"] == 500 and info["metrics"]["trec"]["accuracy"] > 0.6
    assert TfidfLinearSVC.load(model).predict(["What is the capital of France ?"]).shape == (1,)


@pytest.mark.parametrize("cls", [TfidfLinearSVC, FastTextClassifier])
def test_baseline_learns_trec_and_round_trips(cls, trec, tmp_path):
    train, val, test = trec["train"], trec["validation"], trec["test"]
    grid = {"C": [0.1, 1.0]} if cls is TfidfLinearSVC else {"lr": [0.5, 1.0], "wordNgrams": [2], "epoch": [10]}
    clf = cls(seed=0, grid=grid)
    info = clf.fit(train["text"], train["label"], val["text"], val["label"])
    assert info["params"][next(iter(grid))] in next(iter(grid.values()))
    assert info["train_seconds"] <= info["tuning_seconds"]
    predictions = clf.predict(test["text"])
    assert predictions.shape == (len(test),)
    accuracy = (predictions == np.asarray(test["label"])).mean()
    assert accuracy > 0.6, accuracy  # 6 classes, the largest ~0.28 of the test set
    clf.save(tmp_path / "model")
    assert (cls.load(tmp_path / "model").predict(test["text"]) == predictions).all()


def test_fasttext_sees_our_words_and_answers_wordless_texts(trec):
    assert FastTextClassifier.prepare(["Don't  stop,\nnow!"]) == ["don ' t stop , now !"]
    clf = FastTextClassifier(seed=0, grid={"lr": [1.0], "wordNgrams": [1], "epoch": [5]})
    clf.fit(trec["train"]["text"], trec["train"]["label"], trec["validation"]["text"], trec["validation"]["label"])
    predictions = clf.predict(["", "   ", "What is the capital of France ?"])
    assert len(predictions) == 3 and all(0 <= p < 6 for p in predictions)


def test_measure_counts_passes_and_latency_calls():
    calls = []

    def predict(texts):
        calls.append(len(texts))
        return [0] * len(texts)

    texts = [f"text {i}" for i in range(10)]
    result = measure(predict, texts, batch_size=4, min_seconds=0.0, latency_texts=7)
    # warm-up (4 + 1), one pass in batches 4 + 4 + 2, then 7 single calls
    assert calls == [4, 1, 4, 4, 2] + [1] * 7
    assert result["latency_texts"] == 7 and result["batch_size"] == 4
    assert 0 <= result["latency_ms_p50"] <= result["latency_ms_p99"]
    assert result["texts_per_second"] > 0
    with pytest.raises(ValueError, match="no texts"):
        measure(predict, [])


def _row(tmp_path, encoder, mode, setting, tasks, wrong_per_seed, offset=0):
    """A row of ours whose saved test predictions on SST-2 (872 examples) are wrong on ``wrong``
    examples from ``offset`` on, one run per seed."""
    row = Row(f"{encoder} / {mode} / {setting}", "mtl-text", tasks, encoder, mode, setting)
    refs = [i % 2 for i in range(872)]
    for seed, wrong in enumerate(wrong_per_seed):
        path = tmp_path / f"{row.slug}-{seed}.json"
        predictions = [1 - r if offset <= i < offset + wrong else r for i, r in enumerate(refs)]
        path.write_text(json.dumps({"sst2": {"predictions": predictions, "references": refs}}))
        row.runs.append({"seed": seed, "metrics": {"sst2": {"accuracy": 1 - wrong / 872}}, "predictions_file": str(path)})
    row.result = {"metrics": row.runs[0]["metrics"]}
    return row


def test_transfer_report_flags_negative_transfer_only_when_the_interval_excludes_zero(tmp_path):
    """Multi-task wrong on 2 more sentences of 872 than single-task (50 of its errors fixed, 52 new
    ones): a loss of 0.0023 whose interval contains 0 (noise, not flagged); random embeddings wrong on
    100 more: a gain of 0.11 for the pretrained row, its interval above 0."""
    rows = [_row(tmp_path, "word2vec", "fine-tuned", "single", ["sst2"], [100, 100]),
            _row(tmp_path, "word2vec", "fine-tuned", "multi", ["sst2"], [102, 102], offset=50),
            _row(tmp_path, "random", "fine-tuned", "multi", ["sst2"], [202, 202])]
    report = {(r["comparison"], r["task"]): r for r in transfer_report(rows, ["sst2"])}
    noise = report[("multi-task - single-task", "sst2")]
    assert noise["delta"] == pytest.approx(-2 / 872) and noise["low"] < 0 < noise["high"]
    assert not noise["negative"] and not noise["significant"] and noise["seeds"] == 2 and noise["per_seed"] == pytest.approx([-2 / 872] * 2)
    gain = report[("pretrained - from scratch", "sst2")]
    assert gain["delta"] == pytest.approx(100 / 872) and gain["low"] > 0 and gain["gain"] and not gain["negative"]
    reverse = transfer_report([rows[2], _row(tmp_path, "random", "fine-tuned", "single", ["sst2"], [100, 100])], ["sst2"])[0]
    assert reverse["delta"] == pytest.approx(-102 / 872) and reverse["high"] < 0 and reverse["negative"]  # a real loss is flagged
    # a loss outside the interval that one seed does not show is not flagged either
    mixed = transfer_report([_row(tmp_path, "word2vec", "frozen", "multi", ["sst2"], [300, 100]),
                             _row(tmp_path, "word2vec", "frozen", "single", ["sst2"], [100, 100])], ["sst2"])[0]
    assert mixed["high"] < 0 and mixed["per_seed"][1] == 0 and not mixed["negative"]
    table = markdown({"machine": "m", "command": "c", "tasks": ["sst2"], "primary_metrics": {"sst2": "accuracy"}, "rows": [],
                      "transfer": [noise, gain, reverse]})
    assert sum("**negative**" in line for line in table.splitlines() if line.startswith("| ")) == 1 and "(gain)" in table


def test_baseline_rows_only_for_single_text_single_label_tasks():
    rows = plan_rows(BenchmarkArguments(tasks=["sst2", "stsb", "goemotions"], encoders=["word2vec"], modes=["fine-tuned"]))
    assert [r.name for r in rows if r.method != "mtl-text"] == ["tfidf-linearsvc (sst2)", "fasttext (sst2)"]
    assert len([r for r in rows if r.method == "mtl-text"]) == 3 + 1


def test_the_confusion_matrix_is_the_single_label_task_with_the_most_labels():
    assert confusion_task(BenchmarkArguments().tasks) == "20newsgroups"
    assert confusion_task(["sst2", "trec"]) == "trec"  # 6 labels against 2
    assert confusion_task(["sst2", "goemotions", "stsb", "mrpc"]) == "sst2"  # multi-label, regression and pairs have none
    assert confusion_task(["stsb"]) is None


def test_plan_rows_matrix():
    args = BenchmarkArguments(glove="x", transformer="m")
    rows = plan_rows(args)
    # 2 baselines x 2 tasks; (3 encoders + transformer) x 2 modes x (2 single + 1 multi)
    assert len(rows) == 4 + 4 * 2 * 3
    assert len({r.slug for r in rows}) == len(rows)
    multi = [r for r in rows if r.setting == "multi"]
    assert all(r.tasks == ["20newsgroups", "sst2"] for r in multi)


def test_quick_benchmark_writes_its_outputs(data_dir, tmp_path):
    """TREC stands in for 20 Newsgroups (whose long posts and 7,532 test texts would take most of the
    test's time): the same rows, reports and plots, the confusion matrix then TREC's."""
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [sys.executable, str(ROOT / "scripts" / "benchmark.py"), "--quick", "--tasks", "trec", "sst2", "--max-train-examples", "300",
           "--latency-texts", "5", "--max-predict-texts", "100", "--settings", "multi", "--baselines", "tfidf-linearsvc",
           "--data-dir", str(data_dir), "--output-dir", str(out), "--work-dir", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] and results["failed"] == [] and results["tasks"] == ["trec", "sst2"] and results["confusion_task"] == "trec"
    names = [r["name"] for r in results["rows"]]
    assert "tfidf-linearsvc (sst2)" in names and "tfidf-linearsvc (trec)" in names and "word2vec / fine-tuned / multi-task" in names
    assert not any(n.startswith("fasttext") for n in names)  # fastText rows: --baselines leaves them out (its model has its own test)
    for row in results["rows"]:
        r = row["result"]
        assert set(r["metrics"]) == set(row["tasks"]) == set(r["speed"])
        for task in row["tasks"]:
            assert 0 <= r["metrics"][task]["accuracy"] <= 1 and 0 <= r["metrics"][task]["macro_f1"] <= 1
            speed = r["speed"][task]
            assert speed["texts_per_second"] > 0 and speed["latency_texts"] == 5
            assert 0 < speed["latency_ms_p50"] <= speed["latency_ms_p99"] and speed["predict_peak_rss_mib"] > 10
        assert r["train_seconds"] > 0 and r["train_samples_per_second"] > 0 and r["train_peak_rss_mib"] > 10
    comparisons = {(t["comparison"], t["task"]) for t in results["transfer"]}
    assert comparisons == {("pretrained - from scratch", "trec"), ("pretrained - from scratch", "sst2")}  # multi-task rows only
    assert results["overhead"]["ratio"] > 0 and len(results["overhead"]["repeat_ratios"]) == 2  # --quick: 2 repeats, ABBA
    low, high = results["overhead"]["ratio_interval"]
    assert low <= sum(results["overhead"]["repeat_ratios"]) / 2 <= high
    assert results["plots"] == [str(out / name) for name in ("validation_curves.png", "confusion_trec.png", "accuracy_vs_time.png")]
    for path in results["plots"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    # the confusion matrix's predictions: the multi-task Word2Vec row's, on all of TREC's test questions
    matrix = json.loads(Path(results["rows"][2]["result"]["speed"]["trec"]["predictions"]).read_text())
    assert results["rows"][2]["name"] == "word2vec / fine-tuned / multi-task" and len(matrix["references"]) == len(matrix["predictions"]) == 500
    table = (out / "results.md").read_text()
    assert table == markdown(results)
    assert sum(line.startswith("| trec |") for line in table.splitlines()) == sum("trec" in r["tasks"] for r in results["rows"])


def test_overhead_plain_loop_sees_our_batches(data_dir, monkeypatch):
    """The plain loop of the overhead measurement feeds the model the same tasks and batches, in the
    same order, as our task streams, across an epoch boundary."""
    import torch

    import mtl_text.bench.overhead as overhead
    from mtl_text import TrainingConfig
    from mtl_text.modeling.model import MultiTaskModel
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    config = TrainingConfig.from_options(tasks=["trec", "sst2"], max_train_examples=200, cache_dir="none", w2v_epochs=1,
                                         data_dir=str(data_dir))
    run = build_training(config, make_accelerator(config))
    seen, forward = [], MultiTaskModel.forward

    def recording_forward(self, input_ids, attention_mask, task, features=None):
        seen.append((task, input_ids.clone()))
        return forward(self, input_ids, attention_mask, task, features)

    monkeypatch.setattr(MultiTaskModel, "forward", recording_forward)
    steps = 20  # 7 batches of 32 per task and epoch: both tasks start a second epoch
    overhead.plain_loop(run, config, steps)
    plain = list(seen)
    for stream in run.train_streams.values():
        stream.restore({"epoch": 0, "position": 0})
    ours = [(task, run.train_streams[task].next()["input_ids"]) for task in map(run.schedule.task_at, range(steps))]
    assert [t for t, _ in plain] == [t for t, _ in ours]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(plain, ours))
    assert len({t for t, _ in ours}) == 2
