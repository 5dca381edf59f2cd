#!/usr/bin/env python
"""Our training loop against a plain PyTorch loop, same model and batches: `python scripts/benchmark_overhead.py --help`."""

from mtl_text.bench.overhead import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
