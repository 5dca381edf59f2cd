"""``mtl-text compare`` / :func:`mtl_text.compare_models`: two saved models scored on the same real
TREC test questions, the difference of a head metric with its paired-bootstrap interval and a
verdict; several runs paired one to one; models that cannot be paired refused."""

import json

import pytest

import mtl_text
from mtl_text import ConfigError, UnknownHeadError, compare_models
from mtl_text.cli import run_command
from mtl_text.cli.compare import main as compare_main
from mtl_text.inference.comparison import format_comparison
from mtl_text.inference.evaluation import evaluate_model
from mtl_text.transfer.significance import Difference, verdict

from helpers import write_user_task


def small_run(data_dir, out, tasks, seed):
    config = mtl_text.TrainingConfig.from_options(
        tasks=tasks, data_dir=str(data_dir), max_train_examples=300, max_steps=40,
        eval_every=20, embedding_dim=16, w2v_epochs=1, min_word_frequency=1, cache_dir="none", seed=seed, save_total_limit=0,
        output_dir=str(out))
    return mtl_text.train(config).output_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory, data_dir):
    """A: TREC and STS-B with a user's task beside them, two seeds; B: TREC and STS-B alone, two seeds
    (real TREC questions, real STS-B sentence pairs)."""
    import shutil

    root = tmp_path_factory.mktemp("compare")
    data = root / "data"
    data.mkdir()
    mtl_text.load_task_file(str(write_user_task(data, "compare")))
    for folder in ("trec", "glue"):
        (data / folder).symlink_to(data_dir / folder)
    a = [small_run(data, root / f"multi-{s}", ["trec", "stsb", "punctuation_compare"], s) for s in (1, 2)]
    b = [small_run(data, root / f"single-{s}", ["trec", "stsb"], s) for s in (1, 2)]
    shutil.copytree(a[0], root / "multi-1-copy")
    return data, a, b, root / "multi-1-copy"


def test_the_difference_is_each_models_own_score_on_the_shared_task_with_its_interval(models):
    data, a, b, _ = models
    compared = compare_models([a[0]], [b[0]], data_dir=str(data))
    assert list(compared) == ["trec", "stsb"]  # the user's task is A's alone
    c = compared["trec"]
    scores = [evaluate_model(m, ["trec"], data_dir=str(data))["trec"]["accuracy"] for m in (a[0], b[0])]
    assert c.metric == "accuracy" and c.examples == 500  # TREC's published test split
    assert c.model_scores == [scores[0]] and c.baseline_scores == [scores[1]]
    assert c.difference.delta == pytest.approx(scores[0] - scores[1]) and c.per_run == [pytest.approx(scores[0] - scores[1])]
    assert c.difference.low <= c.difference.delta <= c.difference.high and c.difference.confidence == 0.95
    assert c.verdict == verdict(c.difference.low, c.difference.high, c.per_run)
    assert c.mcnemar is not None and c.mcnemar.delta == pytest.approx(c.difference.delta)


def test_each_test_split_is_read_once_for_every_model(models, monkeypatch):
    import mtl_text.inference.evaluation as evaluation

    data, a, b, _ = models
    reads, read = [], evaluation.load_test_split
    monkeypatch.setattr(evaluation, "load_test_split", lambda task, data_dir: reads.append(task.name) or read(task, data_dir))
    compared = compare_models(a, b, data_dir=str(data), n_resamples=10)
    assert sorted(reads) == ["stsb", "trec"] and all(c.examples > 0 for c in compared.values())  # four models, each split read once


def test_a_regression_head_compares_by_pearson_or_by_its_error(models):
    data, a, b, _ = models
    by_pearson = compare_models(a, b, ["stsb"], data_dir=str(data), n_resamples=200)["stsb"]
    by_error = compare_models(a, b, ["stsb"], "mse", data_dir=str(data), n_resamples=200)["stsb"]
    scores = {m: evaluate_model(m, ["stsb"], data_dir=str(data))["stsb"] for m in (*a, *b)}
    assert by_pearson.metric == "pearson" and by_pearson.mcnemar is None and by_pearson.examples == 1500  # GLUE's dev split
    assert by_pearson.per_run == [pytest.approx(scores[x]["pearson"] - scores[y]["pearson"]) for x, y in zip(a, b)]
    assert by_error.per_run == [pytest.approx(scores[x]["mse"] - scores[y]["mse"]) for x, y in zip(a, b)]
    # a lower error is the gain: the verdict reads the interval the other way round
    assert by_error.verdict == verdict(by_error.difference.low, by_error.difference.high, by_error.per_run, higher_is_better=False)


