"""ONNX export and an ONNX Runtime backend for the predictor (the ``onnx`` extra: onnx, onnxscript,
onnxruntime).

:func:`export_onnx` writes an export folder: a copy of the model folder (config, weights, tokenizer,
and for fp32 graphs the test results; its model card, unless edited by hand, is written again for
the export: it names ``--backend onnx`` and shows the test results only where they were kept;
``push-to-hub`` uploads it as any model folder; a folder of LoRA adapters
saved apart from their base is written whole, the adapters merged, so the export needs no base
model), plus one ONNX graph per kind of input whose outputs are the logits of every head:

* ``model.onnx`` for the single-text tasks: inputs ``input_ids`` and ``attention_mask``,
  ``(batch, seq_len)`` int64; outputs ``logits_<task>``, ``(batch, num_outputs)`` float32;
* ``model_pairs.onnx`` for the sentence-pair tasks, with a third input ``token_type_ids``;

both with dynamic batch and sequence axes (``torch.onnx.export``, the dynamo exporter), and
``onnx.json`` naming each graph's file, tasks, inputs, opset, whether it is int8-quantized (ONNX
Runtime's dynamic quantization, Linear and MatMul weights) and its SHA-256, checked on load.

:class:`OnnxRunner` runs those graphs with ONNX Runtime in place of the PyTorch model:
``Predictor.from_pretrained(folder, backend="onnx")``. Tokenization, batching and each head's
decoding (argmax, thresholds, target scaling) stay the predictor's, so results have the same form;
they equal PyTorch's within the tolerance measured by the tests (max abs logit difference 1e-4,
fp32). PyTorch is still needed for the decoding: a runtime without it is not offered yet.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, ModelLoadError
from ..utils.files import CONFIG_NAME, ONNX_CONFIG_NAME, RESULTS_NAME, sha256_file

logger = logging.getLogger("mtl_text.onnx")

GRAPHS = {False: "model.onnx", True: "model_pairs.onnx"}  # pairs? -> file
EXPORT_FILES = (ONNX_CONFIG_NAME, *GRAPHS.values())  # what an export adds to a model folder (a Hub id's download for --backend onnx)
DEFAULT_OPSET = 18


class _AllHeads(torch.nn.Module):
    """The exported function: token ids (and segment ids) -> every listed head's logits, one encoder pass."""

    def __init__(self, model, tasks: list[str]):
        super().__init__()
        self.model, self.tasks = model, tasks

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        logits = self.model.predict_logits(input_ids, attention_mask, self.tasks, token_type_ids)
        return tuple(logits[t] for t in self.tasks)


