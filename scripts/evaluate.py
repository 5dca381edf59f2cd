#!/usr/bin/env python
"""Score a saved model on its tasks' test splits: `accelerate launch scripts/evaluate.py --model DIR` (see --help)."""

from mtl_text.cli import exit_with
from mtl_text.cli.evaluate import main

if __name__ == "__main__":
    exit_with(main)
