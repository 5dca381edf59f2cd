"""A damaged model folder is never used silently: files are verified against the sizes and hashes in
config.json, config.json against its schema, weights and outputs must be finite; each case is one
`error:` line and exit status 2 from predict.py."""

import json
import logging
import shutil

import pytest
import torch

from mtl_text import ModelLoadError, ModelOutputError, Predictor
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

TEXTS = ["who won the cup ?", "a dull , tedious film", "where is the station ?", "great fun"]


def save_model(directory):
    tokenizer = train_word_tokenizer(TEXTS)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8),
                           {"qtype": {"labels": ["HUM", "LOC"], "max_length": 16}, "mood": {"labels": ["neg", "pos"], "max_length": 16}},
                           pooling="mean", head_hidden_size=4)
    model.save_pretrained(directory, tokenizer, {"training_config": {}})
    return model


@pytest.fixture
def folder(tmp_path):
    save_model(tmp_path / "model")
    return tmp_path / "model"


def edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def flip_bytes(folder):
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 1000, len(data)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def set_label(config):
    config["tasks"]["qtype"]["labels"] = ["HUM", "HUM"]


CASES = {
    "flipped-bytes": (flip_bytes, "model.safetensors: contents differ from those recorded in"),
    "truncated-weights": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:500]),
                          "model.safetensors: 500 bytes, expected"),
    "no-tokenizer-config": (lambda f: (f / "tokenizer_config.json").unlink(), "tokenizer_config.json: missing (listed in"),
    "max-length-0": (lambda f: edit_config(f, lambda c: c["tasks"]["qtype"].update(max_length=0)),
                     "field 'tasks.qtype.max_length' must be an integer >= 1, found 0"),
    "duplicate-labels": (lambda f: edit_config(f, set_label), "field 'tasks.qtype.labels' must be a list of unique label names"),
    "tasks-as-list": (lambda f: edit_config(f, lambda c: c.update(tasks=list(c["tasks"]))), "field 'tasks' must be a non-empty object"),
    "negative-vocab": (lambda f: edit_config(f, lambda c: c["encoder"].update(vocab_size=-1)),
                       "field 'encoder.vocab_size' must be an integer >= 2, found -1"),
    "file-outside": (lambda f: edit_config(f, lambda c: c["files"].update({"/etc/hostname": {"bytes": 1, "sha256": "0" * 64}})),
                     "the file name '/etc/hostname' in its metadata is not a plain name inside the folder"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_folder_is_refused_by_the_library(folder, case):
    damage, message = CASES[case]
    damage(folder)
    with pytest.raises(ModelLoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Predictor.from_pretrained(folder)


@pytest.mark.parametrize("case", ["flipped-bytes", "no-tokenizer-config", "max-length-0", "negative-vocab"])
def test_a_damaged_folder_is_one_error_line_from_predict(folder, case, capsys):
    from mtl_text.cli.predict import main as predict_main

    from helpers import run_cli

    damage, message = CASES[case]
    damage(folder)
    status, out, err = run_cli(predict_main, ["--model", str(folder), "hello"], capsys)
    assert status == 2 and out == "" and err.startswith("error: ") and len(err.splitlines()) == 1 and message in err


def test_sizes_only_when_hashes_are_skipped(folder):
    flip_bytes(folder)  # same size, other bytes
    with pytest.raises(ModelLoadError):
        Predictor.from_pretrained(folder)
    try:
        Predictor.from_pretrained(folder, verify_hashes=False)
    except ModelLoadError as e:  # the flipped bytes may still break the file itself, but never silently
        assert "contents differ" not in str(e)


def test_nan_weights_are_refused_even_with_consistent_hashes(tmp_path):
    model = save_model(tmp_path / "ok")
    with torch.no_grad():
        model.heads["mood"].layers[-1].weight.fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan", train_word_tokenizer(TEXTS))
    with pytest.raises(ModelLoadError, match="weights contain NaN or infinite values \\(heads.mood"):
        MultiTaskModel.from_pretrained(tmp_path / "nan")


def test_non_finite_outputs_are_an_error_not_a_label(folder):
    predictor = Predictor.from_pretrained(folder)
    with torch.no_grad():
        predictor.model.heads["mood"].layers[-1].bias.fill_(float("inf"))
    with pytest.raises(ModelOutputError, match="the head of mood gave NaN or infinite outputs"):
        predictor.predict(["great fun"])


def test_a_model_without_file_records_still_loads(folder, caplog):
    edit_config(folder, lambda c: c.pop("files"))
    with caplog.at_level(logging.WARNING):
        predictor = Predictor.from_pretrained(folder)
    assert "no file sizes and hashes recorded" in caplog.text
    assert len(predictor.predict(["great fun"])) == 1


def test_saving_records_every_file_and_removes_stale_staging_folders(tmp_path):
    save_model(tmp_path / "m")
    stale = tmp_path / "m" / ".saving-abc123"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    save_model(tmp_path / "m")
    assert not stale.exists()
    files = json.loads((tmp_path / "m" / "config.json").read_text())["files"]
    assert {"model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(files)
    assert "config.json" not in files


def test_blank_texts_take_one_encoder_pass_together(folder, monkeypatch):
    predictor = Predictor.from_pretrained(folder, batch_size=2)
    calls = []
    forward = predictor.model.encoder.forward
    monkeypatch.setattr(predictor.model.encoder, "forward", lambda ids, mask, types=None: calls.append(ids.shape) or forward(ids, mask, types))
    texts = [""] * 1000 + ["great fun", "  ", "who won ?", "a dull film", "\t"]
    results = predictor.predict(texts)
    assert len(calls) == 3  # 4 texts in batches of 2, and one pass for every blank text
    assert sum(r.get("empty_text", False) for r in results) == 1002
    single = Predictor.from_pretrained(folder).predict(["", "great fun"])
    assert results[0]["predictions"] == single[0]["predictions"] and results[1000]["predictions"] == single[1]["predictions"]


def test_checkpoint_file_names_must_stay_inside_the_folder(tmp_path):
    from mtl_text import CheckpointError
    from mtl_text.training.checkpointing import read_checkpoint_state

    checkpoint = tmp_path / "checkpoints" / "step-00000001"
    checkpoint.mkdir(parents=True)
    for name in ("/etc/hostname", "../outside.txt"):
        (checkpoint / "trainer_state.json").write_text(json.dumps({"step": 1, "files": {name: {"bytes": 1, "sha256": "0" * 64}}}))
        with pytest.raises(CheckpointError, match="is not a plain name inside the folder"):
            read_checkpoint_state(checkpoint)
    (tmp_path / "secret.txt").write_text("x")
    (checkpoint / "link.txt").symlink_to(tmp_path / "secret.txt")
    (checkpoint / "trainer_state.json").write_text(json.dumps({"step": 1, "files": {"link.txt": {"bytes": 1, "sha256": "0" * 64}}}))
    with pytest.raises(CheckpointError, match="resolves outside .*a symbolic link out of the folder"):
        read_checkpoint_state(checkpoint)
    shutil.rmtree(checkpoint)
