# The two commands of README.md's Quickstart: `make quickstart` and `make test`.
VENV    ?= .venv
SHARED  ?= ../shared
export MTL_TEXT_DATA_DIR ?= $(abspath $(SHARED)/data)
BIN     := $(VENV)/bin
RUN_DIR ?= runs/quickstart
# `accelerate launch` without --cpu pins PyTorch to 1 CPU thread (OMP_NUM_THREADS=1): use every core
THREADS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)

.PHONY: setup quickstart test lint benchmark benchmark-quick

setup:
	bash scripts/setup.sh $(VENV)

# Train on 20 Newsgroups + SST-2 with the default settings, print the test table, score two sentences.
quickstart: setup
	$(BIN)/accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
		--num_cpu_threads_per_process $(THREADS) \
		scripts/train.py --tasks 20newsgroups sst2 --output-dir $(RUN_DIR) --overwrite-output-dir
	$(BIN)/python scripts/predict.py --model $(RUN_DIR) \
		"The film is a charming, funny and beautifully acted delight." \
		"My new graphics card will not display anything under X11 on Linux; which driver should I use?"

# The linter, then the test suite (CI runs exactly this).
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

# The published benchmark (README.md, Benchmark): baselines, single- and multi-task, Word2Vec / GloVe /
# random, fine-tuned and frozen; writes benchmarks/results.{json,md} and the plots.
benchmark: setup
	$(BIN)/python scripts/benchmark.py --glove $(SHARED)/vectors/glove-6B-50d.w2v.bin

# The same on 1,000 examples per task, fewer rows (a smoke test; CI runs a smaller one in the tests).
benchmark-quick: setup
	$(BIN)/python scripts/benchmark.py --quick --output-dir runs/benchmark-quick --work-dir runs/benchmark-quick/work
