"""Knowledge distillation (--distill-from): the heads' soft-target losses, the teacher's logits of the
training texts and of a transfer set (--distill-texts) in the training split, their cache, the mixed
loss in training, and the configurations that are refused."""

import shutil

import numpy as np
import pytest
import torch

import mtl_text
from mtl_text import ConfigError, TrainingConfig
from mtl_text.modeling import hub
from mtl_text.modeling.heads import MultiLabelClassificationHead, RegressionHead, SingleLabelClassificationHead
from mtl_text.transfer.distillation import distilled_loss

from helpers import LocalHub, use_local_hub

SMALL = {"max_train_examples": 300, "embedding_dim": 16, "w2v_epochs": 1, "save_total_limit": 0, "patience": 0}
TRANSFER = ["what a wonderful , moving film", "a dull and lifeless mess", "the plot is thin but the actors are great",
            "i would not watch it again", "an instant classic"]


def test_single_label_distillation_loss_is_zero_at_the_teacher_and_pulls_towards_it():
    head = SingleLabelClassificationHead(4, ["a", "b", "c"])
    teacher = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    assert head.distillation_loss(teacher.clone(), teacher, temperature=2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(2, 3, requires_grad=True)
    loss = head.distillation_loss(student, teacher, temperature=2.0)
    assert loss.item() > 0
    loss.backward()
    with torch.no_grad():
        moved = student - 0.5 * student.grad
    assert head.distillation_loss(moved, teacher, temperature=2.0) < loss  # a gradient step gets closer to the teacher
    # T^2 scaling: the loss of the same pair at T is T^2 times the KL of the softened distributions
    t = 3.0
    kl = torch.nn.functional.kl_div(torch.log_softmax(student.detach() / t, -1), torch.softmax(teacher / t, -1), reduction="batchmean")
    assert head.distillation_loss(student.detach(), teacher, temperature=t).item() == pytest.approx(t * t * kl.item(), rel=1e-5)


def test_multi_label_distillation_loss_is_lowest_at_the_teacher():
    head = MultiLabelClassificationHead(4, ["a", "b", "c"])
    teacher = torch.tensor([[2.0, -1.0, 0.5]])
    at_teacher = head.distillation_loss(teacher.clone(), teacher, temperature=1.0)
    for delta in (-1.0, 0.5, 1.0):
        assert head.distillation_loss(teacher + delta, teacher, temperature=1.0) > at_teacher


def test_a_regression_head_has_no_distillation_loss():
    head = RegressionHead(4, ["score"])
    with pytest.raises(NotImplementedError, match="regression"):
        head.distillation_loss(torch.zeros(2, 1), torch.zeros(2, 1))


def test_distilled_loss_mixes_the_two_losses_by_the_weight():
    head = SingleLabelClassificationHead(4, ["a", "b"])
    logits, teacher, hard = torch.tensor([[1.0, -1.0]]), torch.tensor([[-1.0, 1.0]]), torch.tensor(0.7)
    soft = head.distillation_loss(logits, teacher, 2.0)
    assert distilled_loss(head, hard, logits, teacher, 0.25, 2.0).item() == pytest.approx(0.75 * 0.7 + 0.25 * soft.item())
    assert distilled_loss(head, hard, logits, teacher, 0.0, 2.0).item() == pytest.approx(0.7)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data_dir):
    """A small SST-2 + TREC + RTE (sentence pairs) model: the teacher."""
    out = tmp_path_factory.mktemp("teacher") / "model"
    mtl_text.train(TrainingConfig.from_options(tasks=["sst2", "trec", "rte"], data_dir=str(data_dir), max_steps=30, seed=5, output_dir=str(out),
                                               cache_dir="none", **SMALL))
    return out