def test_a_model_against_its_copy_ties_exactly_and_several_runs_pair_one_to_one(models):
    data, a, b, copy = models
    same = compare_models([a[0]], [copy], ["trec"], data_dir=str(data))["trec"]
    assert (same.difference.delta, same.difference.low, same.difference.high, same.verdict) == (0.0, 0.0, 0.0, "tie")
    assert same.mcnemar.p_value == 1.0
    both = compare_models(a, b, ["trec"], "macro_f1", data_dir=str(data), n_resamples=200)["trec"]
    f1 = {m: evaluate_model(m, ["trec"], data_dir=str(data))["trec"]["macro_f1"] for m in (*a, *b)}
    assert both.per_run == [pytest.approx(f1[a[0]] - f1[b[0]]), pytest.approx(f1[a[1]] - f1[b[1]])]
    assert both.difference.delta == pytest.approx(sum(both.per_run) / 2) and both.mcnemar is None  # not accuracy, two runs
    assert "200 resamples" in both.difference.method
    # --metric trec=macro_f1 (the bare --metric macro_f1 is the command's test's); the same seeded resampling
    assert compare_models(a, b, ["trec"], {"trec": "macro_f1"}, data_dir=str(data), n_resamples=200)["trec"].difference == both.difference
    with pytest.raises(ConfigError, match=r"^--metric names task\(s\) \['sst2'\] that are not compared; compared: \['trec'\]$"):
        compare_models(a, b, ["trec"], {"sst2": "accuracy"}, data_dir=str(data))


def test_a_head_on_a_labelled_file_or_another_task_compares_as_on_its_own_task(models, tmp_path, capsys):
    """TREC's test questions written to a file (other column names), and registered again as
    another task: the head scores the same examples, so every figure equals the comparison on trec."""
    data, a, b, _ = models
    test = mtl_text.load_test_split("trec", str(data))
    labels = mtl_text.get_task("trec").labels
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps({"question": t, "coarse": labels[y]}) + "\n" for t, y in zip(test["text"], test["label"])))
    mtl_text.register_task(mtl_text.file_task(path, labels, name="trec_again", text_column="question", label_column="coarse"))
    own = compare_models(a, b, ["trec"], "macro_f1", data_dir=str(data), n_resamples=100)["trec"]
    other = compare_models(a, b, metric="macro_f1", data_dir=str(data), n_resamples=100, heads_of={"trec_again": "trec"})["trec_again"]
    assert (other.head, other.examples, other.per_run, other.difference) == ("trec", 500, own.per_run, own.difference)
    out = tmp_path / "file.json"
    assert run_command(compare_main, ["--model", *map(str, a), "--baseline", *map(str, b), "--input", str(path), "--head", "trec",
                                      "--text-column", "question", "--label-column", "coarse", "--metric", "macro_f1",
                                      "--resamples", "100", "--data-dir", str(data), "--json", str(out)]) == 0
    assert f"head trec on {path}" in capsys.readouterr().out
    saved = json.loads(out.read_text())["questions"]
    assert saved["head"] == "trec" and saved["per_run"] == pytest.approx(own.per_run)
    assert saved["difference"]["delta"] == pytest.approx(own.difference.delta)
    assert (saved["difference"]["low"], saved["difference"]["high"]) == pytest.approx((own.difference.low, own.difference.high))
    for args, message in ((["--head", "trec"], "--head goes with --task or --input"),
                          (["--task", "trec_again", "--head", "trec", "--tasks", "trec"], "--tasks excludes --task/--head"),
                          (["--label-column", "coarse"], "--label-column describes the labelled file of --input, which is not given"),
                          (["--input", str(path), "--head", "nope"], "--head nope: the model has no such head")):
        assert run_command(compare_main, ["--model", str(a[0]), "--baseline", str(b[0]), *args]) == 2
        assert message in capsys.readouterr().err


