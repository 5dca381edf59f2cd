"""Domain adaptation experiment on the Amazon review domains: see mtl_text.bench.domain_adaptation."""

from mtl_text.bench.domain_adaptation import main
from mtl_text.cli import exit_with

if __name__ == "__main__":
    exit_with(main)