def test_the_training_split_carries_the_teachers_logits_and_the_labelled_transfer_set(teacher, data_dir, tmp_path):
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    texts = tmp_path / "transfer.txt"
    texts.write_text("\n".join(TRANSFER) + "\n")
    cache = tmp_path / "cache"
    config = TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), distill_from=str(teacher), distill_texts=[f"sst2={texts}"],
                                         max_steps=1, seed=6, output_dir=str(tmp_path / "x"), cache_dir=str(cache), **SMALL)
    run = build_training(config, make_accelerator(config))
    train = run.train_datasets["sst2"]
    plain = mtl_text.load_task_splits("sst2", data_dir, seed=6, max_train_examples=300)["train"]
    assert len(train) == len(plain) + len(TRANSFER)  # the transfer set joins the training split, validation and test keep their size
    assert "teacher_logits" not in run.val_dataloaders["sst2"].dataset.column_names
    predictor = mtl_text.Predictor.from_pretrained(teacher)
    expected = predictor.predict_logits(list(plain["text"]) + TRANSFER, tasks=["sst2"])["sst2"].numpy()
    assert np.allclose(np.asarray(train["teacher_logits"]), expected, atol=1e-5)
    assert train["labels"][len(plain):] == expected[len(plain):].argmax(1).tolist()  # the teacher's labels for the transfer set
    assert train["labels"][:len(plain)] == list(plain["label"])  # the gold labels stay
    cached = sorted(cache.glob("teacher-logits-*.npy"))
    assert len(cached) == 2  # the training texts and the transfer set, read back by the next run
    stamps = [p.stat().st_mtime_ns for p in cached]
    build_training(config, make_accelerator(config))
    assert [p.stat().st_mtime_ns for p in sorted(cache.glob("teacher-logits-*.npy"))] == stamps


def test_the_transfer_set_counts_in_the_task_mix_unless_told_not_to(teacher, data_dir, tmp_path):
    """SST-2 + TREC at temperature 1 (proportional): a transfer set as large as SST-2's split raises
    SST-2's share of the steps; with --no-transfer-set-in-mix the mix is that of the run without a
    transfer set, while an epoch still counts the transfer set's examples."""
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    texts = tmp_path / "transfer.txt"
    texts.write_text("\n".join(TRANSFER * 60) + "\n")  # 300 texts: SST-2's training split doubles
    common = dict(tasks=["sst2", "trec"], data_dir=str(data_dir), distill_from=str(teacher), distill_tasks=["sst2"], max_steps=1,
                  seed=6, sampling="temperature", temperature=1.0, cache_dir=str(tmp_path / "cache"), **SMALL)
    runs = {}
    for name, extra in {"none": {}, "in": {"distill_texts": [f"sst2={texts}"]},
                        "out": {"distill_texts": [f"sst2={texts}"], "transfer_set_in_mix": False}}.items():
        config = TrainingConfig.from_options(output_dir=str(tmp_path / name), **common, **extra)
        runs[name] = build_training(config, make_accelerator(config))
    mix = {name: run.schedule.probabilities(0)["sst2"] for name, run in runs.items()}
    sizes = {name: len(runs["none"].train_datasets[name]) for name in ("sst2", "trec")}
    assert mix["none"] == pytest.approx(sizes["sst2"] / (sizes["sst2"] + sizes["trec"]))
    assert mix["in"] == pytest.approx((sizes["sst2"] + 300) / (sizes["sst2"] + 300 + sizes["trec"]))
    assert mix["out"] == pytest.approx(mix["none"])
    assert len(runs["out"].train_datasets["sst2"]) == sizes["sst2"] + 300  # the transfer set still trains
    assert runs["out"].steps_per_epoch == runs["in"].steps_per_epoch > runs["none"].steps_per_epoch
    with pytest.raises(ConfigError, match="--no-transfer-set-in-mix .* add --distill-texts"):
        TrainingConfig.from_options(tasks=["sst2"], distill_from=str(teacher), transfer_set_in_mix=False)


