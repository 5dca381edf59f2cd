"""``mtl-text export-onnx`` / ``scripts/export_onnx.py``: export a saved model to ONNX: one graph with
every head as an output (one per kind of input: single texts, sentence pairs), dynamic batch and
sequence axes, beside a copy of the model folder; score it with ``mtl-text predict --backend onnx``
(the ``onnx`` extra)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from ..arguments import Arguments, Range, token_option
from ..errors import ConfigError
from .parsing import ArgumentParser


@dataclass
class ExportArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training, or a Hugging Face Hub id (OWNER/NAME, or OWNER/NAME@REVISION for a branch, tag or commit)"})
    output: str = field(metadata={"aliases": ["--output-dir"],  # the spelling of train and calibrate, which write model folders too
                                  "help": "the export folder (created; it must not hold a model)"})
    opset: Annotated[int, Range(min=17)] = field(default=18, metadata={"help": "the ONNX opset"})
    quantize: bool = field(default=False, metadata={
        "help": "int8 dynamic quantization of the weights (ONNX Runtime's quantize_dynamic): smaller, often faster on CPUs; "
                "check its accuracy cost (scripts/benchmark_onnx.py)"})
    token: str | None = token_option("read a private or gated Hub model")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401

        from ..inference.onnx import export_onnx
    except ImportError as e:
        raise ConfigError(f"mtl-text export-onnx needs the onnx extra: pip install 'mtl-text[onnx]' ({e})") from None
    from ..utils.log import setup_logging

    (args,), _ = ArgumentParser(ExportArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    setup_logging()
    print(export_onnx(args.model, args.output, args.opset, args.quantize, token=args.token))
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
