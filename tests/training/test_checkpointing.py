"""Checkpoints: atomic, verified, pickle-free; a run killed with SIGKILL and resumed ends exactly where
an uninterrupted run ends."""

import json
import os
import signal
import subprocess
import time

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from transformers import get_scheduler

from mtl_text.training.checkpointing import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_state,
    resolve_checkpoint,
    save_checkpoint,
)


def tiny_training(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=20)
    return model, optimizer, scheduler


def step(model, optimizer, scheduler):
    loss = model(torch.randn(3, 4)).sum()  # the input and the dropout mask both draw from the generator
    loss.backward()
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def test_save_and_load_restore_model_optimizer_scheduler_and_generators(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = tiny_training()
    for _ in range(3):
        step(model, optimizer, scheduler)
    save_checkpoint(accelerator, tmp_path, 3, model, optimizer, scheduler, {"streams": {}, "note": "x"}, keep=2)
    for _ in range(2):
        step(model, optimizer, scheduler)
    expected = [p.detach().clone() for p in model.parameters()]

    other, other_opt, other_sched = tiny_training(seed=1)
    state = load_checkpoint(accelerator, resolve_checkpoint("latest", tmp_path), other, other_opt, other_sched)
    assert state["step"] == 3 and state["trainer"]["note"] == "x"
    for _ in range(2):
        step(other, other_opt, other_sched)
    assert all(torch.equal(a, b) for a, b in zip(expected, other.parameters()))
    assert other_sched.get_last_lr() == scheduler.get_last_lr()


def test_keeps_the_newest_and_the_best(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = tiny_training()
    for s in (1, 2, 3, 4):
        save_checkpoint(accelerator, tmp_path, s, model, optimizer, scheduler, {}, keep=2, protect=1)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001", "step-00000003", "step-00000004"]
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp")]


def test_no_pickle_on_the_load_path(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = tiny_training()
    step(model, optimizer, scheduler)
    path = save_checkpoint(accelerator, tmp_path, 1, model, optimizer, scheduler, {}, keep=1)
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "optimizer.safetensors", "rng-0.safetensors",
                                                      "trainer_state.json"]
    json.loads((path / "trainer_state.json").read_text())
    for name in ("model.safetensors", "optimizer.safetensors", "rng-0.safetensors"):
        load_file(str(path / name))  # plain safetensors


def test_a_truncated_weight_file_is_named(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = tiny_training()
    path = save_checkpoint(accelerator, tmp_path, 1, model, optimizer, scheduler, {}, keep=1)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=f"{weights}: 100 bytes, expected .* \\(truncated or altered\\)"):
        read_checkpoint_state(path)


def test_an_altered_file_and_invalid_json_are_named(tmp_path):
    accelerator = Accelerator(cpu=True)
    model, optimizer, scheduler = tiny_training()
    path = save_checkpoint(accelerator, tmp_path, 1, model, optimizer, scheduler, {}, keep=1)
    data = bytearray((path / "optimizer.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (path / "optimizer.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="optimizer.safetensors: contents differ"):
        read_checkpoint_state(path)
    (path / "trainer_state.json").write_text('{"step": 1, "files": ')
    with pytest.raises(CheckpointError, match=f"{path / 'trainer_state.json'}: not valid JSON"):
        read_checkpoint_state(path)


# --- the training command: SIGKILL mid-run, resume, same end ---------------------------------


def train_command(python, repo, data_dir, out, *extra):
    return [python, str(repo / "scripts" / "train.py"), "--tasks", "trec", "sst2", "--data-dir", str(data_dir),
            "--max-train-examples", "300", "--max-steps", "240", "--eval-every", "60", "--save-every", "10", "--batch-size", "16",
            "--embedding-dim", "32", "--w2v-epochs", "1", "--seed", "11", "--patience", "0", "--output-dir", str(out), *extra]


def final_weights(out):
    return load_file(str(list_checkpoints(out)[-1] / "model.safetensors"))


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path, data_dir, python, repo):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    proc = subprocess.run(train_command(python, repo, data_dir, reference), capture_output=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]

    killed = tmp_path / "killed"
    running = subprocess.Popen(train_command(python, repo, data_dir, killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and running.poll() is None:
        done = [int(p.name.split("-")[1]) for p in list_checkpoints(killed)]
        if done and max(done) >= 70:
            break
        time.sleep(0.01)
    assert running.poll() is None, "the run ended before it could be killed: " + running.stderr.read().decode()[-2000:]
    os.kill(running.pid, signal.SIGKILL)
    running.wait()
    running.stderr.close()
    assert running.returncode == -signal.SIGKILL
    at_kill = max(int(p.name.split("-")[1]) for p in list_checkpoints(killed))
    assert 70 <= at_kill < 240

    proc = subprocess.run(train_command(python, repo, data_dir, killed, "--resume-from-checkpoint", "latest"), capture_output=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert f"resumed from {killed / 'checkpoints'}" in proc.stderr.decode()

    a, b = final_weights(reference), final_weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    result_a = json.loads((reference / "test_results.json").read_text())["metrics"]
    result_b = json.loads((killed / "test_results.json").read_text())["metrics"]
    assert result_a == result_b
    # metrics.jsonl: the steps replayed after the resume are logged once, as in the uninterrupted run
    records = {name: [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()] for name, out in
               (("reference", reference), ("killed", killed))}
    assert [(r["step"], r["split"]) for r in records["reference"]] == [(r["step"], r["split"]) for r in records["killed"]]
    assert [r.get("loss") for r in records["reference"]] == [r.get("loss") for r in records["killed"]]


def test_resume_from_a_damaged_checkpoint_fails_clearly(tmp_path, data_dir, python, repo, capsys):
    from mtl_text.cli import run_command
    from mtl_text.cli.train import main as train_main

    out = tmp_path / "run"
    args = train_command(python, repo, data_dir, out)[2:]  # in-process: an unexpected exception would fail the test
    args[args.index("--max-steps") + 1] = "20"
    assert run_command(train_main, args) == 0
    latest = list_checkpoints(out)[-1]
    weights = latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    capsys.readouterr()
    assert run_command(train_main, args + ["--resume-from-checkpoint", str(latest)]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"error: {weights}: 1000 bytes")
    (latest / "trainer_state.json").write_text("not json")
    assert run_command(train_main, args + ["--resume-from-checkpoint", "latest"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: {latest / 'trainer_state.json'}: not valid JSON"), err[-2000:]


@pytest.mark.parametrize("mode", [["--group-by-length"], ["--freeze-encoder"], ["--lora-r", "4", "--learning-rate", "1e-2"]],
                         ids=["fine-tuning-grouped-by-length", "feature-extraction", "lora"])
def test_transformer_run_resumed_from_a_mid_checkpoint_ends_identically(tmp_path, shared_dir, data_dir, mode):
    """A tiny random BERT: fine-tuned (dropout on, so the generators must be restored; batches grouped
    by length, whose order must be replayed), frozen with cached features, or with LoRA adapters (the
    checkpoint keeps them apart from the fixed weights); resuming from the step-10 checkpoint of a 30-step run gives the same weights."""
    import shutil

    from transformers import AutoTokenizer, BertConfig, BertModel

    from mtl_text.cli.train import main as train_main

    tokenizer = AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=64)).save_pretrained(tmp_path / "bert")
    tokenizer.save_pretrained(tmp_path / "bert")
    args = ["--encoder", "transformer", "--model-name-or-path", str(tmp_path / "bert"), "--tasks", "trec", "sst2", "--data-dir",
            str(data_dir), "--max-train-examples", "120", "--validation-size", "0.02", "--max-steps", "30", "--eval-every", "15",
            "--save-every", "10", "--save-total-limit", "5", "--batch-size", "8", "--seed", "9", "--patience", "0", *mode]
    train_main(args + ["--output-dir", str(tmp_path / "full")])
    shutil.copytree(tmp_path / "full", tmp_path / "resumed")
    train_main(args + ["--output-dir", str(tmp_path / "resumed"), "--resume-from-checkpoint",
                       str(tmp_path / "resumed" / "checkpoints" / "step-00000010")])
    a = load_file(str(tmp_path / "full" / "checkpoints" / "step-00000030" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "checkpoints" / "step-00000030" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_mtl_text_0_2_resumes_with_its_loss_sums(data_dir, tmp_path):
    """Checkpoints of mtl-text <= 0.2.0 store the losses since the last log as a sum and a count
    (``running_loss``); newer ones store the values. Resumed from such a checkpoint, the run ends
    with the same weights and logs the same mean training loss, up to float rounding."""
    import shutil

    import mtl_text
    from mtl_text.training.config import TrainingConfig

    options = {"tasks": ["trec"], "data_dir": str(data_dir), "max_train_examples": 200, "embedding_dim": 16, "w2v_epochs": 1,
               "cache_dir": "none", "patience": 0, "max_steps": 12, "eval_every": 12, "save_every": 5, "save_total_limit": 5,
               "seed": 4}
    reference = tmp_path / "reference"
    mtl_text.train(TrainingConfig.from_options(output_dir=str(reference), **options))
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    for checkpoint in list_checkpoints(resumed)[1:]:  # keep only the checkpoint of step 5, mid-way to the log at step 12
        shutil.rmtree(checkpoint)
    state_file = list_checkpoints(resumed)[0] / "trainer_state.json"
    state = json.loads(state_file.read_text())
    values = state["trainer"].pop("losses_since_log")["trec"]
    assert len(values) == 5
    state["trainer"]["running_loss"] = {"trec": [sum(values), len(values)]}  # the 0.2.0 format
    state_file.write_text(json.dumps(state))
    (resumed / "metrics.jsonl").unlink()
    mtl_text.train(TrainingConfig.from_options(output_dir=str(resumed), resume_from_checkpoint="latest", **options))
    a, b = (load_file(str(list_checkpoints(d)[-1] / "model.safetensors")) for d in (reference, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    logged = [[r["loss"]["trec"] for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines()) if r["split"] == "train"]
              for d in (reference, resumed)]
    assert logged[1] == pytest.approx(logged[0][-1:], rel=1e-6)
