"""Sequential transfer (--init-from): the encoder and tokenizer of a saved model, its heads for the
tasks it knows, new heads for new tasks, the lineage in config.json."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import mtl_text
from mtl_text import ConfigError, TrainingConfig
from mtl_text.modeling import hub

from helpers import LocalHub, use_local_hub

SMALL = {"max_train_examples": 300, "embedding_dim": 16, "w2v_epochs": 1, "cache_dir": "none", "save_total_limit": 0, "patience": 0}


@pytest.fixture(scope="module")
def source(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("source") / "model"
    mtl_text.train(TrainingConfig.from_options(tasks=["trec"], data_dir=str(data_dir), max_steps=20, seed=3, output_dir=str(out), **SMALL))
    return out


def encoder_weights(path):
    return {k: v for k, v in load_file(str(path / "model.safetensors")).items() if k.startswith("encoder.")}


def test_the_model_starts_from_the_source_encoder_and_known_heads(source, data_dir, tmp_path):
    """At step 0 the encoder equals the source's, TREC's head is the source's, SST-2's head is new."""
    from mtl_text.modeling.model import MultiTaskModel
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    config = TrainingConfig.from_options(tasks=["trec", "sst2"], data_dir=str(data_dir), init_from=str(source), max_steps=1,
                                         output_dir=str(tmp_path / "x"), **SMALL)
    assert config.encoder.encoder == "word_vectors"  # the family comes from the saved model
    run = build_training(config, make_accelerator(config))
    model, saved = run.accelerator.unwrap_model(run.model), MultiTaskModel.from_pretrained(source)
    for name, tensor in saved.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    for name, tensor in saved.heads["trec"].state_dict().items():
        assert torch.equal(model.heads["trec"].state_dict()[name], tensor), name
    assert "sst2" not in saved.heads and "sst2" in model.heads
    assert run.tokenizer.get_vocab() == mtl_text.inference.prediction.load_tokenizer(source).get_vocab()
    assert run.lineage["init_from"] == str(source) and run.lineage["heads_reused"] == ["trec"] and run.lineage["source_tasks"] == ["trec"]


def test_feature_extraction_keeps_the_source_encoder_and_records_the_lineage(source, data_dir, tmp_path):
    out = tmp_path / "frozen"
    mtl_text.train(TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), init_from=str(source), freeze_encoder=True,
                                               max_steps=15, seed=4, output_dir=str(out), **SMALL))
    before, after = encoder_weights(source), encoder_weights(out)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    config = json.loads((out / "config.json").read_text())
    assert config["lineage"]["init_from"] == str(source) and config["lineage"]["heads_reused"] == []
    assert config["encoder"]["freeze"] is True and list(config["tasks"]) == ["sst2"]
    predictor = mtl_text.Predictor.from_pretrained(out)  # a transferred model loads like any other
    assert predictor.predict(["a fine film"])[0]["predictions"]["sst2"]["label"] in ("negative", "positive")


def test_fine_tuning_moves_the_source_encoder(source, data_dir, tmp_path):
    out = tmp_path / "tuned"
    mtl_text.train(TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), init_from=str(source), max_steps=15, seed=4,
                                               output_dir=str(out), **SMALL))
    before, after = encoder_weights(source), encoder_weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_init_from_refuses_what_does_not_fit(source, tmp_path):
    with pytest.raises(ConfigError, match="excludes --model-name-or-path, --vectors"):
        TrainingConfig.from_options(init_from=str(source), vectors="x.bin")
    with pytest.raises(ConfigError, match="holds a word_vectors model"):
        TrainingConfig.from_options(init_from=str(source), encoder="transformer")
    with pytest.raises(ConfigError, match="not a saved mtl-text model"):
        TrainingConfig.from_options(init_from=str(tmp_path))


def test_init_from_a_hub_id_starts_from_the_pushed_model_and_records_its_commit(source, data_dir, tmp_path, monkeypatch):
    from mtl_text.modeling.model import MultiTaskModel
    from mtl_text.training.build import build_training
    from mtl_text.training.runtime import make_accelerator

    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    pushed = shutil.copytree(source, tmp_path / "pushed")  # push_to_hub writes a card into the folder
    commit = hub.push_to_hub(pushed, "someone/trec-model", api=local_hub).rsplit("/", 1)[1]
    monkeypatch.chdir(tmp_path)  # no folder someone/ here: the id goes to the Hub
    config = TrainingConfig.from_options(tasks=["trec", "sst2"], data_dir=str(data_dir), init_from=f"someone/trec-model@{commit}",
                                         max_steps=1, output_dir=str(tmp_path / "x"), **SMALL)
    assert config.encoder.encoder == "word_vectors"  # the family read from the Hub's config.json
    run = build_training(config, make_accelerator(config))
    model, saved = run.accelerator.unwrap_model(run.model), MultiTaskModel.from_pretrained(source)
    for name, tensor in saved.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
    assert run.lineage["init_from"] == f"someone/trec-model@{commit}" and run.lineage["init_from_commit"] == commit
    assert run.lineage["heads_reused"] == ["trec"]
    # the new model's card names the pushed model as its base model (the Hub's model tree); a local source is no Hub model
    for lineage, base_model in ((run.lineage, "someone/trec-model"), ({**run.lineage, "init_from": str(source), "init_from_commit": None}, None)):
        model.save_pretrained(tmp_path / "new", run.tokenizer, {"lineage": lineage})
        hub.write_model_card(tmp_path / "new")
        assert hub.read_model_card(tmp_path / "new")[0].get("base_model") == base_model
    with pytest.raises(ConfigError, match=r"^--init-from someone/missing: no such file or folder here, and no config.json to download"):
        TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir), init_from="someone/missing")

