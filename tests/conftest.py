"""Shared fixtures. Real data comes from ../shared beside the checkout (or $MTL_TEXT_SHARED_DIR)."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MTL_TEXT_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"real data not found at {SHARED} (set MTL_TEXT_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def data_dir(shared_dir) -> Path:
    return shared_dir / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, shared_dir):
    """A randomly initialised 2-layer BERT (64 positions) with all-MiniLM-L6-v2's tokenizer, saved as a model folder."""
    from transformers import AutoTokenizer

    from helpers import tiny_bert

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(shared_dir / "models" / "all-MiniLM-L6-v2")
    tiny_bert(vocab_size=len(tokenizer), layers=2, seed=1).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
