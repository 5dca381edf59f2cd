"""The benchmark harness and transfer report: python scripts/benchmark.py --help"""

import sys

from mtl_text.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
