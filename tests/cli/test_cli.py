"""The command line: every option checked where it is parsed, one `error:` line and exit status 2 for
bad input (from one handler, the only place that ends the process), the output folder's rules, the
console script and the predict input formats."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mtl_text.arguments import Arguments, Fraction, PositiveInt, Range, SelectionArguments, declared_range, field_ranges
from mtl_text.bench.serving import ServingBenchmarkArguments
from mtl_text.cli import run_command
from mtl_text.cli.evaluate import EvaluateArguments
from mtl_text.cli.evaluate import main as evaluate_main
from mtl_text.cli.parsing import ArgumentParser
from mtl_text.cli.predict import PredictArguments
from mtl_text.cli.predict import main as predict_main
from mtl_text.cli.train import main as train_main
from mtl_text.cli.train import parse_config
from mtl_text.errors import ConfigError
from mtl_text.training.config import GROUPS, EncoderArguments, TrainingConfig

from helpers import run_cli, run_predict, write_user_task

PACKAGE = Path(__file__).resolve().parents[2] / "mtl_text"


def out_of_range(valid: Range, integer: bool):
    """A value just outside ``valid``, as command-line text."""
    if valid.min is not None:
        value = valid.min if valid.min_exclusive else valid.min - (1 if integer else 0.5)
    else:
        value = valid.max if valid.max_exclusive else valid.max + 1
    if valid.max is not None and valid.min is not None and integer is False and value == valid.min and not valid.min_exclusive:
        value = valid.max + 0.5
    return str(int(value)) if integer else str(value)


def numeric_options(dataclasses):
    import typing

    for cls in dataclasses:
        hints = typing.get_type_hints(cls)
        for name, valid in field_ranges(cls).items():
            integer = int in (typing.get_args(hints[name]) or (hints[name],))
            yield "--" + name.replace("_", "-"), out_of_range(valid, integer), valid


TRAIN_CASES = list(numeric_options(GROUPS.values()))


def test_every_numeric_training_option_has_a_range():
    assert len(TRAIN_CASES) >= 25
    assert {"--batch-size", "--learning-rate", "--validation-size", "--temperature", "--num-epochs", "--patience", "--eval-every",
            "--max-steps", "--save-every", "--seed", "--warmup-ratio", "--head-dropout"} <= {o for o, _, _ in TRAIN_CASES}


@pytest.mark.parametrize("option, value, valid", TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_option_out_of_range_is_one_error_line(option, value, valid, capsys, tmp_path):
    # a data folder that does not exist: had anything loaded, the error would be another one
    status = run_command(train_main, [option, value, "--data-dir", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith(f"error: {option} must be ") and f"{valid}, got" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_an_optional_option_keeps_its_shared_range():
    # `PositiveInt | None` declares PositiveInt's range: None is the default, 0 an error
    @dataclass
    class Options(Arguments):
        steps: PositiveInt | None = None
        share: Fraction | None = field(default=None, metadata={"help": "a share"})
        plain: int | None = None

    assert declared_range(PositiveInt | None) == Range(min=1)
    assert declared_range(int | None) is None
    assert field_ranges(Options) == {"steps": Range(min=1), "share": Range(min=0, max=1, min_exclusive=True, max_exclusive=True)}
    assert Options().steps is None and Options(steps=3).steps == 3
    with pytest.raises(ConfigError, match=r"^--steps must be an integer >= 1, got 0$"):
        Options(steps=0)
    with pytest.raises(ConfigError, match=r"^--share must be a number in \(0, 1\), got 1.0$"):
        Options(share=1.0)
    # and the command line shows it in --help, as for a required range
    assert "a share (valid: in (0, 1))" in " ".join(ArgumentParser([Options]).format_help().split())


def test_a_list_option_holds_each_value_to_its_range():
    @dataclass
    class Options(Arguments):
        widths: list[PositiveInt] | None = None
        shares: list[Fraction] = field(default_factory=list)
        counts: list[PositiveInt] = field(default_factory=lambda: [1])

    assert declared_range(list[PositiveInt] | None) == Range(min=1)
    assert Options(widths=[1, 3], shares=[0.5]).widths == [1, 3] and Options().widths is None
    with pytest.raises(ConfigError, match=r"^--widths must be a list of integers >= 1, got \[3, 0\]$"):
        Options(widths=[3, 0])
    with pytest.raises(ConfigError, match=r"^--shares must be a list of numbers in \(0, 1\), got \[0.5, 1.0\]$"):
        Options(shares=[0.5, 1.0])
    with pytest.raises(ConfigError, match=r"^--widths must be a list of integers, got \[2.5\]$"):  # the type first
        Options(widths=[2.5])
    with pytest.raises(ConfigError, match=r"^--counts must be a list of integers >= 1, got \[0\]$"):  # not optional: the same words
        Options(counts=[0])
    # the options that declare it: training's --conv-widths and the serving benchmark's --clients
    with pytest.raises(ConfigError, match=r"^--conv-widths must be a list of integers >= 1, got \[3, 0\]$"):
        EncoderArguments(conv_filters=8, conv_widths=[3, 0])
    with pytest.raises(ConfigError, match=r"^--conv-widths must be a non-empty list of widths in tokens, got \[\]$"):
        EncoderArguments(conv_filters=8, conv_widths=[])
    with pytest.raises(ConfigError, match=r"^--clients must be a list of integers >= 1, got \[8, 0\]$"):
        ServingBenchmarkArguments(model="m", clients=[8, 0])


def test_predict_and_serve_take_one_minimum_confidence_and_each_tasks_own():
    assert SelectionArguments(min_confidence=0.9).min_confidences() == 0.9
    assert SelectionArguments().min_confidences() is None
    both = SelectionArguments(min_confidence=0.5, task_min_confidence=["sst2=0.968268", "20newsgroups=1"])
    assert both.min_confidences() == {"sst2": 0.968268, "20newsgroups": 1.0, "*": 0.5}  # "*": the single-label heads not named
    assert SelectionArguments(task_min_confidence=["sst2=0.9"]).min_confidences() == {"sst2": 0.9}
    for bad in (["sst2=0"], ["sst2=1.5"], ["=0.5"], ["sst2"], ["sst2=high"]):
        with pytest.raises(ConfigError, match=r"^--task-min-confidence: expected TASK=P with P in \(0, 1\], got "):
            SelectionArguments(task_min_confidence=bad)


# every TASK=VALUE option: what an item reads as, and items it refuses
TASK_VALUE_CASES = [
    ("max_length", ["sst2=64", "trec=32"], {"sst2": 64, "trec": 32}, ["sst2=0", "sst2=6.5", "sst2", "=64"]),
    ("task_train_examples", ["trec=100"], {"trec": 100}, ["trec=-1", "trec=all"]),
    ("pooling", ["max", "sst2=mean"], {"*": "max", "sst2": "mean"}, ["median", "sst2=median", "sst2="]),
    ("class_weights", ["sst2=balanced", "trec=none", "cola=1,2.5"], {"sst2": "balanced", "trec": None, "cola": [1.0, 2.5]},
     ["sst2=0,1", "sst2=heavy", "sst2=1,,2", "sst2=inf", "sst2"]),
    ("task_weights", ["sst2=0", "trec=2.5"], {"sst2": 0.0, "trec": 2.5}, ["sst2=-1", "sst2=nan", "sst2=big"]),
    ("adapt", ["amazon_books=amazon_dvd"], {"amazon_books": "amazon_dvd"}, ["amazon_books=", "amazon_books"]),
    ("task_min_confidence", ["sst2=0.97"], {"sst2": 0.97}, ["sst2=0", "sst2=1.5", "sst2"]),
]


def task_value_options(name: str, value) -> Arguments:
    """The options group that holds the ``TASK=VALUE`` option ``name``, built with ``value``."""
    group = next(g for g in (*GROUPS.values(), SelectionArguments) if name in {f.name for f in dataclasses.fields(g)})
    return group(**{"tasks": ["sst2", "trec", "cola", "amazon_books"]} if group is GROUPS["data"] else {}, **{name: value})


@pytest.mark.parametrize("name, items, read, refused", TASK_VALUE_CASES, ids=[c[0] for c in TASK_VALUE_CASES])
def test_every_task_value_option_reads_alike(name, items, read, refused):
    """One reader (mtl_text.arguments.TaskValues) for every TASK=VALUE option: the same items from the
    command line and from a Python mapping, an error naming the option and the item, and a task
    named twice refused, never a silent last-one-wins."""
    assert task_value_options(name, items).task_values(name) == read
    assert task_value_options(name, read).task_values(name) == read  # a Python user's mapping
    option = "--" + name.replace("_", "-")
    for bad in refused:
        with pytest.raises(ConfigError, match=rf"^{option}: expected .*, got {re.escape(repr(bad))}"):
            task_value_options(name, [bad])
    with pytest.raises(ConfigError, match=rf"^{option}: {'the bare value' if items[0] == 'max' else items[0].partition('=')[0]} given twice"):
        task_value_options(name, [items[0], items[0]])


def test_a_task_value_option_naming_a_task_not_trained_is_named():
    with pytest.raises(ConfigError, match=r"^--task-weights names task\(s\) \['cola'\] that are not in --tasks \['sst2', 'trec'\]$"):
        TrainingConfig.from_options(tasks=["sst2", "trec"], task_weights={"sst2": 0.5, "cola": 2})
    with pytest.raises(ConfigError, match=r"^--adapt names task\(s\) \['cola'\]"):
        TrainingConfig.from_options(tasks=["sst2", "trec"], adapt={"cola": "sst2"})


def test_distill_texts_keeps_each_tasks_sources_in_order():
    from mtl_text.training.config import DistillationArguments
    items = ["sst2=a.txt", "trec=b.txt", "sst2=c.txt"]
    assert DistillationArguments(distill_from="teacher", distill_texts=items).transfer_sources() == {"sst2": ["a.txt", "c.txt"],
                                                                                                      "trec": ["b.txt"]}
    mapping = DistillationArguments(distill_from="teacher", distill_texts={"sst2": ["a.txt", "c.txt"], "trec": "b.txt"})
    assert mapping.distill_texts == ["sst2=a.txt", "sst2=c.txt", "trec=b.txt"]


PYTHON_TYPE_CASES = [  # what a Python user may pass, and the one error it gets before anything loads
    ({"tasks": "sst2"}, "--tasks must be a list of strings, got 'sst2'"),
    ({"tasks": ["sst2", 3]}, "--tasks must be a list of strings, got ['sst2', 3]"),
    ({"batch_size": "8"}, "--batch-size must be an integer, got '8'"),
    ({"batch_size": 16.0}, "--batch-size must be an integer, got 16.0"),
    ({"learning_rate": True}, "--learning-rate must be a number, got True"),
    ({"group_by_length": "yes"}, "--group-by-length must be a boolean, got 'yes'"),
    ({"max_length": 256}, "--max-length must be a list of strings, got 256"),
    ({"encoder": "lstm"}, "--encoder must be one of 'word_vectors', 'transformer', got 'lstm'"),
    ({"vectors": 3}, "--vectors must be a string, got 3"),
]


@pytest.mark.parametrize("options, message", PYTHON_TYPE_CASES, ids=[next(iter(c[0])) + "-" + type(next(iter(c[0].values()))).__name__
                                                                     for c in PYTHON_TYPE_CASES])
def test_python_options_of_the_wrong_type_are_one_error(options, message):
    with pytest.raises(ConfigError) as raised:
        TrainingConfig.from_options(**{"tasks": ["sst2"], **options})
    assert str(raised.value) == message


def test_python_tuples_and_paths_are_taken_as_lists_and_strings(tmp_path):
    config = TrainingConfig.from_options(tasks=("sst2", "trec"), data_dir=tmp_path, output_dir=tmp_path / "out")
    assert config.data.tasks == ["sst2", "trec"] and config.data.data_dir == str(tmp_path)
    assert config.checkpoints.output_dir == str(tmp_path / "out")
    # the same configuration as the command line's, so it saves and reads back alike
    parsed, _ = parse_config(["--tasks", "sst2", "trec", "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")])
    assert config.to_dict() == parsed.to_dict()
    assert PredictArguments(model=tmp_path).model == str(tmp_path)


@pytest.mark.parametrize("command, classes", [(predict_main, [PredictArguments, SelectionArguments]), (evaluate_main, [EvaluateArguments])])
def test_predict_and_evaluate_options_out_of_range(command, classes, capsys, tmp_path):
    cases = list(numeric_options(classes))
    assert cases
    for option, value, valid in cases:
        status = run_command(command, ["--model", str(tmp_path), option, value])
        err = capsys.readouterr().err
        assert status == 2 and err.startswith(f"error: {option} must be ") and str(valid) in err, (option, err)


@pytest.mark.parametrize("args, expected", [
    (["--batch-size", "0"], "error: --batch-size must be an integer >= 1, got 0"),
    (["--learning-rate", "-1"], "error: --learning-rate must be a number > 0, got -1.0"),
    (["--validation-size", "1.5"], "error: --validation-size must be a number in (0, 1), got 1.5"),
    (["--temperature", "0"], "error: --temperature must be a number > 0, got 0.0"),
    (["--num-epochs", "0"], "error: --num-epochs must be a number > 0, got 0.0"),
    (["--max-steps", "-3"], "error: --max-steps must be an integer >= 1, got -3"),
    (["--patience", "-1"], "error: --patience must be an integer >= 0, got -1"),
    (["--eval-every", "0"], "error: --eval-every must be an integer >= 1, got 0"),
])
def test_the_reported_cases_through_the_script(args, expected, python, repo, tmp_path):
    proc = subprocess.run([python, str(repo / "scripts" / "train.py"), *args, "--output-dir", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == expected and "Traceback" not in proc.stderr


def test_options_that_exclude_each_other(capsys):
    for args, message in ((["--freeze-layers", "1"], "--freeze-layers applies to --encoder transformer only"),
                          (["--encoder", "transformer"], "--encoder transformer needs --model-name-or-path"),
                          (["--vectors", "v.bin", "--random-init"], "--vectors and --random-init exclude each other"),
                          (["--max-length", "sst2=0"], "--max-length: expected TASK=N with N >= 1"),
                          (["--pooling", "median"], "--pooling: expected MODE or TASK=MODE with MODE one of mean, "),
                          (["--tasks", "trec", "--pooling", "sst2=max"], "names task(s) ['sst2'] that are not in --tasks"),
                          (["--tasks", "trec", "--selection-tasks", "sst2"], "names task(s) ['sst2'] that are not in --tasks"),
                          (["--tasks", "stsb", "--label-smoothing", "0.1"], "--label-smoothing applies to single-label classification tasks"),
                          (["--report-to", "papyrus"], "--report-to: unknown tracker(s) ['papyrus']")):
        assert run_command(train_main, args) == 2
        assert message in capsys.readouterr().err


def test_system_exit_only_in_the_cli_layer():
    hits = subprocess.run(["grep", "-rn", "--include=*.py", "SystemExit\\|sys.exit", str(PACKAGE)], capture_output=True, text=True).stdout
    outside = [line for line in hits.splitlines() if not line.startswith(str(PACKAGE / "cli"))]
    assert outside == [], outside


def test_list_tasks_shows_which_tasks_get_the_wide_svm_by_default(capsys):
    assert run_command(train_main, ["--list-tasks"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "wide SVM" in lines["20newsgroups"] and "attention pooling" in lines["20newsgroups"]
    assert "wide SVM" not in lines["sst2"] and "wide SVM" not in lines["stsb"]
    assert "no wide" in lines["goemotions"] and "no wide" not in lines["sst2"]  # GoEmotions asks for no wide part
    assert len({line.index(" labels") for name, line in lines.items() if name != "stsb"}) == 1  # one column, the longest name too


def test_a_task_file_with_a_syntax_error_is_named(tmp_path, capsys):
    bad = tmp_path / "my_tasks.py"
    bad.write_text("from mtl_text import Task\nTask(name='x',\n")
    assert run_command(train_main, ["--task-file", str(bad), "--list-tasks"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: task file {bad} failed to load: SyntaxError at line 2"), err


# --- the output folder ---------------------------------------------------------------------------


def tiny_run(data_dir, out, *extra):
    return ["--tasks", "trec", "--data-dir", str(data_dir), "--max-train-examples", "100", "--max-steps", "4", "--embedding-dim", "8",
            "--w2v-epochs", "1", "--cache-dir", "none", "--save-total-limit", "0", "--output-dir", str(out), *extra]


def test_a_folder_with_a_model_is_refused_unless_overwritten(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_command(train_main, tiny_run(data_dir, out)) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert run_command(train_main, tiny_run(data_dir, out, "--seed", "3")) == 2
    err = capsys.readouterr().err
    assert "already holds a model (config.json, model.safetensors)" in err and "--overwrite-output-dir" in err
    assert run_command(train_main, tiny_run(data_dir, out, "--seed", "3", "--overwrite-output-dir")) == 0
    assert (out / "notes.txt").read_text() == "mine"  # only the earlier run's own files are replaced


def test_a_second_run_on_the_same_folder_refuses(data_dir, tmp_path, python, repo, capsys):
    out = tmp_path / "shared-run"
    first = subprocess.Popen([python, str(repo / "scripts" / "train.py"), *tiny_run(data_dir, out)[:-2], "--max-steps", "100000",
                              "--patience", "0", "--output-dir", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        lock = out / ".mtl-text.lock"
        for _ in range(600):
            if lock.exists() or first.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        assert lock.exists(), first.stderr.read().decode()[-2000:] if first.poll() is not None else "no lock file"
        for extra in ([], ["--overwrite-output-dir"], ["--resume-from-checkpoint", "latest"]):  # none of them bypasses the lock
            assert run_command(train_main, [*tiny_run(data_dir, out, "--learning-rate", "0.1"), *extra]) == 2  # in-process: no start-up
            assert capsys.readouterr().err.startswith(f"error: --output-dir {out} is in use by another run (process {first.pid} on"), extra
    finally:
        first.kill()
        first.wait()
        first.stderr.close()


def test_a_stale_lock_of_a_dead_process_is_taken_over(data_dir, tmp_path, capsys):
    import socket

    out = tmp_path / "stale"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".mtl-text.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": "earlier"}))
    assert run_command(train_main, tiny_run(data_dir, out)) == 0
    assert not (out / ".mtl-text.lock").exists()


# --- console script, predict input ----------------------------------------------------------------


def test_console_script_and_module(python, repo):
    script = Path(python).parent / "mtl-text"
    top = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0 and all(c in top.stdout for c in ("train", "predict", "evaluate", "benchmark"))
    helps = subprocess.run([python, "-m", "mtl_text", "train", "--help"], capture_output=True, text=True, timeout=120)
    assert helps.returncode == 0 and "--batch-size" in helps.stdout and "(valid: >= 1)" in helps.stdout
    unknown = subprocess.run([str(script), "fit"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: unknown command 'fit'")


@pytest.mark.parametrize("command", ["serve", "export-onnx", "push-to-hub", "predict", "evaluate"])
def test_every_command_explains_its_options(command, capsys):
    import importlib

    from mtl_text.cli import COMMANDS

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(COMMANDS[command][0]).main(["--help"], f"mtl-text {command}")
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith(f"usage: mtl-text {command}") and "--model" in out
    assert "Hub id" in out or command == "push-to-hub"


def test_every_command_that_writes_a_model_folder_takes_output_dir():
    from mtl_text.cli.calibrate import CalibrateArguments
    from mtl_text.cli.export import ExportArguments

    for cls, field_name in ((ExportArguments, "output"), (CalibrateArguments, "output_dir")):  # export-onnx's --output, and the common spelling
        (parsed,), _ = ArgumentParser(cls).parse(["--model", "m", "--output-dir", "out"])
        assert getattr(parsed, field_name) == "out"
    assert TrainingConfig.from_options(output_dir="out").checkpoints.output_dir == "out"


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("cli") / "model"
    data = tmp_path_factory.mktemp("cli-data")
    write_user_task(data, "cli")
    assert run_command(train_main, ["--task-file", str(data / "my_task.py"), "--tasks", "punctuation_cli", "--data-dir", str(data),
                                    "--max-steps", "20", "--embedding-dim", "8", "--w2v-epochs", "1", "--min-word-frequency", "1",
                                    "--cache-dir", "none", "--save-total-limit", "0", "--output-dir", str(out)]) == 0
    return out


def test_predict_reads_a_line_starting_with_a_brace_as_text(small_model, capsys):
    status, out, err = run_cli(predict_main, ["--model", str(small_model)], capsys, stdin=b'{curly} is my favourite band\n{"text": "x"}\n')
    assert status == 0, err
    texts = [json.loads(line)["text"] for line in out.splitlines()]
    assert texts == ["{curly} is my favourite band", '{"text": "x"}']


def test_predict_jsonl_is_inferred_from_the_suffix_or_chosen(small_model, tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "is it ?"}\n\n{"text": "it is ."}\n')
    status, out, _ = run_cli(predict_main, ["--model", str(small_model), "--input", str(path)], capsys)
    assert status == 0 and [json.loads(x)["text"] for x in out.splitlines()] == ["is it ?", "it is ."]
    status, _, err = run_cli(predict_main, ["--model", str(small_model), "--input-format", "jsonl"], capsys, stdin=b"{curly} band\n")
    assert status == 2 and err.startswith("error: <stdin>, line 1: invalid JSON")


def test_predict_reads_csv_by_its_header(small_model, data_dir, tmp_path, capsys, monkeypatch):
    """SST-2's validation sentences (commas, quotes) written as CSV with Python's csv module, read back
    by their column name, in order; the column options only where the input has fields."""
    import csv
    import io

    from mtl_text import load_test_split

    sentences = load_test_split("sst2", data_dir)["text"][:40]
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "sentence"])
        writer.writerows(enumerate(sentences))
    assert any("," in t for t in sentences) and any('"' in line for line in path.read_text().splitlines())  # quoting is exercised
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(path), "--text-column", "sentence"]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == sentences
    monkeypatch.setattr("mtl_text.cli.predict.CHUNK", 7)  # scored and written 7 texts at a time: the same outputs as one call
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(path), "--text-column", "sentence",
                                      "--keep-columns", "id"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["id"], x["text"]) for x in lines] == [(str(i), t) for i, t in enumerate(sentences)] and list(lines[0])[:2] == ["id", "text"]
    from mtl_text import Predictor

    assert [{k: v for k, v in x.items() if k != "id"} for x in lines] == json.loads(json.dumps(Predictor.from_pretrained(small_model).predict(sentences)))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert run_command(predict_main, ["--model", str(small_model), "--input-format", "csv"]) == 2
    assert capsys.readouterr().err == "error: <stdin>, line 1: the CSV header has no column 'text' (it names ['id', 'sentence']); the first row must name the columns (--text-column chooses the text's)\n"
    for args, message in ((["--text-column", "sentence", "a text"], "--text-column names a field of jsonl or csv input, but the texts are given as arguments"),
                          (["--input", str(path), "--input-format", "text", "--text-pair-column", "b"],
                           "--text-pair-column names a field of jsonl or csv input, but the texts are read as text"),
                          (["--input", str(path), "--text-column", "sentence", "--keep-columns", "predictions"],
                           "--keep-columns 'predictions': an output line holds 'predictions' already (text, text_pair, predictions, "
                           "empty_text)"),
                          (["a text", "--input", str(path), "--text-column", "sentence", "--keep-columns", "id"],
                           "--keep-columns: texts given as arguments have no columns to keep; give every text in the input")):
        assert run_command(predict_main, ["--model", str(small_model), *args]) == 2
        assert capsys.readouterr().err == f"error: {message}\n"


def test_predict_writes_csv_rows_or_a_compressed_file_with_the_json_lines_contents(small_model, data_dir, tmp_path, capsys):
    """SST-2 sentences (commas, quotes) with an id, written to --output as CSV: one row per text, the
    JSON output's fields as columns, read back by Python's csv module; as .jsonl.gz: the JSON lines."""
    import csv
    import gzip

    from mtl_text import load_test_split

    sentences = load_test_split("sst2", data_dir)["text"][:30] + [""]
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(sentences)))
    base = ["--model", str(small_model), "--input", str(path), "--keep-columns", "id"]
    status, out, _ = run_cli(predict_main, base, capsys)
    expected = [json.loads(line) for line in out.splitlines()]
    status, out, err = run_cli(predict_main, [*base, "--output", str(tmp_path / "out.csv")], capsys)
    assert status == 0 and out == "", err
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labels = list(expected[0]["predictions"]["punctuation_cli"]["probabilities"])
    assert list(rows[0]) == ["id", "text", "empty_text", "punctuation_cli.label",
                             *(f"punctuation_cli.probabilities.{label}" for label in labels)]
    assert len(rows) == len(expected) == 31
    for row, line in zip(rows, expected):
        head = line["predictions"]["punctuation_cli"]
        assert (int(row["id"]), row["text"], row["punctuation_cli.label"]) == (line["id"], line["text"], head["label"])
        assert [float(row[f"punctuation_cli.probabilities.{label}"]) for label in labels] == list(head["probabilities"].values())
        assert row["empty_text"] == ("true" if line.get("empty_text") else "false")
    assert rows[-1]["empty_text"] == "true" and rows[0]["empty_text"] == "false"
    status, out, _ = run_cli(predict_main, [*base, "--output", str(tmp_path / "out.jsonl.gz")], capsys)
    with gzip.open(tmp_path / "out.jsonl.gz", "rt", encoding="utf-8") as f:
        assert status == 0 and out == "" and [json.loads(line) for line in f] == expected
    status, out, _ = run_cli(predict_main, [*base, "--output-format", "csv"], capsys)  # CSV on standard output
    assert status == 0 and out == (tmp_path / "out.csv").read_text(encoding="utf-8")


def test_predict_output_is_whole_or_absent_and_bad_destinations_are_named(small_model, tmp_path, capsys, monkeypatch):
    """A run stopped by a bad record after some chunks were scored leaves --output as it was; a
    missing folder, a folder, and --top-k with CSV are refused before any model loads."""
    monkeypatch.setattr("mtl_text.cli.predict.CHUNK", 2)
    out_file = tmp_path / "out.jsonl"
    out_file.write_text("the previous outputs\n")
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in ["is it ?", "it is .", "who won ?"]) + "{bad\n"
    status, out, err = run_cli(predict_main, ["--model", str(small_model), "--input-format", "jsonl", "--output", str(out_file)], capsys,
                               stdin=stdin.encode())
    assert status == 2 and err.startswith("error: <stdin>, line 4: invalid JSON") and out == ""
    assert out_file.read_text() == "the previous outputs\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    missing = str(tmp_path / "no-model")  # nothing loads: each error comes first
    for args, message in ((["--output", str(tmp_path / "no" / "out.csv")], f"--output {tmp_path / 'no' / 'out.csv'}: the folder "
                                                                           f"{tmp_path / 'no'} does not exist"),
                          (["--output", str(tmp_path)], f"--output {tmp_path}: a folder; expected a file name"),
                          (["--output", str(tmp_path / "out.csv"), "--top-k", "1"], "--top-k keeps each text's most probable labels"),
                          (["--output-format", "csv", "--top-k", "1"], "--top-k keeps each text's most probable labels")):
        status, _, err = run_cli(predict_main, ["--model", missing, *args, "a text"], capsys)
        assert status == 2 and err.startswith(f"error: {message}"), err


@pytest.mark.parametrize("command, option", [("evaluate", "--json"), ("evaluate", "--predictions"), ("compare", "--json")])
def test_a_results_file_that_cannot_be_written_is_named_before_any_work(command, option, tmp_path, capsys):
    """The model named does not exist: the destination's error comes first, before minutes of scoring."""
    import importlib

    from mtl_text.cli import COMMANDS

    main = importlib.import_module(COMMANDS[command][0]).main
    models = ["--model", str(tmp_path / "no-model")] + (["--baseline", str(tmp_path / "no-baseline")] if command == "compare" else [])
    for destination, message in ((tmp_path / "no" / "out.json", f"the folder {tmp_path / 'no'} does not exist"),
                                 (tmp_path, "a folder; expected a file name")):
        status, _, err = run_cli(main, [*models, option, str(destination)], capsys)
        assert (status, err) == (2, f"error: {option} {destination}: {message}\n")


