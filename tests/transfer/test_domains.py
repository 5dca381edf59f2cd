"""The Amazon review domains, domain adaptation (--adapt) and cross-domain evaluation (--task/--head)."""

import json

import pytest
import torch

import mtl_text
from mtl_text import ConfigError, DataFormatError, InputError, TrainingConfig

SMALL = {"max_train_examples": 200, "embedding_dim": 16, "w2v_epochs": 1, "cache_dir": "none", "save_total_limit": 0, "patience": 0}


def test_each_domain_has_a_fixed_balanced_1600_400_split(data_dir):
    from mtl_text.data.splits import load_task_splits

    a = load_task_splits("amazon_kitchen", data_dir, seed=1)
    b = load_task_splits("amazon_kitchen", data_dir, seed=2)
    assert len(a["train"]) + len(a["validation"]) == 1600 and len(a["test"]) == 400
    assert list(a["test"]["text"]) == list(b["test"]["text"])  # the same test reviews whatever --seed
    assert sum(a["test"]["label"]) == 200  # stratified: 200 positive, 200 negative
    assert "\n" in a["test"]["text"][0]  # title, new line, body


def test_a_review_whose_rating_disagrees_with_its_file_names_the_line(tmp_path):
    from mtl_text.builtin_tasks.amazon import read_review_file

    path = tmp_path / "positive.review"
    path.write_text("<review>\n<rating>\n5.0\n</rating>\n<review_text>\ngreat & cheap\n</review_text>\n</review>\n"
                    "<review>\n<rating>\n2.0\n</rating>\n<review_text>\nbroke\n</review_text>\n</review>\n")
    with pytest.raises(DataFormatError, match=r"positive.review, line 9: a 2-star review in a file of positive reviews"):
        read_review_file(path, "positive")
    path.write_text("<review>\n<rating>\n5.0\n</rating>\n<review_text>\ngreat & cheap\n</review_text>\n</review>\n")
    assert read_review_file(path, "positive") == {"text": ["great & cheap"], "label": ["positive"], "lines": [1]}


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("adapt") / "model"
    mtl_text.train(TrainingConfig.from_options(tasks=["amazon_books"], adapt=["amazon_books=amazon_kitchen"], data_dir=str(data_dir),
                                               max_steps=12, seed=3, output_dir=str(out), **SMALL))
    return out


def test_adaptation_logs_the_mmd_before_and_after_training(adapted):
    log = [json.loads(line) for line in (adapted / "metrics.jsonl").read_text().splitlines()]
    measured = [r for r in log if r["split"] == "adaptation"]
    assert [r["step"] for r in measured] == [0, 12]
    assert all(r["mmd2"]["amazon_books"] >= 0 for r in measured)
    assert any("mmd2" in r for r in log if r["split"] == "train")  # the running MMD term of the steps
    config = json.loads((adapted / "config.json").read_text())
    assert config["training_config"]["adaptation"]["adapt"] == ["amazon_books=amazon_kitchen"]


def test_cross_domain_evaluation_scores_a_head_on_another_task(adapted, data_dir, tmp_path):
    from mtl_text.cli.evaluate import main

    assert main(["--model", str(adapted), "--task", "amazon_kitchen", "--head", "amazon_books", "--data-dir", str(data_dir),
                 "--json", str(tmp_path / "m.json"), "--predictions", str(tmp_path / "p.json"), "--per-class"]) == 0
    metrics, predictions = json.loads((tmp_path / "m.json").read_text()), json.loads((tmp_path / "p.json").read_text())
    scored = predictions["amazon_kitchen"]
    assert metrics["amazon_kitchen"]["examples"] == 400 == len(scored["predictions"]) == len(scored["references"])
    accuracy = sum(p == r for p, r in zip(scored["predictions"], scored["references"])) / 400
    assert metrics["amazon_kitchen"]["accuracy"] == pytest.approx(accuracy) and scored["head"] == "amazon_books"
    # --per-class: the books head's labels on the kitchen reviews, counted from the same predictions
    matrix = metrics["amazon_kitchen"]["confusion_matrix"]
    assert matrix == [[sum(r == i and p == j for p, r in zip(scored["predictions"], scored["references"])) for j in (0, 1)]
                      for i in (0, 1)]
    assert [f["support"] for f in metrics["amazon_kitchen"]["per_class"].values()] == [sum(row) for row in matrix] == [200, 200]


