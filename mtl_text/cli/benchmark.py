"""``mtl-text benchmark`` / ``scripts/benchmark.py``: the benchmark harness and transfer report (needs
the ``bench`` extra)."""

from __future__ import annotations


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from ..bench.benchmark import main as benchmark

    return benchmark(argv, prog)


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
