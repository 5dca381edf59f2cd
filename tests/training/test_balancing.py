"""Task balancing: static weights, uncertainty weighting (saved with the model), gradient aggregation
through torchjd (--sampling all), the same under two processes as under one; the plateau schedule;
k-fold cross-validation."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import mtl_text
from mtl_text import ConfigError, TrainingConfig
from mtl_text.training.balancing import aggregated_backward, make_aggregator
from mtl_text.training.optimization import PlateauSchedule

SMALL = {"max_train_examples": 300, "embedding_dim": 16, "w2v_epochs": 1, "cache_dir": "none", "save_total_limit": 0, "patience": 0}


def conflicting_losses():
    """A shared vector w and a task-specific scalar h: L1 = w·(1, 0) + h, L2 = w·(-1, 1); the tasks'
    gradients on w, (1, 0) and (-1, 1), conflict (their dot product is -1)."""
    w, h = torch.zeros(2, requires_grad=True), torch.zeros((), requires_grad=True)
    return w, h, [w @ torch.tensor([1.0, 0.0]) + h, w @ torch.tensor([-1.0, 1.0])]


def test_pcgrad_projects_conflicting_gradients_as_computed_by_hand():
    """PCGrad (Yu et al. 2020): g1 - (g1·g2 / |g2|²) g2 = (0.5, 0.5) and g2 - (g2·g1 / |g1|²) g1 = (0, 1); sum (0.5, 1.5).
    The task-specific parameter takes its own task's gradient, 1."""
    w, h, losses = conflicting_losses()
    aggregated_backward(losses, [w], [h], make_aggregator("pcgrad"))
    assert w.grad.tolist() == pytest.approx([0.5, 1.5]) and h.grad.item() == pytest.approx(1.0)


def test_upgrad_never_conflicts_with_a_task_and_static_weights_sum():
    w, h, losses = conflicting_losses()
    aggregated_backward(losses, [w], [h], make_aggregator("upgrad"))
    assert w.grad @ torch.tensor([1.0, 0.0]) >= -1e-6 and w.grad @ torch.tensor([-1.0, 1.0]) >= -1e-6  # no task's loss goes up
    w, h, losses = conflicting_losses()
    aggregated_backward(losses, [w], [h], None, weights=[2.0, 1.0])
    assert w.grad.tolist() == pytest.approx([1.0, 1.0]) and h.grad.item() == pytest.approx(2.0)


def test_gradient_aggregation_needs_every_task_each_step():
    with pytest.raises(ConfigError, match="needs --sampling all"):
        TrainingConfig.from_options(tasks=["trec", "sst2"], task_balancing="pcgrad")
    with pytest.raises(ConfigError, match="--task-weights apply to --task-balancing static only"):
        TrainingConfig.from_options(tasks=["trec", "sst2"], task_balancing="uncertainty", task_weights=["trec=2"])
    with pytest.raises(ConfigError, match="expected TASK=W"):
        TrainingConfig.from_options(tasks=["trec", "sst2"], task_weights=["trec=-1"])


def test_uncertainty_weights_are_learned_saved_and_restored(data_dir, tmp_path):
    out = tmp_path / "uw"
    mtl_text.train(TrainingConfig.from_options(tasks=["trec", "sst2"], data_dir=str(data_dir), task_balancing="uncertainty",
                                               max_steps=30, seed=1, output_dir=str(out), **SMALL))
    weights = load_file(str(out / "model.safetensors"))
    log_vars = {k: v for k, v in weights.items() if k.startswith("uncertainty.log_variances.")}
    assert set(log_vars) == {"uncertainty.log_variances.trec", "uncertainty.log_variances.sst2"}
    assert all(v.item() != 0.0 for v in log_vars.values())  # they trained away from their start at 0
    assert json.loads((out / "config.json").read_text())["task_balancing"] == "uncertainty"
    model = mtl_text.MultiTaskModel.from_pretrained(out)
    assert model.uncertainty.log_variances["trec"].item() == log_vars["uncertainty.log_variances.trec"].item()
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("task_weights" in r for r in logged if r["split"] == "train")


