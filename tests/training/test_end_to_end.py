"""End to end: a short joint training run on small real subsets, then the predict script on its output
(the other predict checks run the same command in-process: its exit status, output and error line)."""

import json
import subprocess

import pytest
import torch

from mtl_text.cli import run_command
from mtl_text.cli.predict import main as predict_main
from mtl_text.cli.train import main as train_main
from mtl_text.inference.prediction import Predictor
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.loop import validation_score

from helpers import run_cli, run_predict, write_user_task


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """sst2 + trec (real data, 400 training examples each) + a user's task from its own file."""
    root = tmp_path_factory.mktemp("e2e")
    user_data = root / "user_data"
    user_data.mkdir()
    task_file = write_user_task(user_data, "e2e")
    out = root / "model"
    # the user's task reads its files from the data folder: give it a folder with both
    (user_data / "sst2").symlink_to(data_dir / "sst2")
    (user_data / "trec").symlink_to(data_dir / "trec")
    train_main([
        "--tasks", "sst2", "trec", "punctuation_e2e", "--task-file", str(task_file), "--data-dir", str(user_data),
        "--output-dir", str(out), "--max-train-examples", "400", "--max-steps", "90", "--eval-every", "30", "--sampling", "uniform",
        "--embedding-dim", "32", "--w2v-epochs", "2", "--batch-size", "16", "--seed", "7", "--patience", "0",
    ])
    return out


def test_training_writes_a_complete_model_folder(trained):
    names = {p.name for p in trained.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.jsonl",
            "test_results.json", "test_results.md"} <= names
    config = json.loads((trained / "config.json").read_text())
    assert set(config["tasks"]) == {"sst2", "trec", "punctuation_e2e"}
    assert config["encoder"]["type"] == "word_vectors" and config["encoder"]["embedding_dim"] == 32
    assert config["training_config"]["optimization"]["seed"] == 7 and config["best_step"] in (30, 60, 90)


def test_metrics_jsonl_has_training_validation_and_test_records(trained):
    records = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    splits = [r["split"] for r in records]
    assert splits.count("validation") == 3 and splits.count("test") == 1 and "train" in splits
    val = [r for r in records if r["split"] == "validation"][0]
    assert set(val["metrics"]) == {"sst2", "trec", "punctuation_e2e"}
    assert val["metrics"]["trec"]["examples"] == 546  # the whole validation split, once


def test_test_table_matches_the_restored_model(trained, data_dir):
    results = json.loads((trained / "test_results.json").read_text())["metrics"]
    assert results["sst2"]["examples"] == 872 and results["trec"]["examples"] == 500
    assert results["punctuation_e2e"]["accuracy"] > 0.9  # an easy task: training really learned
    # the test splits' Hub datasets, for the model card; the user's task declares none
    datasets = json.loads((trained / "test_results.json").read_text())["datasets"]
    assert datasets == {"sst2": {"path": "nyu-mll/glue", "name": "sst2", "split": "validation"},
                        "trec": {"path": "CogComp/trec", "split": "test"}}
    # recompute trec's test accuracy from the saved folder
    from mtl_text import load_task_splits

    predictor = Predictor.from_pretrained(trained)
    test = load_task_splits("trec", data_dir, seed=7)["test"]
    probs = predictor.predict_proba(test["text"], ["trec"])["trec"]
    accuracy = (probs.argmax(-1) == torch.tensor(test["label"])).sum().item() / len(test)
    assert accuracy == pytest.approx(results["trec"]["accuracy"], abs=1e-9)
    # the per-class figures and confusion matrix are the restored model's too
    report = json.loads((trained / "test_results.json").read_text())["class_reports"]["trec"]
    labels = predictor.model.tasks["trec"]["labels"]
    matrix = [[0] * len(labels) for _ in labels]
    for reference, predicted in zip(test["label"], probs.argmax(-1).tolist()):
        matrix[reference][predicted] += 1
    assert report["confusion_matrix"] == matrix and list(report["per_class"]) == labels
    for i, label in enumerate(labels):
        figures = report["per_class"][label]
        assert figures["support"] == sum(matrix[i])
        assert figures["recall"] == pytest.approx(matrix[i][i] / sum(matrix[i]) if sum(matrix[i]) else 0.0)