def test_a_head_scores_a_labelled_file_as_it_scores_the_task(adapted, data_dir, tmp_path, capsys):
    """The kitchen reviews (multi-line, commas, quotes) written as CSV with label names and as JSON Lines
    with label ids: --input scores them with the books head exactly as --task amazon_kitchen does."""
    import csv

    from mtl_text import load_test_split
    from mtl_text.cli import run_command
    from mtl_text.cli.evaluate import main

    assert main(["--model", str(adapted), "--task", "amazon_kitchen", "--head", "amazon_books", "--data-dir", str(data_dir),
                 "--json", str(tmp_path / "task.json"), "--predictions", str(tmp_path / "task-p.json")]) == 0
    expected, expected_predictions = (json.loads((tmp_path / f).read_text())["amazon_kitchen"] for f in ("task.json", "task-p.json"))
    test = load_test_split("amazon_kitchen", data_dir)
    labels = ["negative", "positive"]
    with open(tmp_path / "kitchen.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "stars", "sentiment"])
        writer.writerows((text, "?", labels[label]) for text, label in zip(test["text"], test["label"]))
    (tmp_path / "kitchen.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(test["text"], test["label"])))
    for args in (["--input", str(tmp_path / "kitchen.csv"), "--text-column", "review", "--label-column", "sentiment"],
                 ["--input", str(tmp_path / "kitchen.jsonl")]):
        assert main(["--model", str(adapted), "--head", "amazon_books", *args, "--json", str(tmp_path / "file.json"),
                     "--predictions", str(tmp_path / "file-p.json")]) == 0
        [(name, metrics)] = json.loads((tmp_path / "file.json").read_text()).items()
        assert name == "kitchen" and metrics == pytest.approx(expected)
        assert json.loads((tmp_path / "file-p.json").read_text())["kitchen"] == expected_predictions
    assert "head amazon_books of" in capsys.readouterr().out
    import os
    import threading

    os.mkfifo(tmp_path / "piped.jsonl")  # as --input <(zcat kitchen.jsonl.gz) gives
    writer = threading.Thread(target=(tmp_path / "piped.jsonl").write_bytes, args=((tmp_path / "kitchen.jsonl").read_bytes(),))
    writer.start()
    assert main(["--model", str(adapted), "--head", "amazon_books", "--input", str(tmp_path / "piped.jsonl"), "--json",
                 str(tmp_path / "piped.json")]) == 0
    writer.join()
    assert json.loads((tmp_path / "piped.json").read_text())["piped"] == pytest.approx(expected)
    (tmp_path / "bad.csv").write_text("text,label\nfine,positive\ngood,great\n")
    for args, message in ((["--input", str(tmp_path / "kitchen.csv"), "--head", "amazon_books"],
                           "header ['review', 'stars', 'sentiment'] lacks the column(s) ['text', 'label']"),
                          (["--input", str(tmp_path / "bad.csv"), "--head", "amazon_books"],
                           f"{tmp_path / 'bad.csv'}, line 3: unknown label 'great'; expected one of ['negative', 'positive'] or an id 0..1"),
                          (["--input", str(tmp_path / "bad.csv"), "--head", "trec"], "--head trec: the model has no such head"),
                          (["--input", str(tmp_path / "none.csv"), "--head", "amazon_books"], f"--input: {tmp_path / 'none.csv'} not found"),
                          (["--input", str(tmp_path / "bad.csv")], "--head goes with --task or --input"),
                          (["--input", str(tmp_path / "bad.csv"), "--head", "amazon_books", "--split", "validation"],
                           "--split validation: a labelled file (--input) is scored whole"),
                          (["--label-column", "y"], "--label-column describes the labelled file of --input, which is not given")):
        assert run_command(main, ["--model", str(adapted), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err


def test_cross_domain_evaluation_refuses_other_labels(adapted, data_dir, capsys):
    from mtl_text.cli.evaluate import main as evaluate_main

    from helpers import run_cli

    status, _, err = run_cli(evaluate_main, ["--model", str(adapted), "--task", "trec", "--head", "amazon_books", "--data-dir", str(data_dir)],
                             capsys)
    assert status == 2
    assert err.strip().splitlines()[-1].startswith("error: head amazon_books has labels ['negative', 'positive'], task trec has")


def test_adapt_targets_from_files(data_dir, tmp_path):
    from mtl_text.training.build import read_target_texts

    config = TrainingConfig.from_options(tasks=["sst2"], adapt=["sst2=x"], data_dir=str(data_dir))
    (tmp_path / "t.txt").write_text("first text\n\nsecond text\n")
    assert read_target_texts(str(tmp_path / "t.txt"), config) == ["first text", "second text"]
    (tmp_path / "t.csv").write_bytes(b'\xef\xbb\xbfid,text\r\n1,"a review, quoted"\r\n2,\r\n3,"two\r\nlines"\r\n')  # Excel's CSV UTF-8
    assert read_target_texts(str(tmp_path / "t.csv"), config) == ["a review, quoted", "two\r\nlines"]
    (tmp_path / "t.jsonl").write_text('{"text": "a"}\n{"txt": "b"}\n')
    with pytest.raises(InputError, match=r"t.jsonl, line 2: a JSON line needs a string field 'text'"):
        read_target_texts(str(tmp_path / "t.jsonl"), config)
    with pytest.raises(ConfigError, match="neither a registered task nor a file"):
        read_target_texts(str(tmp_path / "missing.txt"), config)
    with pytest.raises(ConfigError, match="not in --tasks"):
        TrainingConfig.from_options(tasks=["sst2"], adapt=["trec=amazon_dvd"])
    with pytest.raises(ConfigError, match="expected TASK=TARGET"):
        TrainingConfig.from_options(tasks=["sst2"], adapt=["sst2"])


def test_an_adapted_run_with_plateau_and_uncertainty_resumes_exactly(data_dir, tmp_path):
    """The target stream, the plateau state and the uncertainty weights come back with a checkpoint:
    resumed from step 8, the run ends with the weights of the uninterrupted one."""
    import shutil

    from safetensors.torch import load_file

    from mtl_text.training.checkpointing import list_checkpoints

    options = {**SMALL, "save_total_limit": 5, "tasks": ["amazon_books", "trec"], "adapt": ["amazon_books=amazon_dvd"],
               "data_dir": str(data_dir), "max_steps": 24, "eval_every": 8, "seed": 5, "lr_scheduler": "plateau",
               "plateau_patience": 0, "task_balancing": "uncertainty"}
    reference = tmp_path / "reference"
    mtl_text.train(TrainingConfig.from_options(output_dir=str(reference), **options))
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    for checkpoint in list_checkpoints(resumed)[1:]:  # keep only the checkpoint of step 8
        shutil.rmtree(checkpoint)
    assert list_checkpoints(resumed)[0].name == "step-00000008"
    mtl_text.train(TrainingConfig.from_options(output_dir=str(resumed), resume_from_checkpoint="latest", **options))
    a, b = (load_file(str(list_checkpoints(d)[-1] / "model.safetensors")) for d in (reference, resumed))
    assert list_checkpoints(reference)[-1].name == list_checkpoints(resumed)[-1].name
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_accuracy_estimates_follow_their_definitions():
    from mtl_text.modeling.heads import RegressionHead, SingleLabelClassificationHead
    from mtl_text.transfer.estimation import average_thresholded_confidence, difference_of_confidences, estimate_accuracy

    source = torch.tensor([0.95, 0.9, 0.8, 0.7, 0.6])
    correct = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0])  # 3 right: the threshold is the 3rd highest confidence, 0.8
    target = torch.tensor([0.99, 0.85, 0.8, 0.5])
    atc = average_thresholded_confidence(source, correct, target)
    assert atc == {"threshold": pytest.approx(0.8), "estimate": 0.75}  # 3 of 4 target texts reach 0.8
    # the source itself: ATC gives back its accuracy, whatever the confidences (ties apart)
    generator = torch.Generator().manual_seed(0)
    confidence, right = torch.rand(1000, generator=generator), (torch.rand(1000, generator=generator) < 0.7).float()
    assert average_thresholded_confidence(confidence, right, confidence)["estimate"] == pytest.approx(float(right.mean()))
    assert difference_of_confidences(source, correct, target) == pytest.approx(0.6 - (0.79 - 0.785))
    assert difference_of_confidences(source, correct, torch.zeros(3)) == 0.0  # clipped to [0, 1]
    with pytest.raises(ValueError, match="ATC needs source and target texts"):
        average_thresholded_confidence(source, correct, torch.tensor([]))
    head = SingleLabelClassificationHead(4, ["a", "b"], hidden_size=0)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    estimate = estimate_accuracy(head, logits, torch.tensor([0, 1, 1]), logits[:2])
    assert estimate["source_accuracy"] == pytest.approx(2 / 3) and estimate["target_examples"] == 2
    assert estimate["target_confidence"] == pytest.approx(float(torch.softmax(logits[:2], -1).max(-1).values.mean()))
    assert estimate_accuracy(RegressionHead(4, ["score"], hidden_size=0), logits[:, :1], torch.zeros(3, 1), logits[:, :1]) is None


def test_evaluate_estimates_the_accuracy_on_unlabelled_texts_of_another_domain(adapted, data_dir, tmp_path, capsys, monkeypatch):
    """The books head on kitchen reviews without their labels: the estimates are what the estimators
    give on the same logits, and the options that score labelled data are refused beside it."""
    from mtl_text import load_test_split
    from mtl_text.cli import run_command
    from mtl_text.cli.evaluate import main
    from mtl_text.data.splits import column
    from mtl_text.inference.evaluation import evaluate_model
    from mtl_text.transfer.estimation import estimate_model_accuracy

    texts = column(load_test_split("amazon_kitchen", data_dir), "text")
    path = tmp_path / "kitchen.jsonl"
    path.write_text("".join(json.dumps({"review": t}) + "\n" for t in texts))
    assert run_command(main, ["--model", str(adapted), "--estimate-on", str(path), "--text-column", "review", "--data-dir", str(data_dir),
                              "--json", str(tmp_path / "e.json")]) == 0
    printed = capsys.readouterr().out
    assert "(400 texts)" in printed and "| amazon_books |" in printed
    estimates = json.loads((tmp_path / "e.json").read_text())["amazon_books"]
    assert estimates["target_examples"] == 400 and 0 <= estimates["atc"] <= 1 and 0 <= estimates["doc"] <= 1
    direct = estimate_model_accuracy(adapted, texts, data_dir=str(data_dir))["amazon_books"]
    assert estimates == pytest.approx(direct)
    validation = evaluate_model(adapted, split="validation", data_dir=str(data_dir))
    assert estimates["source_accuracy"] == pytest.approx(validation["amazon_books"]["accuracy"])  # the split training carved
    for other in (["--input", str(path), "--head", "amazon_books"], ["--per-class"], ["--split", "validation"]):
        assert run_command(main, ["--model", str(adapted), "--estimate-on", str(path), *other]) == 2
        assert "scores labelled data: run them apart" in capsys.readouterr().err
    assert run_command(main, ["--model", str(adapted), "--text-column", "review"]) == 2
    assert "neither of which is given" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("")
    assert run_command(main, ["--model", str(adapted), "--estimate-on", str(tmp_path / "empty.txt")]) == 2
    assert capsys.readouterr().err == f"error: --estimate-on {tmp_path / 'empty.txt'}: no texts in the file\n"
    monkeypatch.setenv("WORLD_SIZE", "2")  # started by a launcher as two processes: each would print the same estimates
    assert run_command(main, ["--model", str(adapted), "--estimate-on", str(path), "--text-column", "review", "--data-dir", str(data_dir)]) == 2
    assert "a predictor scores in one process (an ensemble, an ONNX export, --estimate-on), but this is one of 2" in capsys.readouterr().err
