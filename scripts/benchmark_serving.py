#!/usr/bin/env python
"""Load test of mtl-text serve (1, 8, 64 concurrent clients) against the offline Predictor: `python scripts/benchmark_serving.py --help`."""

from mtl_text.bench.serving import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