def test_predict_three_texts_one_empty(trained, python, repo):
    proc = run_predict(python, repo, "--model", str(trained), "a gripping , beautiful film", "", "Who invented the telephone ?")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 3
    results = [json.loads(line) for line in lines]
    assert [r["text"] for r in results] == ["a gripping , beautiful film", "", "Who invented the telephone ?"]
    assert results[1]["empty_text"] is True
    for r in results:
        assert set(r["predictions"]) == {"sst2", "trec", "punctuation_e2e"}
        sst = r["predictions"]["sst2"]
        assert sst["label"] in ("negative", "positive")
        assert sum(sst["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert sst["label"] == max(sst["probabilities"], key=sst["probabilities"].get)


def test_predict_reads_jsonl_file_and_selects_heads(trained, tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "What is the capital of France ?"}\n{"text": "dull and tedious", "id": 3}\n')
    status, out, err = run_cli(predict_main, ["--model", str(trained), "--input", str(path), "--tasks", "trec"], capsys)
    assert status == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert len(results) == 2 and all(set(r["predictions"]) == {"trec"} for r in results)


def test_predict_reads_standard_input(trained, capsys):
    status, out, err = run_cli(predict_main, ["--model", str(trained)], capsys, stdin=b"first text\nsecond text\n")
    assert status == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["first text", "second text"]


def test_predict_rejects_non_utf8_input(trained, capsys):
    status, out, err = run_cli(predict_main, ["--model", str(trained)], capsys, stdin=b"fine\ncaf\xe9\n")
    assert status == 2 and "<stdin>, line 2: not valid UTF-8" in err and out == ""


def test_predict_rejects_a_folder_that_is_not_a_model(tmp_path, capsys):
    status, _, err = run_cli(predict_main, ["--model", str(tmp_path), "text"], capsys)
    assert status == 2 and "is not a saved mtl-text model" in err and "Traceback" not in err


def test_predict_unknown_head(trained, capsys):
    status, _, err = run_cli(predict_main, ["text", "--model", str(trained), "--tasks", "imdb"], capsys)
    assert status == 2 and "no head for ['imdb']" in err


def test_same_seed_same_model(trained, tmp_path, data_dir):
    """--seed fixes splits, sampling and initialisation: a second run gives the same weights."""
    args = ["--tasks", "trec", "--data-dir", str(data_dir), "--max-train-examples", "200", "--max-steps", "15",
            "--embedding-dim", "16", "--w2v-epochs", "1", "--seed", "3", "--patience", "0"]
    train_main(args + ["--output-dir", str(tmp_path / "a")])
    train_main(args + ["--output-dir", str(tmp_path / "b")])
    a, b = MultiTaskModel.from_pretrained(tmp_path / "a"), MultiTaskModel.from_pretrained(tmp_path / "b")
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name


def test_train_help_explains_every_option(python, repo):
    proc = subprocess.run([python, str(repo / "scripts" / "train.py"), "--help"], capture_output=True, timeout=120)
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for option in ("--tasks", "--task-file", "--vectors", "--pooling", "--freeze-encoder", "--sampling", "--temperature",
                   "--seed", "--patience", "--max-length", "--head-hidden-size", "--head-dropout", "--encoder", "--model-name-or-path",
                   "--trust-remote-code", "--freeze-layers", "--lora-r", "--lora-target-modules", "--lora-save", "--gradient-checkpointing", "--layer-lr-decay", "--head-learning-rate", "--warmup-ratio",
                   "--gradient-accumulation-steps", "--cache-dir", "--save-every", "--save-total-limit", "--resume-from-checkpoint"):
        assert option in text


def test_train_unknown_task_fails_clearly(capsys):
    """The built-in tasks are named in order (this process may have registered a user's task beside them)."""
    assert run_command(train_main, ["--tasks", "imdb"]) == 2
    known = ["20newsgroups", "amazon_books", "amazon_dvd", "amazon_electronics", "amazon_kitchen", "cola", "goemotions", "mrpc", "rte",
             "sst2", "stsb", "trec"]
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: unknown task 'imdb'. Known tasks: ") and line.endswith(" (a file that calls mtl_text.register_task).")
    named = line.removeprefix("error: unknown task 'imdb'. Known tasks: ").split(". ")[0].split(", ")
    assert [t for t in named if t in known] == known and named == sorted(named)


def test_train_missing_data_fails_clearly(python, repo, tmp_path):
    env = {**__import__("os").environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([python, str(repo / "scripts" / "train.py"), "--tasks", "trec", "--data-dir", str(tmp_path)],
                          capture_output=True, timeout=300, env=env)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "error: data for task 'trec' not found" in err and str(tmp_path / "trec" / "train_5500.label") in err


def test_predictor_encode_equals_the_tokenizer_call(tmp_path):
    """The prediction fast path gives the ids and mask of tokenizer(..., truncation, padding), for a
    word-level tokenizer and a WordPiece (BERT) one, empty texts and truncation included."""
    from transformers import BertTokenizerFast

    from mtl_text.data.tokenization import train_word_tokenizer
    from mtl_text.inference.prediction import Predictor

    # the last text needs NFKC ("\ufb01" is the ligature fi, the others full-width letters), so it
    # cannot take the word-level tokenizer's ASCII fast path, which the others do
    texts = ["A fine, funny film!", "", "word " * 40, "Unseen Wörds here", "\ufb01ne \uff26\uff29\uff2c\uff2d"]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "fine", ",", "funny", "film", "!", "word", "here"]))
    word = train_word_tokenizer(texts[:1] + texts[2:4])
    assert word(texts[-1:])["input_ids"] == word(["fine film"])["input_ids"]  # NFKC, then lower-casing
    for tokenizer in (word, BertTokenizerFast(str(vocab))):
        for side in ("right", "left"):
            tokenizer.padding_side = side
            predictor = Predictor.__new__(Predictor)
            predictor.tokenizer, predictor._token_ids = tokenizer, {}
            for max_length in (5, 64):
                ids, mask, _ = predictor.encode(texts, max_length)
                expected = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
                assert ids.tolist() == expected["input_ids"].tolist()
                assert mask.tolist() == expected["attention_mask"].tolist()