def export_onnx(model_dir: str | os.PathLike, output_dir: str | os.PathLike, opset: int = DEFAULT_OPSET, quantize: bool = False,
                token: str | None = None) -> Path:
    """Export a saved model to an ONNX folder (see the module's text).

    Args:
        model_dir: the model folder (or a Hub id).
        output_dir: the export folder (created; must not hold a model already).
        opset: the ONNX opset (>= 17).
        quantize: int8 dynamic quantization of the graphs' weights (smaller and, on many CPUs,
            faster; its accuracy cost is the user's to check: ``benchmark_onnx.py`` measures it).
        token: for a Hub id, as :meth:`~mtl_text.modeling.model.MultiTaskModel.from_pretrained` takes it.

    Returns:
        ``output_dir``.

    Raises:
        ModelLoadError: ``model_dir`` is not a loadable model.
        ConfigError: ``output_dir`` holds a model already, ``opset`` < 17, or the model reads long
            documents as windows (``--window-length``): not exportable yet.
    """
    from ..modeling.hub import CARD_NAME, card_is_unedited, resolve_model, write_model_card
    from ..modeling.model import MultiTaskModel

    if opset < 17:
        raise ConfigError(f"--opset must be >= 17 (LayerNormalization and the exporter's operators), got {opset}")
    model_dir, output_dir = resolve_model(model_dir, token=token), Path(output_dir)
    if (output_dir / CONFIG_NAME).exists():
        raise ConfigError(f"{output_dir} holds a model already; choose an empty folder")
    model = MultiTaskModel.from_pretrained(model_dir).eval()
    if getattr(model.encoder, "window_length", None):
        raise ConfigError(f"{model_dir} reads long documents as windows (--window-length {model.encoder.window_length}); such a "
                          "model cannot be exported to ONNX yet: serve it with the PyTorch backend")
    output_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((model_dir / CONFIG_NAME).read_text())
    # the test results too for fp32 graphs (the same logits within 1e-4), so that the export's model card keeps them; int8's differ
    for name in [*config.get("files", {}), CONFIG_NAME, CARD_NAME, *([] if quantize else [RESULTS_NAME])]:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, output_dir / name)
    adapters = bool(config["encoder"].get("lora"))  # LoRA adapters saved apart from their base
    if adapters:  # the export holds the merged model, whole
        from .prediction import load_tokenizer

        model.save_pretrained(output_dir, load_tokenizer(model_dir),
                              extra_config={k: v for k, v in config.items() if k not in model.config_dict() and k != "files"})
    graphs = {}
    for pairs, file in GRAPHS.items():
        tasks = [t for t, info in model.tasks.items() if bool(info.get("text_pair")) == pairs]
        if not tasks:
            continue
        inputs = ["input_ids", "attention_mask"] + (["token_type_ids"] if pairs else [])
        ids = torch.ones(2, 8, dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[1, 5:] = 0
        example = (ids, mask) + ((torch.cat([torch.zeros(2, 4), torch.ones(2, 4)], 1).long(),) if pairs else ())
        # every input (batch, seq_len), dynamic; the names are given once (the other inputs share the axes, and outputs follow)
        shapes = ({0: "batch", 1: "seq_len"},) + ({0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC},) * (len(inputs) - 1)
        path = output_dir / file
        with torch.no_grad():
            torch.onnx.export(_AllHeads(model, tasks).eval(), example, str(path), input_names=inputs,
                              output_names=[f"logits_{t}" for t in tasks], dynamic_shapes=shapes, opset_version=opset, dynamo=True,
                              external_data=False)  # one self-contained file (graphs under protobuf's 2 GB)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = path.with_suffix(".fp32.onnx")
            path.rename(fp32)
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
            fp32.unlink()
        graphs["pairs" if pairs else "texts"] = {"file": file, "tasks": tasks, "inputs": inputs, "sha256": sha256_file(path)}
        logger.info("exported %s: tasks %s, %.1f MB", path, tasks, path.stat().st_size / 1e6)
    (output_dir / ONNX_CONFIG_NAME).write_text(json.dumps({"opset": opset, "quantized": quantize, "graphs": graphs}, indent=2) + "\n")
    card = output_dir / CARD_NAME
    if card.is_file() and card_is_unedited(text := card.read_text(encoding="utf-8"), output_dir):
        from huggingface_hub import ModelCard

        # the copied card told how to run the weights (and of adapters, of fp32 test results an int8 graph does not have): the
        # export's own names --backend onnx; a card edited by hand is the user's, kept as it is
        write_model_card(output_dir, license=ModelCard(text).data.license)
    return output_dir


def export_config(directory: str | os.PathLike) -> Path:
    """The ``onnx.json`` of an export folder written by :func:`export_onnx`.

    Raises:
        ModelLoadError: ``directory`` holds no ``onnx.json`` (a model folder never exported)."""
    path = Path(directory) / ONNX_CONFIG_NAME
    if not path.is_file():
        raise ModelLoadError(f"{directory} is not an ONNX export: {ONNX_CONFIG_NAME} is missing (write one with mtl-text export-onnx)")
    return path


class OnnxRunner:
    """Runs an export folder's graphs with ONNX Runtime; called as the PyTorch model's
    ``predict_logits`` is: ``(batch, seq_len)`` ids and mask (and segment ids for pairs) -> task ->
    ``(batch, num_outputs)`` float32 logits.

    Args:
        directory: an export folder written by :func:`export_onnx`.
        threads: ONNX Runtime's intra-op threads (``None``: its default, one per core).

    Raises:
        ModelLoadError: no ``onnx.json``, a graph file missing or not matching its SHA-256, or a graph
            ONNX Runtime cannot load.
    """

    def __init__(self, directory: str | os.PathLike, threads: int | None = None):
        import onnxruntime as ort

        directory = Path(directory)
        path = export_config(directory)
        self.config = json.loads(path.read_text())
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.sessions, self.tasks = {}, {}
        for kind, graph in self.config["graphs"].items():
            file = directory / graph["file"]
            if not file.is_file() or sha256_file(file) != graph["sha256"]:
                raise ModelLoadError(f"{file}: missing or changed since export (its SHA-256 differs from {path})")
            try:
                self.sessions[kind] = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own exception types
                raise ModelLoadError(f"{file}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from None
            self.tasks[kind] = graph["tasks"]

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tasks, token_type_ids: torch.Tensor | None = None) -> dict:
        kind = "texts" if token_type_ids is None else "pairs"
        if input_ids.shape[1] == 0:  # empty texts (word vectors): one masked padding position, pooled to the same zero vector
            input_ids, attention_mask = input_ids.new_zeros(len(input_ids), 1), attention_mask.new_zeros(len(input_ids), 1)
            token_type_ids = None if token_type_ids is None else token_type_ids.new_zeros(len(input_ids), 1)
        feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        if token_type_ids is not None:
            feeds["token_type_ids"] = token_type_ids.numpy()
        outputs = self.sessions[kind].run(None, feeds)
        logits = dict(zip(self.tasks[kind], outputs))
        return {t: torch.from_numpy(np.ascontiguousarray(logits[t])) for t in tasks}
