#!/usr/bin/env python
"""Score text with a saved model: `python scripts/predict.py --model DIR "some text" ...` (see --help)."""

import sys

from mtl_text.prediction import main

if __name__ == "__main__":
    sys.exit(main())