def test_gradient_accumulation_matches_the_larger_batch(tmp_path, data_dir):
    """Two accumulated batches of 8 make the same optimizer steps as batches of 16 (the same 16
    examples: the seeded order does not depend on the batch size; the loss of each half is divided
    by 2), so the weights after 6 steps agree up to float rounding; without dropout."""
    args = ["--tasks", "trec", "--data-dir", str(data_dir), "--max-train-examples", "200", "--max-steps", "6", "--eval-every", "6",
            "--embedding-dim", "16", "--w2v-epochs", "1", "--seed", "3", "--patience", "0", "--word-dropout", "0", "--head-dropout", "0"]
    train_main(args + ["--batch-size", "16", "--output-dir", str(tmp_path / "whole")])
    train_main(args + ["--batch-size", "8", "--gradient-accumulation-steps", "2", "--output-dir", str(tmp_path / "accumulated")])
    train_main(args + ["--batch-size", "8", "--output-dir", str(tmp_path / "half")])
    whole, accumulated, half = (MultiTaskModel.from_pretrained(tmp_path / name).state_dict() for name in ("whole", "accumulated", "half"))
    assert any(not torch.allclose(whole[k], half[k], atol=1e-4) for k in whole), "batches of 8 without accumulation should differ"
    for name in whole:
        assert torch.allclose(whole[name], accumulated[name], atol=1e-5, rtol=1e-4), name


