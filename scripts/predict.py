#!/usr/bin/env python
"""Score text with a saved model: `python scripts/predict.py --model DIR "some text" ...` (see --help)."""

from mtl_text.cli import exit_with
from mtl_text.cli.predict import main

if __name__ == "__main__":
    exit_with(main)