def test_on_the_validation_split_runs_carved_alike_pair_and_others_are_refused(models, capsys, monkeypatch):
    """--split validation: the split both models' training carved (seed 1), scored as evaluate scores
    it and read once; runs carved with other seeds cannot be paired; a labelled file has no such split."""
    import mtl_text.inference.evaluation as evaluation

    data, a, b, _ = models
    reads, read = [], evaluation.load_task_splits
    monkeypatch.setattr(evaluation, "load_task_splits", lambda task, *args, **kw: reads.append(task.name) or read(task, *args, **kw))
    c = compare_models([a[0]], [b[0]], ["trec"], data_dir=str(data), split="validation", n_resamples=100)["trec"]
    assert reads == ["trec"]  # one carve, read once for both models
    expected = [evaluate_model(m, ["trec"], "validation", data_dir=str(data))["trec"] for m in (a[0], b[0])]
    assert c.split == "validation" and c.examples == expected[0]["examples"] == len(read("trec", data, seed=1)["validation"])
    assert c.model_scores == [expected[0]["accuracy"]] and c.baseline_scores == [expected[1]["accuracy"]]
    with pytest.raises(ConfigError, match=r"--split validation: the models' validation splits were carved differently \(.*seed 1.*seed 2"):
        compare_models(a, b[::-1], ["trec"], data_dir=str(data), split="validation")  # seed 1 against seed 2
    assert run_command(compare_main, ["--model", str(a[0]), "--baseline", str(b[0]), "--split", "validation", "--tasks", "trec",
                                      "--data-dir", str(data), "--resamples", "50"]) == 0
    printed = capsys.readouterr().out
    assert "one run each: validation splits" in printed and f"| trec | accuracy | {c.model_scores[0]:.4f} |" in printed
    assert run_command(compare_main, ["--model", str(a[0]), "--baseline", str(b[0]), "--split", "validation", "--input", "x.jsonl",
                                      "--head", "trec"]) == 2
    assert capsys.readouterr().err == "error: --split validation: a labelled file (--input) is scored whole; it has no validation split\n"