def test_distillation_with_weight_one_brings_the_student_towards_the_teacher(teacher, data_dir, tmp_path):
    """The same student, trained on the teacher's logits alone (weight 1) and on the labels alone
    (weight 0): the first agrees more with the teacher on the training texts."""
    from mtl_text.data.splits import column

    agreement = {}
    for weight in (0.0, 1.0):
        out = tmp_path / f"w{weight}"
        mtl_text.train(TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), distill_from=str(teacher), distill_weight=weight,
                                                   distill_temperature=1.0, max_steps=60, seed=7, output_dir=str(out), cache_dir="none",
                                                   **SMALL))
        texts = column(mtl_text.load_task_splits("sst2", data_dir, seed=7, max_train_examples=300)["train"], "text")
        student = mtl_text.Predictor.from_pretrained(out).predict_logits(texts, tasks=["sst2"])["sst2"]
        reference = mtl_text.Predictor.from_pretrained(teacher).predict_logits(texts, tasks=["sst2"])["sst2"]
        agreement[weight] = (student.argmax(1) == reference.argmax(1)).float().mean().item()
        assert (out / "config.json").is_file()
    assert agreement[1.0] > agreement[0.0]


def test_distillation_configurations_that_are_refused(teacher, data_dir, tmp_path):
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    with pytest.raises(ConfigError, match="--distill-texts and --distill-tasks need --distill-from"):
        TrainingConfig.from_options(tasks=["sst2"], distill_texts=["sst2=x.txt"])
    with pytest.raises(ConfigError, match="not in --tasks"):
        TrainingConfig.from_options(tasks=["sst2"], distill_from=str(teacher), distill_texts=["trec=x.txt"])
    with pytest.raises(ConfigError, match="TASK=SOURCE"):
        TrainingConfig.from_options(tasks=["sst2"], distill_from=str(teacher), distill_texts=["sst2"])
    with pytest.raises(ConfigError, match="frozen transformer"):
        TrainingConfig.from_options(tasks=["sst2"], encoder="transformer", model_name_or_path="any/model", freeze_encoder=True,
                                    distill_from=str(teacher))
    config = TrainingConfig.from_options(tasks=["amazon_books"], data_dir=str(data_dir), distill_from=str(teacher), max_steps=1,
                                         output_dir=str(tmp_path / "y"), cache_dir="none", **SMALL)
    with pytest.raises(ConfigError, match="none of the trained tasks"):
        build_training(config, make_accelerator(config))
    texts, cache = tmp_path / "transfer.txt", tmp_path / "cache"
    texts.write_text("\n".join(TRANSFER) + "\n")
    config = TrainingConfig.from_options(tasks=["rte"], data_dir=str(data_dir), distill_from=str(teacher), distill_texts=[f"rte={texts}"],
                                         max_steps=1, output_dir=str(tmp_path / "z"), cache_dir=str(cache), **SMALL)
    with pytest.raises(ConfigError, match=r"--distill-texts \['rte'\].*sentence pairs"):
        build_training(config, make_accelerator(config))
    assert not list(cache.glob("teacher-logits-*"))  # refused before the teacher scored anything


def test_a_teacher_named_by_its_hub_id_scores_as_its_folder_and_is_cached(teacher, data_dir, tmp_path, monkeypatch):
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    hub.push_to_hub(shutil.copytree(teacher, tmp_path / "pushed"), "someone/teacher", api=local_hub)
    monkeypatch.chdir(tmp_path)  # no folder someone/ here: the id goes to the Hub
    cache = tmp_path / "cache"
    config = TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), distill_from="someone/teacher", max_steps=1, seed=6,
                                         output_dir=str(tmp_path / "x"), cache_dir=str(cache), **SMALL)
    train = build_training(config, make_accelerator(config)).train_datasets["sst2"]
    plain = mtl_text.load_task_splits("sst2", data_dir, seed=6, max_train_examples=300)["train"]
    expected = mtl_text.Predictor.from_pretrained(teacher).predict_logits(list(plain["text"]), tasks=["sst2"])["sst2"].numpy()
    assert np.allclose(np.asarray(train["teacher_logits"]), expected, atol=1e-5)
    assert len(list(cache.glob("teacher-logits-*.npy"))) == 1