def test_gradient_accumulation_steps_the_optimizer_once_per_step_across_epochs(tmp_path, data_dir):
    """A task's epoch may end inside an accumulation: the optimizer still steps once per
    --gradient-accumulation-steps batches, --max-steps times in all (Accelerate's default would
    also step at every epoch end: 21 steps here)."""
    from safetensors.torch import load_file

    from mtl_text.training.checkpointing import list_checkpoints

    out = tmp_path / "run"
    train_main(["--tasks", "trec", "--data-dir", str(data_dir), "--max-train-examples", "100", "--max-steps", "20", "--eval-every", "20",
                "--batch-size", "8", "--gradient-accumulation-steps", "2", "--embedding-dim", "8", "--w2v-epochs", "1", "--seed", "1",
                "--patience", "0", "--output-dir", str(out)])  # 12 batches of 8 per epoch: 40 batches cross three epoch ends
    state = load_file(str(list_checkpoints(out)[-1] / "optimizer.safetensors"))
    assert {v.item() for k, v in state.items() if k.endswith("step")} == {20.0}


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")  # the test wraps it
def test_each_step_starts_from_zero_gradients(tmp_path, data_dir):
    """The loop clears every gradient after each optimizer step (from the parameter list it keeps,
    not by walking the modules): each forward pass starts with no gradient held, although every step
    leaves gradients for the optimizer, and none is left after the last step."""
    from pathlib import Path

    from mtl_text import TrainingConfig
    from mtl_text.training.build import build_training
    from mtl_text.training.loop import fit
    from mtl_text.training.outputs import RunLog
    from mtl_text.training.runtime import make_accelerator

    config = TrainingConfig.from_options(tasks=["trec"], max_train_examples=100, cache_dir="none", w2v_epochs=1, embedding_dim=8,
                                         max_steps=3, eval_every=3, patience=0, save_total_limit=0, data_dir=str(data_dir),
                                         output_dir=str(tmp_path / "run"))
    accelerator = make_accelerator(config)
    run = build_training(config, accelerator)
    model = accelerator.unwrap_model(run.model)
    held_at_forward, held_at_step = [], []
    model.register_forward_pre_hook(lambda module, args: held_at_forward.append(
        sum(p.grad is not None for p in module.parameters())) if module.training else None)
    step = run.optimizer.optimizer.step

    def recording_step(*args, **kwargs):
        held_at_step.append(sum(p.grad is not None for p in model.parameters()))
        return step(*args, **kwargs)

    run.optimizer.optimizer.step = recording_step
    fit(run, config, RunLog(accelerator, Path(config.output_dir)))
    assert held_at_forward == [0, 0, 0]
    assert len(held_at_step) == 3 and all(n > 0 for n in held_at_step)
    assert all(p.grad is None for p in model.parameters())


def test_validation_score_averages_the_selection_tasks_only():
    results = {"sst2": {"accuracy": 0.8, "macro_f1": 0.7}, "trec": {"accuracy": 0.6, "macro_f1": 0.5}}
    primary = {"sst2": "accuracy", "trec": "accuracy"}
    assert validation_score(results, "primary", primary, ["sst2", "trec"]) == pytest.approx(0.7)
    assert validation_score(results, "primary", primary, ["trec"]) == pytest.approx(0.6)
    assert validation_score(results, "macro_f1", primary, ["sst2"]) == pytest.approx(0.7)


def test_selection_tasks_choose_the_best_model_by_their_validation_alone(tmp_path, data_dir):
    """sst2 as an auxiliary task of trec: the best step is trec's best validation step, and the saved
    model is that step's (its trec validation accuracy restored from the folder)."""
    out = tmp_path / "model"
    train_main(["--tasks", "sst2", "trec", "--selection-tasks", "trec", "--data-dir", str(data_dir), "--output-dir", str(out),
                "--max-train-examples", "300", "--max-steps", "80", "--eval-every", "20", "--sampling", "uniform", "--embedding-dim", "16",
                "--w2v-epochs", "1", "--batch-size", "16", "--seed", "3", "--patience", "0", "--wide-buckets", "0"])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in rows if r["split"] == "validation"]
    assert len(validations) == 4
    for r in validations:  # the logged mean is trec's accuracy alone
        assert r["mean_primary"] == pytest.approx(r["metrics"]["trec"]["accuracy"])
    trec = [r["metrics"]["trec"]["accuracy"] for r in validations]
    best = validations[trec.index(max(trec))]["step"]  # the first of equal scores: only an improvement replaces the best
    assert json.loads((out / "config.json").read_text())["best_step"] == best
