#!/usr/bin/env python
"""Train tasks jointly: `accelerate launch scripts/train.py --tasks 20newsgroups sst2 ...` (see --help)."""

from mtl_text.training import main

if __name__ == "__main__":
    main()