def test_static_weights_scale_a_tasks_gradient(data_dir, tmp_path):
    """A weight of 0 on a task: its head never moves from its initialisation (same seed as the other run)."""
    runs = {}
    for name, weights in (("one", []), ("zero", ["sst2=0"])):
        mtl_text.train(TrainingConfig.from_options(tasks=["trec", "sst2"], data_dir=str(data_dir), task_weights=weights, max_steps=10,
                                                   seed=7, head_dropout=0.0, output_dir=str(tmp_path / name), **SMALL))
        runs[name] = load_file(str(tmp_path / name / "model.safetensors"))
    initial = mtl_text.MultiTaskModel.from_pretrained(tmp_path / "zero")  # only to list the head's parameter names
    names = [f"heads.sst2.{k}" for k in initial.heads["sst2"].state_dict()]
    moved = {n: not torch.equal(runs["one"][n], runs["zero"][n]) for n in names}
    assert all(moved.values())


def test_plateau_schedule_warms_up_then_cuts_on_a_plateau():
    schedule = PlateauSchedule(warmup_steps=4, factor=0.5, patience=1)
    assert [schedule(s) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert [schedule.update(v) for v in (0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7)] == [False, False, False, True, False, False, True]
    assert schedule.scale == 0.25 and schedule(10) == 0.25
    restored = PlateauSchedule(4)
    restored.load_state_dict(schedule.state_dict())
    assert restored.state_dict() == schedule.state_dict()


def test_plateau_scheduler_trains(data_dir, tmp_path):
    result = mtl_text.train(TrainingConfig.from_options(tasks=["trec"], data_dir=str(data_dir), lr_scheduler="plateau", max_steps=12,
                                                        eval_every=3, seed=2, output_dir=str(tmp_path / "p"), **SMALL))
    assert result.steps == 12 and 0 <= result.metrics["trec"]["accuracy"] <= 1


def test_k_fold_splits_are_seeded_disjoint_and_stratified(data_dir):
    from mtl_text.data.splits import load_task_splits

    folds = [load_task_splits("trec", data_dir, seed=5, fold=(k, 4)) for k in range(4)]
    again = load_task_splits("trec", data_dir, seed=5, fold=(2, 4))
    other = load_task_splits("trec", data_dir, seed=6, fold=(2, 4))
    def rows(split):
        return list(zip(split["text"], split["label"]))

    assert rows(again["validation"]) == rows(folds[2]["validation"]) and rows(other["validation"]) != rows(folds[2]["validation"])
    held_out = [r for f in folds for r in rows(f["validation"])]  # each example held out exactly once
    assert sorted(held_out) == sorted(rows(folds[0]["train"]) + rows(folds[0]["validation"])) and len(held_out) == 5452
    shares = [np.bincount(f["validation"]["label"], minlength=6) / len(f["validation"]) for f in folds]
    assert max(abs(s - shares[0]).max() for s in shares) < 0.01  # stratified: the same label mix in every fold
    assert rows(folds[0]["test"]) == rows(again["test"])  # the test split is never touched


def test_cross_validation_writes_mean_and_std_over_folds(data_dir, tmp_path):
    result = mtl_text.train(TrainingConfig.from_options(tasks=["trec"], data_dir=str(data_dir), cv_folds=2, max_steps=8, seed=2,
                                                        output_dir=str(tmp_path / "cv"), **SMALL))
    assert len(result.folds) == 2 and (tmp_path / "cv" / "fold-1" / "model.safetensors").is_file()
    summary = json.loads((tmp_path / "cv" / "cv_results.json").read_text())
    accuracies = [f["validation"]["trec"]["accuracy"] for f in summary["per_fold"]]
    assert summary["validation"]["trec"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    assert summary["validation"]["trec"]["accuracy"]["std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert summary["test"]["trec"]["accuracy"]["n"] == 2
    with pytest.raises(ConfigError, match="--fold 3 needs --cv-folds"):
        TrainingConfig.from_options(cv_folds=3, fold=3)
    # a fold's saved model is scored (and calibrated) on its own fold, as its run validated it
    from mtl_text.inference.evaluation import evaluate_model

    fold = tmp_path / "cv" / "fold-1"
    again = evaluate_model(fold, split="validation", data_dir=str(data_dir))["trec"]
    assert again["examples"] == len(mtl_text.load_task_splits("trec", data_dir, seed=2, fold=(1, 2))["validation"])
    assert again["accuracy"] == pytest.approx(summary["per_fold"][1]["validation"]["trec"]["accuracy"], abs=1e-9)
