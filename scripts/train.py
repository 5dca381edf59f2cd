#!/usr/bin/env python
"""Train tasks jointly: `accelerate launch scripts/train.py --tasks 20newsgroups sst2 ...` (see --help)."""

from mtl_text.cli import exit_with
from mtl_text.cli.train import main

if __name__ == "__main__":
    exit_with(main)
