"""Task balancing against negative transfer: see mtl_text.bench.balancing."""

from mtl_text.bench.balancing import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
