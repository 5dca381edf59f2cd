#!/usr/bin/env python
"""Serve a saved model over HTTP: `python scripts/serve.py --model DIR [--port 8000]` (see --help)."""

from mtl_text.cli import exit_with
from mtl_text.cli.serve import main

if __name__ == "__main__":
    exit_with(main)
