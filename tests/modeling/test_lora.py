"""LoRA on the transformer encoder (peft): only the adapters train, a saved model is a plain
transformer with the updates merged (or the adapters alone, --lora-save adapters, loaded onto their
checked base), and training, evaluation and --init-from go through with it (resuming:
tests/training/test_checkpointing.py)."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from mtl_text.cli.train import main as train_main
from mtl_text.errors import ConfigError, ModelLoadError
from mtl_text.inference.evaluation import evaluate_model
from mtl_text.modeling.encoders import TransformerEncoder, weights_sha256
from mtl_text.modeling.hub import push_to_hub
from mtl_text.modeling.model import MultiTaskModel, copy_model_folder
from mtl_text.training.config import EncoderArguments, TrainingConfig

from helpers import tiny_bert

TASKS = {"sentiment": {"labels": ["negative", "positive"], "max_length": 16}, "qtype": {"labels": ["HUM", "LOC", "NUM"], "max_length": 16}}
QUERY = "model.encoder.layer.0.attention.self.query"


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (4, 10), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids.masked_fill(mask == 0, 0), mask


def lora_model(encoder=None, **lora) -> MultiTaskModel:
    encoder = encoder or TransformerEncoder(tiny_bert(layers=2))
    encoder.add_lora(**{"r": 4, **lora})
    torch.manual_seed(0)
    with torch.no_grad():  # updates that are not zero, as after training
        for name, p in encoder.named_parameters():
            if ".lora_B." in name:
                p.normal_(std=0.5)
    return MultiTaskModel(encoder, TASKS, pooling="mean", head_hidden_size=8).eval()


def test_only_the_adapters_of_the_target_layers_train_and_training_starts_from_the_pretrained_function():
    encoder = TransformerEncoder(tiny_bert(layers=2))
    encoder.add_lora(4)
    trained = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trained == {f"model.encoder.layer.{i}.attention.self.{m}.lora_{ab}.default.weight"
                       for i in (0, 1) for m in ("query", "value") for ab in "AB"}  # peft's default for BERT: query, value
    assert encoder.lora == {"r": 4, "alpha": 8, "dropout": 0.05, "target_modules": ["query", "value"], "layers": 4}
    assert [len(g) for g in encoder.layer_groups()] == [0, 4, 4, 0]  # each layer's adapters in its group (layer-wise decay)
    ids, mask = batch()
    plain = TransformerEncoder(tiny_bert(layers=2)).eval()
    assert torch.allclose(encoder.eval()(ids, mask), plain(ids, mask), atol=1e-6)  # B = 0: the pretrained function

    every = TransformerEncoder(tiny_bert(layers=2))
    every.add_lora(2, alpha=4, target_modules=["all-linear"])
    assert {"query", "key", "value", "dense"} <= set(every.lora["target_modules"])


def test_a_saved_lora_model_is_a_plain_transformer_with_the_updates_merged(tmp_path):
    model = lora_model(alpha=8)
    ids, mask = batch()
    before = model.predict_logits(ids, mask)
    model.save_pretrained(tmp_path)

    saved = load_file(str(tmp_path / "model.safetensors"))
    assert not any(".lora_" in k or ".base_layer." in k for k in saved)
    query = model.encoder.model.get_submodule(QUERY[len("model."):])
    merged = query.base_layer.weight + (8 / 4) * query.lora_B["default"].weight @ query.lora_A["default"].weight
    assert torch.allclose(saved[f"encoder.{QUERY}.weight"], merged)
    key = "encoder.model.encoder.layer.0.attention.self.key.weight"  # a layer without an adapter: as it is
    assert torch.equal(saved[key], model.state_dict()[key])
    assert "lora" not in json.loads((tmp_path / "config.json").read_text())["encoder"]

    restored = MultiTaskModel.from_pretrained(tmp_path)
    assert restored.encoder.lora is None and type(restored.encoder.model.get_submodule(QUERY[len("model."):])) is torch.nn.Linear
    after = restored.predict_logits(ids, mask)
    assert all(torch.allclose(before[t], after[t], atol=1e-5) for t in TASKS)

    # loaded back into a model with adapters (the trainer's best model): the saved function, every update zero
    model.load_weights(tmp_path / "model.safetensors")
    assert all(not p.any() for n, p in model.named_parameters() if ".lora_B." in n)
    again = model.predict_logits(ids, mask)
    assert all(torch.allclose(before[t], again[t], atol=1e-5) for t in TASKS)


def test_adapters_saved_apart_from_their_base_load_onto_the_checked_base_and_are_merged(tiny_bert_dir, tmp_path):
    model = lora_model(TransformerEncoder.from_pretrained(str(tiny_bert_dir)), alpha=8, save_adapters=True)
    ids, mask = batch()
    before = model.predict_logits(ids, mask)
    model.save_pretrained(tmp_path / "adapters")

    saved = load_file(str(tmp_path / "adapters" / "model.safetensors"))
    encoder_keys = {k for k in saved if k.startswith("encoder.")}
    assert encoder_keys == {f"encoder.{k}" for k in model.encoder.adapter_state_dict()}  # no weight of the transformer itself
    assert len(encoder_keys) == 8 and all(".lora_A." in k or ".lora_B." in k for k in encoder_keys)
    assert {k for k in saved if not k.startswith("encoder.")} == {k for k in model.state_dict() if not k.startswith("encoder.")}
    lora = json.loads((tmp_path / "adapters" / "config.json").read_text())["encoder"]["lora"]
    assert lora["base_model"] == str(tiny_bert_dir.resolve()) and (lora["r"], lora["alpha"], lora["target_modules"]) == (4, 8, ["query", "value"])
    assert lora["base_weights_sha256"] == weights_sha256(AutoModel.from_pretrained(tiny_bert_dir).state_dict())

    restored = MultiTaskModel.from_pretrained(tmp_path / "adapters")  # the base loaded, the adapters merged into it
    assert restored.encoder.lora is None and type(restored.encoder.model.get_submodule(QUERY[len("model."):])) is torch.nn.Linear
    after = restored.predict_logits(ids, mask)
    assert all(torch.allclose(before[t], after[t], atol=1e-5) for t in TASKS)

    # loaded back into the model with adapters (the trainer's best model): the adapters as saved, the base kept
    trained = {k: v.clone() for k, v in model.encoder.adapter_state_dict().items()}
    with torch.no_grad():
        for p in model.encoder.adapter_state_dict().values():
            p.zero_()
    model.load_weights(tmp_path / "adapters" / "model.safetensors")
    assert all(torch.equal(model.encoder.adapter_state_dict()[k], v) for k, v in trained.items())
    model.encoder.fold_lora()  # the trainer's last step: the updates in the fixed weights, the same numbers as the loaded model
    folded = model.predict_logits(ids, mask)
    assert all(torch.equal(folded[t], after[t]) for t in TASKS)


def test_a_copy_with_new_head_options_stays_an_adapters_folder(tiny_bert_dir, tmp_path):
    """What `mtl-text calibrate` writes: the files as they are (the adapters alone), a new config.json."""
    model = lora_model(TransformerEncoder.from_pretrained(str(tiny_bert_dir)), save_adapters=True)
    model.save_pretrained(tmp_path / "adapters")
    config = MultiTaskModel.read_config(tmp_path / "adapters")
    config["tasks"]["qtype"]["head_options"] = {"temperature": 2.0}
    copy_model_folder(tmp_path / "adapters", tmp_path / "copy", config)
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == (tmp_path / "adapters" / "model.safetensors").read_bytes()
    assert json.loads((tmp_path / "copy" / "config.json").read_text())["files"] == config["files"]
    ids, mask = batch()
    original, copied = (MultiTaskModel.from_pretrained(tmp_path / d).predict_logits(ids, mask) for d in ("adapters", "copy"))
    assert torch.allclose(copied["qtype"], original["qtype"] / 2.0) and torch.equal(copied["sentiment"], original["sentiment"])
    del config["files"]
    with pytest.raises(ModelLoadError, match="records no files"):
        copy_model_folder(tmp_path / "adapters", tmp_path / "copy2", config)


def test_adapters_do_not_load_onto_another_base_nor_without_it(tiny_bert_dir, tmp_path):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_bert_dir, base)
    model = lora_model(TransformerEncoder.from_pretrained(str(base)), save_adapters=True)
    model.save_pretrained(tmp_path / "adapters")
    other = AutoModel.from_pretrained(base)
    with torch.no_grad():
        other.embeddings.word_embeddings.weight[0, 0] += 1e-3  # one weight of the base changed
    other.save_pretrained(base)
    with pytest.raises(ModelLoadError, match=r"encoder.lora.base_model: the weights of .*base have SHA-256 [0-9a-f]{64}, not the "
                                             r"[0-9a-f]{64} recorded at training; the model folder holds LoRA adapters only"):
        MultiTaskModel.from_pretrained(tmp_path / "adapters")
    shutil.rmtree(base)
    with pytest.raises(ModelLoadError, match=r"encoder.lora.base_model: cannot load .*base .*holds LoRA adapters only"):
        MultiTaskModel.from_pretrained(tmp_path / "adapters")
    with pytest.raises(ConfigError, match="adapters saved alone: the adapters' base model is the local folder .*base, which nobody "
                                          "loading the model from the Hub has"):
        push_to_hub(tmp_path / "adapters", "someone/adapters")  # refused before any request
    config = json.loads((tmp_path / "adapters" / "config.json").read_text())
    config["encoder"]["lora"]["base_weights_sha256"] = "abc"
    (tmp_path / "adapters" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="field 'encoder.lora.base_weights_sha256' must be a SHA-256 in 64 lowercase hex digits"):
        MultiTaskModel.read_config(tmp_path / "adapters")


def test_lora_options_are_checked():
    with pytest.raises(ConfigError, match="excludes --freeze-encoder and --freeze-layers"):
        TransformerEncoder(tiny_bert(), freeze=True).add_lora(4)
    with pytest.raises(ConfigError, match="--lora-target-modules: .*nonexistent.*linear layers end in: dense key query value"):
        TransformerEncoder(tiny_bert()).add_lora(4, target_modules=["nonexistent"])
    encoder = TransformerEncoder(tiny_bert())
    encoder.add_lora(4)
    with pytest.raises(ConfigError, match="has LoRA adapters already"):
        encoder.add_lora(4)
    with pytest.raises(ConfigError, match="applies to --encoder transformer only"):
        EncoderArguments(lora_r=8)
    for option in ({"lora_alpha": 16}, {"lora_dropout": 0.1}, {"lora_target_modules": ["query"]}):  # not ignored without a rank
        with pytest.raises(ConfigError, match="give its rank with --lora-r"):
            EncoderArguments(encoder="transformer", model_name_or_path="x", **option)
    with pytest.raises(ConfigError, match="excludes --freeze-encoder and --freeze-layers"):
        EncoderArguments(encoder="transformer", model_name_or_path="x", lora_r=8, freeze_layers=2)
    with pytest.raises(ConfigError, match="--lora-save says how LoRA's updates are saved: give LoRA's rank with --lora-r"):
        EncoderArguments(encoder="transformer", model_name_or_path="x", lora_save="adapters")
    with pytest.raises(ConfigError, match="the transformer must be a named model"):  # built in Python: nothing to name as the base
        TransformerEncoder(tiny_bert()).add_lora(4, save_adapters=True)
    lora = TrainingConfig(encoder=EncoderArguments(encoder="transformer", model_name_or_path="x", lora_r=8))
    full = TrainingConfig(encoder=EncoderArguments(encoder="transformer", model_name_or_path="x"))
    assert (lora.optimization.learning_rate, full.optimization.learning_rate) == (5e-4, 5e-5)
    assert (lora.encoder.lora_dropout, full.encoder.lora_dropout) == (0.05, None)


def test_training_with_lora_saves_a_plain_model_or_the_adapters_that_score_as_the_test_table_and_can_be_adapted_again(tiny_bert_dir, data_dir,
                                                                                                        tmp_path):
    common = ["--data-dir", str(data_dir), "--max-train-examples", "160", "--max-steps", "12", "--eval-every", "6", "--batch-size", "16",
              "--seed", "5", "--patience", "0", "--learning-rate", "1e-2"]
    out = tmp_path / "lora"
    train_main(["--encoder", "transformer", "--model-name-or-path", str(tiny_bert_dir), "--tasks", "trec", "sst2", "--lora-r", "4",
                "--output-dir", str(out), *common])
    model, original = MultiTaskModel.from_pretrained(out), AutoModel.from_pretrained(tiny_bert_dir)
    weights, pretrained = model.encoder.model.state_dict(), original.state_dict()
    changed = {k for k in pretrained if not torch.equal(weights[k], pretrained[k])}
    assert changed == {f"encoder.layer.{i}.attention.self.{m}.weight" for i in (0, 1) for m in ("query", "value")}
    config = json.loads((out / "config.json").read_text())
    assert config["training_config"]["encoder"]["lora_r"] == 4 and "lora" not in config["encoder"]
    table = json.loads((out / "test_results.json").read_text())["metrics"]
    scored = evaluate_model(out, data_dir=str(data_dir))
    assert all(scored[t][m] == pytest.approx(table[t][m], abs=1e-9) for t in ("trec", "sst2") for m in ("accuracy", "macro_f1"))

    # the same run saving the adapters alone: a folder a fraction of the size that loads as the same model, and scores as its table
    apart = tmp_path / "adapters"
    train_main(["--encoder", "transformer", "--model-name-or-path", str(tiny_bert_dir), "--tasks", "trec", "sst2", "--lora-r", "4",
                "--lora-save", "adapters", "--output-dir", str(apart), *common])
    assert (apart / "model.safetensors").stat().st_size < (out / "model.safetensors").stat().st_size / 10
    loaded = MultiTaskModel.from_pretrained(apart).state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in model.state_dict().items()) and loaded.keys() == model.state_dict().keys()
    table = json.loads((apart / "test_results.json").read_text())["metrics"]
    scored = evaluate_model(apart, data_dir=str(data_dir))
    assert all(scored[t][m] == pytest.approx(table[t][m], abs=1e-9) for t in ("trec", "sst2") for m in ("accuracy", "macro_f1", "loss"))
    assert "holds LoRA adapters (rank 4, on query, value) with the poolings and heads" in (apart / "README.md").read_text()
    with pytest.raises(ConfigError, match="with --init-from the base is a saved mtl-text model's encoder"):
        train_main(["--init-from", str(apart), "--tasks", "trec", "--lora-r", "2", "--lora-save", "adapters", "--output-dir",
                    str(tmp_path / "no"), *common])

    # sequential transfer: new adapters on the saved (merged) encoder
    again = tmp_path / "again"
    train_main(["--init-from", str(out), "--tasks", "trec", "--lora-r", "2", "--lora-target-modules", "key",
                "--output-dir", str(again), *common])
    second = MultiTaskModel.from_pretrained(again).encoder.model.state_dict()
    changed = {k for k in weights if not torch.equal(weights[k], second[k])}
    assert changed == {f"encoder.layer.{i}.attention.self.key.weight" for i in (0, 1)}