def test_predict_checks_a_file_whole_before_output_and_streams_standard_input(small_model, tmp_path, capsys, monkeypatch):
    """A file is read twice: checked whole (a bad record: no output at all), then scored. Standard
    input and named pipes are read once, a chunk at a time: the chunks before a bad record are
    written before its error."""
    import io
    import threading

    monkeypatch.setattr("mtl_text.cli.predict.CHUNK", 3)
    texts = ["is it ?", "it is .", "who won ?", "a film", "the cup"]
    data = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    path = tmp_path / "in.jsonl"
    path.write_text(data + "{bad\n")
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}, line 6: invalid JSON")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert run_command(predict_main, ["--model", str(small_model), "--input-format", "jsonl"]) == 2
    out, err = capsys.readouterr()
    assert [json.loads(line)["text"] for line in out.splitlines()] == texts[:3]  # the first chunk; the second holds line 6
    assert err.startswith("error: <stdin>, line 6: invalid JSON")
    fifo = tmp_path / "fifo.jsonl"  # as --input <(zcat texts.jsonl.gz) gives
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(data,))
    writer.start()
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(fifo)]) == 0
    writer.join()
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == texts
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: --input: {tmp_path} is a folder; give a file\n"


def test_predict_reads_a_gz_file_by_the_format_before_gz(small_model, tmp_path, capsys):
    import gzip

    texts = ["is it ?", "it is , surely .", "who won ?"]
    path = tmp_path / "texts.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps({"text": t}) + "\n" for t in texts).encode()))
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(path)]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == texts
    path.write_bytes(path.read_bytes()[:-12])  # cut short: checked before any output
    assert run_command(predict_main, ["--model", str(small_model), "--input", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {path}, line ") and "the compressed file is damaged or truncated" in err


def test_predict_answers_each_line_typed_at_a_terminal(small_model, capsys, monkeypatch):
    """Standard input from a terminal: each line is scored and answered before the next is read."""
    answered = []

    def typed():
        for text in (b"is it ?\n", b"it is .\n", b"who won ?\n"):
            yield text
            answered.append(capsys.readouterr().out)  # what was printed before the next line was typed

    class Terminal:
        buffer = typed()

        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    assert run_command(predict_main, ["--model", str(small_model)]) == 0
    answered.append(capsys.readouterr().out)
    assert [[json.loads(line)["text"] for line in out.splitlines()] for out in answered] == [["is it ?"], ["it is ."], ["who won ?"], []]


def test_predict_top_k(small_model, capsys):
    assert run_command(predict_main, ["--model", str(small_model), "--top-k", "1", "is it ?", "it is ."]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2 and all(list(p["probabilities"]) == [p["label"]] for x in lines for p in x["predictions"].values())
    assert run_command(predict_main, ["--model", str(small_model), "--top-k", "0", "is it ?"]) == 2
    assert capsys.readouterr().err == "error: --top-k must be an integer >= 1, got 0\n"


def test_predict_stops_quietly_when_its_reader_goes_away(small_model, python, repo):
    """``mtl-text predict ... | head -1``: status 141 (128 + SIGPIPE, as a shell reports for a filter
    stopped by a closed pipe), no error line and no traceback."""
    texts = b"".join(b"a film about the cup %d\n" % i for i in range(5000))  # far more output than a pipe's buffer holds
    proc = subprocess.Popen([python, str(repo / "scripts" / "predict.py"), "--model", str(small_model)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(texts)
    proc.stdin.close()
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141 and first["text"] == "a film about the cup 0" and err == "", err


def test_predict_interrupted_ends_by_sigint_without_a_traceback(small_model, python, repo):
    """Ctrl-C (SIGINT) while predict waits for more input: the process ends by SIGINT, as Python ends
    after an uncaught KeyboardInterrupt (a shell reports 130 and a script running it stops), with
    nothing on standard error (no traceback)."""
    import signal

    proc = subprocess.Popen([python, str(repo / "scripts" / "predict.py"), "--model", str(small_model)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # SIGINT as at a terminal, even where the suite
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # runs in the background (ignored)
    proc.stdin.write(b"a film about the cup\n" * 4096)  # one chunk, then the input stays open
    proc.stdin.flush()
    assert json.loads(proc.stdout.readline())["text"] == "a film about the cup"  # scoring: the model is loaded
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGINT and err == b"", err.decode()

    def interrupted(argv, prog):
        raise KeyboardInterrupt

    assert run_command(interrupted, []) == 130  # in process: the status


def test_predict_bad_inputs_are_one_error_line(small_model, python, repo, capsys):
    for args, message in ((["--batch-size", "0"], "error: --batch-size must be an integer >= 1, got 0"),
                          (["--input", "/nonexistent.txt"], "error: --input: /nonexistent.txt not found")):
        status, _, err = run_cli(predict_main, ["--model", str(small_model), *args], capsys)
        assert status == 2 and err.strip() == message
    # bytes that are not UTF-8 reach a text argument only through a process's command line (as surrogate escapes)
    proc = run_predict(python, repo, "--model", str(small_model), os.fsdecode(b"caf\xe9"))
    assert proc.returncode == 2 and proc.stderr.decode().strip() == "error: text argument 1: not valid UTF-8", proc.stderr.decode()


def test_two_runs_started_together_on_one_folder(data_dir, tmp_path, python, repo):
    """The race of the hardening report: two runs with different learning rates started at once on
    one (empty) folder. One trains; the other is refused before it writes anything; the folder's
    model and results are the winner's."""
    out = tmp_path / "race"
    runs = {lr: subprocess.Popen([python, str(repo / "scripts" / "train.py"), *tiny_run(data_dir, out)[:-2], "--max-steps", "60",
                                  "--eval-every", "20", "--save-total-limit", "2", "--patience", "0", "--learning-rate", lr,
                                  "--output-dir", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for lr in ("0.01", "0.05")}
    errors = {lr: p.communicate(timeout=600)[1] for lr, p in runs.items()}  # waits, reads and closes the pipe
    results = {lr: (runs[lr].returncode, err) for lr, err in errors.items()}
    winners = [lr for lr, (status, _) in results.items() if status == 0]
    assert len(winners) == 1, results
    [loser] = [lr for lr in results if lr not in winners]
    status, err = results[loser]
    # refused at the first check, or (had it passed that before the winner locked) at the lock itself, after a few log lines
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and len(errors) == 1 and errors[0].startswith(f"error: --output-dir {out} ") and "Traceback" not in err, err
    assert "is in use by another run" in errors[0] or "already holds a model" in errors[0]
    config = json.loads((out / "config.json").read_text())
    assert config["training_config"]["optimization"]["learning_rate"] == float(winners[0])
    assert json.loads((out / "test_results.json").read_text())["steps"] == 60
    assert not list(out.rglob(".tmp-*")) and not list(out.glob(".saving-*")) and not (out / ".mtl-text.lock").exists()


def test_help_shows_defaults_that_say_something(capsys):
    """A default of None or [] is not shown ('(default: None)' beside 'default: twice per epoch' said
    the opposite of the help text); real defaults still are."""
    with pytest.raises(SystemExit) as exit_:
        train_main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text and "(default: [])" not in text
    assert "validate every N optimizer steps (default: twice per epoch) (valid: >= 1) --eval-batch-size" in text
    assert "initialisation (valid: >= 0) (default: 42)" in text and "(default: 0.1)" in text


def test_options_from_a_config_file_flat_or_grouped_the_command_line_winning(tmp_path):
    from mtl_text.cli.train import parse_config

    flat = tmp_path / "recipe.json"
    flat.write_text(json.dumps({"tasks": ["trec", "sst2"], "batch_size": 8, "max_length": ["trec=32"], "head_dropout": 0.2,
                                "group_validation": False, "output_dir": str(tmp_path / "o")}))
    config, _ = parse_config(["--config", str(flat), "--batch-size", "4", "--seed", "7"])
    assert config.data.tasks == ["trec", "sst2"] and config.data.max_length == ["trec=32"] and config.heads.head_dropout == 0.2
    assert config.optimization.batch_size == 4 and config.optimization.seed == 7  # the command line over the file
    assert config.data.group_validation is False and config.checkpoints.output_dir == str(tmp_path / "o")
    assert config.optimization.learning_rate == 1e-2  # left out of the file: the default, resolved for the encoder as ever
    grouped = tmp_path / "grouped.json"
    grouped.write_text(json.dumps(config.to_dict()))  # every group, as TrainingConfig.to_dict() writes them
    again, _ = parse_config(["--config", str(grouped)])
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize("content, message", [
    ("{\"tasks\": [\"trec\"],", "cannot read the options file"),
    ("[\"--tasks\", \"trec\"]", "expected a JSON object of options, got list"),
    ("{\"batchsize\": 8}", "unknown option 'batchsize'"),
    ("{\"data\": {\"batch_size\": 8}}", "option 'batch_size' belongs to group 'optimization', not 'data'"),
    ("{\"data\": {\"batchsize\": 8}}", "unknown option 'batchsize'"),
    ("{\"tasks\": \"trec\"}", "option 'tasks' (--tasks) must be a list of strings, got 'trec'"),
    ("{\"batch_size\": \"8\"}", "option 'batch_size' (--batch-size) must be an integer, got '8'"),
    ("{\"batch_size\": 0}", "option 'batch_size' (--batch-size) must be an integer >= 1, got 0"),
    ("{\"encoder\": \"lstm\"}", "option 'encoder' (--encoder) must be one of 'word_vectors', 'transformer', got 'lstm'"),
    ("{\"freeze_encoder\": \"yes\"}", "option 'freeze_encoder' (--freeze-encoder) must be a boolean, got 'yes'"),
    ("{\"mtl_text_version\": \"0.1.0\", \"training_config\": {\"heads\": {\"head_layers\": 2}}}",
     "this run of mtl-text 0.1.0 has option 'head_layers', which mtl-text "),
])
def test_a_bad_config_file_is_one_error_line_naming_file_and_option(content, message, tmp_path, capsys):
    path = tmp_path / "recipe.json"
    path.write_text(content)
    assert run_command(train_main, ["--config", str(path), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_a_saved_run_without_newer_options_gets_their_defaults_with_a_warning(tmp_path, caplog):
    from mtl_text.cli.train import parse_config

    old = tmp_path / "old-run"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"mtl_text_version": "0.1.0", "training_config": {
        "data": {"tasks": ["trec"], "cache_dir": "/elsewhere/cache"}, "optimization": {"batch_size": 8},
        "checkpoints": {"output_dir": "runs/old", "resume_from_checkpoint": "latest"}}}))
    with caplog.at_level("WARNING", logger="mtl_text.train"):
        config, _ = parse_config(["--config", str(old)])
    assert config.data.tasks == ["trec"] and config.optimization.batch_size == 8
    defaults = TrainingConfig()
    assert config.data.cache_dir == defaults.data.cache_dir and config.checkpoints.output_dir == defaults.checkpoints.output_dir
    assert config.checkpoints.resume_from_checkpoint is None  # where that run wrote is not taken
    assert "a run of mtl-text 0.1.0, without option(s)" in caplog.text and "--lazy-updates" in caplog.text


def test_the_options_file_checker_knows_every_option_type():
    import typing

    from mtl_text.arguments import type_error

    config = TrainingConfig()
    for group, cls in GROUPS.items():
        hints = typing.get_type_hints(cls, include_extras=True)
        for name in (f.name for f in dataclasses.fields(cls)):
            assert type_error(hints[name], getattr(getattr(config, group), name)) is None, name  # the resolved defaults fit
            assert type_error(hints[name], object()) is not None, name  # and the type is one the checker knows


def test_the_options_file_of_the_training_guide_is_valid(repo, tmp_path):
    from mtl_text.training.config import read_options_file

    guide = (repo / "docs" / "training.md").read_text()
    example = guide.split("## Options from a file", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "minilm.json").write_text(example)
    config = TrainingConfig.from_options(**read_options_file(tmp_path / "minilm.json"))
    assert config.encoder.encoder == "transformer" and config.optimization.max_steps == 7400
    assert config.data.max_length_overrides() == {"20newsgroups": 256}


def test_texts_written_after_a_many_valued_option_are_named_before_any_model_loads(tmp_path, capsys):
    missing = str(tmp_path / "no-model")  # nothing loads: the error comes first
    for args, message in ((["--tasks", "sst2", "a gripping film"], "--tasks 'a gripping film' is not a task name: a text?"),
                          (["--ensemble-with", missing, "a dull film"], "--ensemble-with 'a dull film' names no model: a text?")):
        assert run_command(predict_main, ["--model", missing, *args]) == 2
        err = capsys.readouterr().err
        assert message in err and "put texts before it or after '--'" in err


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_overview_and_version_stop_quietly_when_their_reader_is_gone(python, repo, option):
    """``mtl-text --help | head -0``: the overview and the version go through the same exit as the
    commands (141, no traceback)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    proc = subprocess.run([python, "-m", "mtl_text", option], stdout=write_end, stderr=subprocess.PIPE, cwd=repo, timeout=120)
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == b"", proc.stderr.decode()
