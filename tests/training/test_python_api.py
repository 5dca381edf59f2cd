"""Training from Python with a typed configuration (no argv), then prediction with Predictor; the run
is tracked with TensorBoard through Accelerate."""

import json

import pytest
import torch

import mtl_text
from mtl_text import ConfigError, DataArguments, OptimizationArguments, Predictor, TrainingConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("api") / "model"
    config = TrainingConfig(
        data=DataArguments(tasks=["sst2", "trec"], data_dir=str(data_dir), max_train_examples=400, cache_dir="none"),
        optimization=OptimizationArguments(max_steps=60, batch_size=16, seed=5, sampling="uniform"),
    )
    config.encoder.embedding_dim, config.encoder.w2v_epochs = 32, 2
    config.evaluation.eval_every, config.evaluation.report_to = 30, ["tensorboard"]
    config.checkpoints.output_dir, config.checkpoints.save_total_limit = str(out), 0
    return mtl_text.train(config), out


def test_train_returns_the_test_metrics_and_writes_a_model(trained):
    result, out = trained
    assert result.output_dir == out and result.steps == 60 and result.best_step in (30, 60) and result.num_processes == 1
    assert set(result.metrics) == {"sst2", "trec"}
    assert result.metrics["sst2"]["examples"] == 872 and result.metrics["trec"]["examples"] == 500
    saved = json.loads((out / "test_results.json").read_text())
    assert saved["metrics"] == result.metrics and saved["class_reports"] == result.class_reports
    assert set(result.class_reports) == {"sst2", "trec"} and len(result.class_reports["sst2"]["confusion_matrix"]) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["training_config"]["data"]["tasks"] == ["sst2", "trec"]
    assert {t["problem_type"] for t in config["tasks"].values()} == {"single_label_classification"}
    assert not (out / ".mtl-text.lock").exists()  # the lock is released at the end


def test_predictor_scores_with_both_heads_and_matches_the_test_table(trained, data_dir):
    result, out = trained
    predictor = Predictor.from_pretrained(out, batch_size=50, device="cpu")
    [first] = predictor.predict(["Who wrote Hamlet ?"])
    assert set(first["predictions"]) == {"sst2", "trec"}
    assert first["predictions"]["trec"]["label"] in mtl_text.get_task("trec").labels
    test = mtl_text.load_task_splits("trec", data_dir, seed=5)["test"]
    predicted = predictor.predict_labels(test["text"], ["trec"])["trec"]
    accuracy = (predicted == torch.tensor(test["label"])).sum().item() / len(test)
    assert accuracy == pytest.approx(result.metrics["trec"]["accuracy"], abs=1e-9)


def test_evaluating_the_validation_split_carves_it_as_training_did(trained, data_dir):
    """SST-2's validation split is carved by sentence; evaluate_model carves the same one (from the
    saved config), so the best step's validation figures come back."""
    from mtl_text.inference.evaluation import evaluate_model

    result, out = trained
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    [best] = [r for r in records if r["split"] == "validation" and r["step"] == result.best_step]
    again = evaluate_model(out, ["sst2"], split="validation", data_dir=str(data_dir))
    assert again["sst2"]["examples"] == best["metrics"]["sst2"]["examples"] != 6735  # not the example-by-example split
    assert again["sst2"]["accuracy"] == pytest.approx(best["metrics"]["sst2"]["accuracy"], abs=1e-9)


def test_predictor_refuses_a_cuda_device_it_does_not_have(trained):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        Predictor.from_pretrained(trained[1], device="cuda")


def test_tensorboard_receives_the_training_and_validation_scalars(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, out = trained
    events = list(out.rglob("events.out.tfevents.*"))
    assert events, f"no TensorBoard event file under {out}"
    scalars = set()
    for event_file in events:
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        scalars |= set(accumulator.Tags()["scalars"])
    assert {"train/loss/sst2", "train/loss/trec", "validation/sst2/accuracy", "validation/trec/macro_f1", "test/trec/accuracy"} <= scalars


def test_flat_options_build_the_same_config_as_groups():
    flat = TrainingConfig.from_options(tasks=["trec"], max_steps=7, batch_size=3, head_dropout=0.2)
    grouped = TrainingConfig(data=DataArguments(tasks=["trec"]), optimization=OptimizationArguments(max_steps=7, batch_size=3))
    grouped.heads.head_dropout = 0.2
    assert flat.to_dict() == grouped.to_dict()
    assert flat.optimization.learning_rate == 1e-2 and flat.heads.word_dropout == 0.3  # the word-vector defaults
    transformer = TrainingConfig.from_options(encoder="transformer", model_name_or_path="x")
    assert transformer.optimization.learning_rate == 5e-5 and transformer.optimization.head_learning_rate == 1e-3
    with pytest.raises(ConfigError, match="unknown option 'batchsize'"):
        TrainingConfig.from_options(batchsize=3)


def test_a_saved_model_trains_again_from_its_folder_to_the_same_model(trained, tmp_path):
    result, out = trained
    config = TrainingConfig.from_file(out, output_dir=str(tmp_path / "again"), cache_dir="none")
    saved = json.loads((out / "config.json").read_text())["training_config"]
    saved["checkpoints"]["output_dir"] = str(tmp_path / "again")
    assert config.to_dict() == saved  # every option as the first run resolved it, but where it writes
    again = mtl_text.train(config)
    assert again.metrics == result.metrics and again.best_step == result.best_step
    original = json.loads((out / "test_predictions.json").read_text())
    assert json.loads((tmp_path / "again" / "test_predictions.json").read_text()) == original
    # a saved run's folder does not carry where it wrote: without an output folder, the default one
    assert TrainingConfig.from_file(out / "config.json").checkpoints.output_dir == "runs/mtl-text"
