"""Learning curves and sequential transfer on a target task: see mtl_text.bench.learning_curve."""

from mtl_text.bench.learning_curve import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