def test_an_ensemble_is_one_run_of_model_a(models, capsys):
    """--ensemble-with: A is --model averaged with the models named, scored as evaluate --ensemble-with
    scores it; a model in an ensemble with its copy ties with it alone; several runs of A are refused."""
    from mtl_text.inference.evaluation import evaluate_ensemble

    data, a, b, copy = models
    c = compare_models([a[0]], [b[0]], ["trec"], data_dir=str(data), ensemble_with=[b[0]], n_resamples=100)["trec"]
    assert c.model_scores == [evaluate_ensemble([a[0], b[0]], ["trec"], data_dir=str(data))["trec"]["accuracy"]]
    assert c.baseline_scores == [evaluate_model(b[0], ["trec"], data_dir=str(data))["trec"]["accuracy"]]
    assert c.ensemble_with == [str(b[0])] and c.examples == 500
    same = compare_models([a[0]], [a[0]], ["trec"], data_dir=str(data), ensemble_with=[copy])["trec"]  # the mean of one model's logits twice
    assert (same.difference.delta, same.difference.low, same.difference.high, same.verdict) == (0.0, 0.0, 0.0, "tie")
    with pytest.raises(ConfigError, match="--ensemble-with makes one ensemble of --model and them: give one --model run, not 2"):
        compare_models(a, b, data_dir=str(data), ensemble_with=[copy])
    assert run_command(compare_main, ["--model", str(a[0]), "--ensemble-with", str(b[0]), "--baseline", str(b[0]), "--tasks", "trec",
                                      "--data-dir", str(data), "--resamples", "50"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{a[0]} + {b[0]} (model) against {b[0]} (baseline), one run each: test splits")
    assert f"| trec | accuracy | {c.model_scores[0]:.4f} | {c.baseline_scores[0]:.4f} |" in printed


def test_the_baseline_may_be_an_ensemble_too(models, capsys):
    """--baseline-ensemble-with: B is --baseline averaged with the models named, scored as evaluate
    --ensemble-with scores it; the same ensemble on both sides ties exactly; several runs of B are
    refused."""
    from mtl_text.inference.evaluation import evaluate_ensemble

    data, a, b, copy = models
    c = compare_models([a[0]], [b[0]], ["trec"], data_dir=str(data), baseline_ensemble_with=[b[1]], n_resamples=100)["trec"]
    assert c.baseline_scores == [evaluate_ensemble([b[0], b[1]], ["trec"], data_dir=str(data))["trec"]["accuracy"]]
    assert c.model_scores == [evaluate_model(a[0], ["trec"], data_dir=str(data))["trec"]["accuracy"]]
    assert (c.ensemble_with, c.baseline_ensemble_with) == ([], [str(b[1])]) and c.to_dict()["baseline_ensemble_with"] == [str(b[1])]
    same = compare_models([a[0]], [copy], ["trec"], data_dir=str(data), ensemble_with=[b[0]], baseline_ensemble_with=[b[0]])["trec"]
    assert (same.difference.delta, same.difference.low, same.difference.high, same.verdict) == (0.0, 0.0, 0.0, "tie")
    with pytest.raises(ConfigError, match="--baseline-ensemble-with makes one ensemble of --baseline and them: give one --baseline run, not 2"):
        compare_models(a, b, data_dir=str(data), baseline_ensemble_with=[copy])
    assert run_command(compare_main, ["--model", str(a[0]), "--baseline", str(b[0]), "--baseline-ensemble-with", str(b[1]),
                                      "--tasks", "trec", "--data-dir", str(data), "--resamples", "50"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{a[0]} (model) against {b[0]} + {b[1]} (baseline), one run each: test splits")
    assert f"| trec | accuracy | {c.model_scores[0]:.4f} | {c.baseline_scores[0]:.4f} |" in printed


def test_the_verdict_needs_the_whole_interval_and_every_run():
    assert verdict(0.01, 0.03, [0.02, 0.01]) == "gain" and verdict(-0.03, -0.01, [-0.02]) == "loss"
    assert verdict(-0.01, 0.03, [0.02]) == "tie"
    assert verdict(0.01, 0.03, [0.02, -0.001]) == "runs disagree"  # one seed lost: not evidence of a gain
    assert verdict(-0.0068, -0.0015, [-0.0041, 0.0003, -0.0085]) == "runs disagree"
    assert verdict(-0.03, -0.01, [], higher_is_better=False) == "gain"  # a lower error


def test_the_command_prints_the_table_and_writes_json(models, tmp_path, capsys):
    data, a, b, _ = models
    out = tmp_path / "c.json"
    assert run_command(compare_main, ["--model", *map(str, a), "--baseline", *map(str, b), "--data-dir", str(data),
                                      "--task-file", str(data / "my_task.py"), "--resamples", "300", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())["trec"]
    lines = printed.splitlines()
    assert "2 paired runs each" in lines[0] and lines[1].startswith("| task | metric | model | baseline | difference [95% interval]")
    row = next(line for line in lines if line.startswith("| trec |"))
    assert f"{saved['difference']['delta']:+.4f} [{saved['difference']['low']:+.4f}, {saved['difference']['high']:+.4f}]" in row
    assert f"| {saved['verdict']} |" in row and " / ".join(f"{d:+.4f}" for d in saved["per_run"]) in row


def test_models_that_cannot_be_paired_are_refused(models, capsys):
    data, a, b, _ = models
    with pytest.raises(ConfigError, match="pair runs one to one"):
        compare_models(a, b[:1], data_dir=str(data))
    with pytest.raises(ConfigError, match="named twice"):
        compare_models([a[0]], [a[0]], data_dir=str(data))
    with pytest.raises(UnknownHeadError, match="has no head for"):
        compare_models([a[0]], [b[0]], ["punctuation_compare"], data_dir=str(data))
    for metric in ("pearson", "ece"):  # ECE is the probabilities', not one of the head's metrics
        with pytest.raises(ConfigError, match=rf"--metric {metric}: task trec's head reports \['accuracy', 'macro_f1'"):
            compare_models([a[0]], [b[0]], metric=metric, data_dir=str(data))
    assert run_command(compare_main, ["--model", str(a[0]), "--baseline", str(b[0]), "--confidence", "1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --confidence must be a number in (0, 1), got 1.0"


def test_the_table_marks_scores_over_runs():
    d = Difference(0.01, -0.02, 0.04, 0.9, 0.5, "paired bootstrap (10 resamples)")
    from mtl_text.inference.comparison import TaskComparison

    table = format_comparison({"sst2": TaskComparison("sst2", "sst2", "macro_f1", [0.8, 0.82], [0.79, 0.81], d, [0.01, 0.01], "tie", 872)})
    assert "difference [90% interval]" in table
    assert "| sst2 | macro-F1 | 0.8100 ± 0.0141 | 0.8000 ± 0.0141 | +0.0100 [-0.0200, +0.0400] | 0.500 | tie | +0.0100 / +0.0100 |" in table
