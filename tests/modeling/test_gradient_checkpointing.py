"""Gradient checkpointing of the transformer encoder (--gradient-checkpointing): each layer runs again
in the backward pass, and training computes what it computes without it (memory and time:
benchmarks/gradient_checkpointing.py)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from mtl_text.cli.train import main as train_main
from mtl_text.errors import ConfigError
from mtl_text.modeling.encoders import TransformerEncoder
from mtl_text.training.config import EncoderArguments

from helpers import tiny_bert


def gradients(checkpointing: bool, lora: bool = False, **options) -> tuple[dict[str, torch.Tensor], int]:
    """One backward pass of a tiny BERT in training mode (dropout on) over a batch with padding:
    each trained weight's gradient, and how often layer 0's attention ran."""
    encoder = TransformerEncoder(tiny_bert(layers=2), **options)
    if lora:
        encoder.add_lora(4)
        with torch.no_grad():
            for name, p in encoder.named_parameters():
                if ".lora_B." in name:
                    p.normal_()
    if checkpointing:
        encoder.enable_gradient_checkpointing()
    calls = []
    encoder.model.encoder.layer[0].attention.register_forward_hook(lambda *_: calls.append(1))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 100, (3, 40), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0
    torch.manual_seed(1)
    hidden = encoder.train()(ids, mask)  # (3, 40, 32)
    (hidden * torch.linspace(-1, 1, hidden.shape[-1])).sum().backward()
    return {n: p.grad for n, p in encoder.named_parameters() if p.requires_grad}, len(calls)


@pytest.mark.parametrize("options", [{}, {"freeze_layers": 0}, {"lora": True}, {"window_length": 16, "window_stride": 4}],
                         ids=["fine-tuning", "frozen-embeddings", "lora", "windows"])
def test_checkpointing_recomputes_each_layer_and_gives_the_same_gradients(options):
    plain, runs = gradients(False, **options)
    checkpointed, reruns = gradients(True, **options)
    assert (runs, reruns) == (1, 2)  # the layer runs again in the backward pass
    pooler = {n for n in plain if ".pooler." in n}  # last_hidden_state does not read BERT's pooler
    trained = set(plain) - pooler
    assert trained and all(plain[n] is not None and checkpointed[n] is not None for n in trained)  # frozen inputs: still gradients
    assert all(torch.equal(plain[n], checkpointed[n]) for n in trained)  # dropout's masks replayed: the same numbers


def test_checkpointing_options_are_checked():
    with pytest.raises(ConfigError, match="a frozen encoder .* computes no gradients"):
        TransformerEncoder(tiny_bert(), freeze=True).enable_gradient_checkpointing()
    encoder = TransformerEncoder(tiny_bert())
    encoder.model.supports_gradient_checkpointing = False
    with pytest.raises(ConfigError, match="BertModel does not support gradient checkpointing"):
        encoder.enable_gradient_checkpointing()
    with pytest.raises(ConfigError, match="applies to --encoder transformer that trains"):
        EncoderArguments(gradient_checkpointing=True)  # word vectors
    with pytest.raises(ConfigError, match="applies to --encoder transformer that trains"):
        EncoderArguments(encoder="transformer", model_name_or_path="x", freeze_encoder=True, gradient_checkpointing=True)


def test_training_with_checkpointing_saves_the_same_model(tiny_bert_dir, data_dir, tmp_path):
    common = ["--encoder", "transformer", "--model-name-or-path", str(tiny_bert_dir), "--tasks", "trec", "--data-dir", str(data_dir),
              "--max-train-examples", "64", "--max-steps", "6", "--eval-every", "6", "--batch-size", "16", "--seed", "3",
              "--learning-rate", "1e-3"]
    train_main([*common, "--output-dir", str(tmp_path / "plain")])
    train_main([*common, "--gradient-checkpointing", "--output-dir", str(tmp_path / "checkpointed")])
    plain, checkpointed = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("plain", "checkpointed"))
    assert plain.keys() == checkpointed.keys() and all(torch.equal(plain[k], checkpointed[k]) for k in plain)
    config = json.loads((tmp_path / "checkpointed" / "config.json").read_text())
    assert config["training_config"]["encoder"]["gradient_checkpointing"] is True  # the recipe records it
    assert config["encoder"] == json.loads((tmp_path / "plain" / "config.json").read_text())["encoder"]  # the model does not
