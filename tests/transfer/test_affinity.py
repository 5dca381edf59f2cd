"""Inter-task affinity (TAG's lookahead, --task-affinity-every): the measure on a model whose answer
is known, and a real run that it observes without changing."""

import json

import pytest
import torch

import mtl_text
from mtl_text.errors import ConfigError
from mtl_text.transfer.affinity import AffinityAverage, format_affinity, lookahead_affinity


def test_aligned_tasks_help_each_other_and_opposed_ones_hurt():
    """One shared weight vector w near 0, each task a squared error towards its own target: a step
    towards one target lowers the loss of a task with the same target exactly as much as its own,
    and raises the loss of a task with the opposite target. The shared weights come back bit for
    bit."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(0.01 * torch.randn(8))  # near 0: between the opposed targets
    target = torch.randn(8)
    targets = {"a": target, "same": target.clone(), "opposite": -target}
    before = w.detach().clone()
    z = lookahead_affinity(lambda t: ((w - targets[t]) ** 2).sum(), list(targets), [w], [0.01])
    assert z["a"]["same"] == pytest.approx(z["a"]["a"]) and z["a"]["a"] > 0
    assert z["a"]["opposite"] < 0 and z["opposite"]["a"] < 0 and z["opposite"]["opposite"] > 0
    assert torch.equal(w.detach(), before)
    summary = _averaged([z, z])
    assert summary["measurements"] == 2 and summary["relative"]["same"]["a"] == pytest.approx(1.0)
    assert summary["standard_error"]["a"]["opposite"] == 0.0
    assert format_affinity(summary).splitlines()[0] == "| step on ↓ / loss of → | a | same | opposite |"
    with pytest.raises(ValueError, match="two or more tasks"):
        lookahead_affinity(lambda t: w.sum(), ["a"], [w], [0.01])


def _averaged(measurements):
    average = AffinityAverage()
    for z in measurements:
        average.add(z)
    return average.summary()


def _run(data_dir, out, **extra):
    config = mtl_text.TrainingConfig.from_options(
        tasks=["trec", "sst2"], data_dir=str(data_dir), max_train_examples=300, max_steps=40, eval_every=20, embedding_dim=16,
        w2v_epochs=1, min_word_frequency=1, cache_dir="none", seed=5, output_dir=str(out), **{"save_total_limit": 0, **extra})
    return mtl_text.train(config)


def test_a_run_measured_every_ten_steps_trains_the_same_model(data_dir, tmp_path):
    """Real TREC questions and SST-2 phrases: the measurements draw no random numbers and put the
    encoder back, so the weights and test results equal those of the same run unmeasured."""
    from safetensors.torch import load_file

    plain = _run(data_dir, tmp_path / "plain")
    measured = _run(data_dir, tmp_path / "measured", task_affinity_every=10)
    assert plain.task_affinity is None and not (tmp_path / "plain" / "task_affinity.json").exists()
    first, second = (load_file(tmp_path / name / "model.safetensors") for name in ("plain", "measured"))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert measured.metrics == plain.metrics
    summary = measured.task_affinity
    assert summary == json.loads((tmp_path / "measured" / "task_affinity.json").read_text())
    assert summary["measurements"] == 4 and list(summary["mean"]) == ["trec", "sst2"]
    assert all(summary["mean"][t][t] > 0 for t in ("trec", "sst2")), "a task's own step lowers its own loss"
    records = [json.loads(line) for line in (tmp_path / "measured" / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in records if r["split"] == "affinity"]
    assert [r["step"] for r in logged] == [10, 20, 30, 40]
    assert summary["mean"]["trec"]["sst2"] == pytest.approx(sum(r["affinity"]["trec"]["sst2"] for r in logged) / 4)


def test_a_resumed_run_measures_what_the_uninterrupted_run_measured(data_dir, tmp_path):
    """The run resumed from its step-20 checkpoint (the learning rates of the restored optimizer,
    the measurements before it from the checkpoint) ends with the same affinities and weights."""
    import shutil

    whole = tmp_path / "whole"
    _run(data_dir, whole, task_affinity_every=10, save_total_limit=3)
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-00000040")
    _run(data_dir, resumed, task_affinity_every=10, save_total_limit=3, resume_from_checkpoint="latest")
    for name in ("task_affinity.json", "model.safetensors"):
        assert (resumed / name).read_bytes() == (whole / name).read_bytes(), name


@pytest.mark.parametrize("options", [{"tasks": ["trec"]}, {"tasks": ["trec", "sst2"], "freeze_encoder": True}])
def test_affinity_needs_two_tasks_and_an_encoder_that_trains(options):
    with pytest.raises(ConfigError, match="--task-affinity-every measures how a step on one task's loss moves the others'"):
        mtl_text.TrainingConfig.from_options(task_affinity_every=10, **options)
