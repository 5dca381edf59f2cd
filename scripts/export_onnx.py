#!/usr/bin/env python
"""Export a saved model to ONNX: `python scripts/export_onnx.py --model DIR --output DIR` (see --help)."""

from mtl_text.cli import exit_with
from mtl_text.cli.export import main

if __name__ == "__main__":
    exit_with(main)
