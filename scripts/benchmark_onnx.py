#!/usr/bin/env python
"""ONNX Runtime (fp32, int8) against PyTorch for saved models: `python scripts/benchmark_onnx.py --models DIR ... --help`."""

from mtl_text.bench.onnx import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
