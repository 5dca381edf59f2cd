"""Our training loop against a plain PyTorch loop, same model and batches: python scripts/benchmark_overhead.py --help"""

from mtl_text.overhead import main

if __name__ == "__main__":
    main()
