#!/usr/bin/env python
"""The benchmark harness and transfer report: `python scripts/benchmark.py --help` (needs the bench extra)."""

from mtl_text.cli import exit_with
from mtl_text.cli.benchmark import main

if __name__ == "__main__":
    exit_with(main)
