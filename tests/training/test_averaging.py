"""Weight averaging (--weight-averaging ema|swa): the average itself, its swap into the model for
validation and saving, and a resumed run that ends like an uninterrupted one."""

import json
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import load_file, save_model

from mtl_text.training.averaging import WeightAveraging
from mtl_text.training.checkpointing import CheckpointError, list_checkpoints
from mtl_text.utils.files import load_safetensors_into


def set_weights(model: torch.nn.Linear, value: float) -> None:
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(-value)


def test_swa_is_the_mean_of_the_weights_from_the_start_step():
    model = torch.nn.Linear(3, 2)
    averaging = WeightAveraging(model, "swa", start_step=3)
    for step, value in enumerate([10.0, 20.0, 1.0, 2.0, 6.0], start=1):  # steps 1 and 2 come before the start
        set_weights(model, value)
        averaging.update(step)
    assert averaging.count == 3
    with averaging.applied() as applied:
        assert applied
        assert torch.allclose(model.weight, torch.full((2, 3), 3.0)) and torch.allclose(model.bias, torch.full((2,), -3.0))
    assert torch.equal(model.weight, torch.full((2, 3), 6.0))  # the trained weights are back


def test_ema_weighs_recent_steps_by_the_decay():
    model = torch.nn.Linear(3, 2)
    averaging = WeightAveraging(model, "ema", start_step=1, decay=0.9)
    for step, value in enumerate([1.0, 11.0], start=1):
        set_weights(model, value)
        averaging.update(step)
    with averaging.applied():
        assert torch.allclose(model.weight, torch.full((2, 3), 0.9 * 1.0 + 0.1 * 11.0))


def test_before_the_start_the_model_is_left_as_trained():
    model = torch.nn.Linear(3, 2)
    averaging = WeightAveraging(model, "ema", start_step=5)
    set_weights(model, 4.0)
    averaging.update(4)
    with averaging.applied() as applied:
        assert not applied and torch.equal(model.weight, torch.full((2, 3), 4.0))


def test_the_average_round_trips_and_a_mismatch_is_named(tmp_path):
    """The average goes into a checkpoint as the AveragedModel's safetensors (n_averaged with it) and
    loads back through the checkpoints' strict loader."""
    model = torch.nn.Linear(3, 2)
    averaging = WeightAveraging(model, "swa", start_step=1)
    set_weights(model, 2.0)
    averaging.update(1)
    path = tmp_path / "averaged.safetensors"
    save_model(averaging.averaged, str(path))
    other = WeightAveraging(torch.nn.Linear(3, 2), "swa", start_step=1)
    load_safetensors_into(other.averaged, path, CheckpointError)
    assert other.count == 1 and torch.equal(other.averaged.module.weight, torch.full((2, 3), 2.0))
    with pytest.raises(CheckpointError, match=f"(?s){path}: weights do not match the model .*size mismatch for module.weight"):
        load_safetensors_into(WeightAveraging(torch.nn.Linear(4, 2), "swa", start_step=1).averaged, path, CheckpointError)
    with pytest.raises(ValueError, match="expected 'ema' or 'swa'"):
        WeightAveraging(model, "none", start_step=1)


# --- the training command ------------------------------------------------------------------------


def train_command(python, repo, data_dir, out, *extra):
    return [python, str(repo / "scripts" / "train.py"), "--tasks", "trec", "sst2", "--data-dir", str(data_dir),
            "--max-train-examples", "300", "--max-steps", "120", "--eval-every", "40", "--save-every", "20", "--batch-size", "16",
            "--embedding-dim", "32", "--w2v-epochs", "1", "--seed", "11", "--patience", "0", "--weight-averaging", "swa",
            "--averaging-start", "0.25", "--save-total-limit", "10", "--output-dir", str(out), *extra]


def test_training_validates_and_saves_the_average_and_resumes_it(tmp_path, data_dir, python, repo):
    reference = tmp_path / "reference"
    proc = subprocess.run(train_command(python, repo, data_dir, reference), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "weight averaging (swa) from step 31 of 120" in proc.stderr
    assert "step 120: validation (the average of 90 steps' weights)" in proc.stdout + proc.stderr
    validations = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines() if '"validation"' in line]
    assert [r["averaged_steps"] for r in validations] == [10, 50, 90]

    # the saved best model is the checkpoint's average at the best step, not the weights of that step
    best_step = json.loads((reference / "test_results.json").read_text())["best_step"]
    checkpoint = reference / "checkpoints" / f"step-{best_step:08d}"
    saved, trained, averaged = (load_file(str(p)) for p in (reference / "model.safetensors", checkpoint / "model.safetensors",
                                                             checkpoint / "averaged.safetensors"))
    name = next(k for k in saved if k.startswith("heads.trec.") and k.endswith(".weight"))
    assert torch.equal(saved[name], averaged["module." + name])
    assert not torch.equal(saved[name], trained[name])

    # resumed from step 60 (30 steps into the average), the run ends with the same weights and results
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    for path in list_checkpoints(resumed):
        if int(path.name.split("-")[1]) > 60:
            shutil.rmtree(path)
    proc = subprocess.run(train_command(python, repo, data_dir, resumed, "--resume-from-checkpoint", "latest"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (json.loads((reference / "test_results.json").read_text())["metrics"]
            == json.loads((resumed / "test_results.json").read_text())["metrics"])
