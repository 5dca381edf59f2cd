"""Word vectors for the word-vector encoder: Word2Vec trained on the tasks' training text
(Mikolov et al. 2013, via gensim), or pretrained vectors read from a word2vec/GloVe file, turned into
the initial embedding matrix for a tokenizer's vocabulary.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from ..errors import DataFormatError, DataNotFoundError

logger = logging.getLogger(__name__)


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    vector_size: int = 128,
    window: int = 5,
    epochs: int = 5,
    sg: bool = False,
    seed: int = 42,
    workers: int = 1,
) -> KeyedVectors:
    """Train Word2Vec on tokenized training text.

    Every word is kept (``min_count=1``): the vocabulary is decided by the tokenizer, not here.
    With ``workers=1`` the result depends only on ``seed``; more workers are faster but the thread
    scheduling makes the vectors differ from run to run.

    Args:
        sentences: token lists, e.g. from :func:`mtl_text.data.tokenization.word_sequences`.
        vector_size: dimensions of each vector.
        window: context window (words each side).
        epochs: passes over ``sentences``.
        sg: skip-gram if true, else CBOW.
        seed: random seed of the initialisation and negative sampling.
        workers: worker threads.

    Returns:
        the trained vectors, ``(n_words, vector_size)``.
    """
    model = Word2Vec(
        sentences=sentences, vector_size=vector_size, window=window, min_count=1, sg=int(sg),
        epochs=epochs, seed=seed, workers=workers,
    )
    return model.wv


def load_vectors(path: str | os.PathLike) -> KeyedVectors:
    """Load pretrained vectors: word2vec binary (``.bin``), word2vec text (a ``count dim`` header line)
    or GloVe text (no header).

    Raises:
        DataNotFoundError: no such file.
        DataFormatError: the file is not in any of those formats (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"vectors file {path} not found (expected a word2vec .bin or a GloVe/word2vec .txt file)")
    binary = path.suffix == ".bin" or path.name.endswith(".bin.gz")
    try:
        if binary:
            return KeyedVectors.load_word2vec_format(str(path), binary=True)
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
        no_header = not (len(first) == 2 and all(x.isdigit() for x in first))
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=no_header)
    except Exception as e:  # gensim raises assorted errors on bad input
        raise DataFormatError(f"{path}: not a readable word2vec/GloVe vectors file ({type(e).__name__}: {e})") from e


def embedding_matrix(
    vocab: Mapping[str, int],
    vectors: KeyedVectors,
    seed: int = 42,
    special_tokens: Sequence[str] = ("[PAD]", "[UNK]"),
) -> tuple[np.ndarray, int]:
    """Initial embedding matrix for a vocabulary.

    * a word the vectors know gets its vector;
    * a word they do not know gets a random vector ``N(0, s^2)``, ``s`` the standard deviation of all
      the pretrained values, so it has the same scale as the others;
    * special tokens (``[PAD]``, ``[UNK]``) get zeros.

    Args:
        vocab: word -> row id (ids ``0..len(vocab)-1``).
        vectors: the pretrained or freshly trained vectors.
        seed: seed of the random rows.

    Returns:
        ``(matrix, n_found)``: a float32 array ``(len(vocab), vectors.vector_size)`` and how many
        vocabulary words (special tokens excluded) had a vector.
    """
    rng = np.random.default_rng(seed)
    scale = float(vectors.vectors.std())
    matrix = rng.normal(0.0, scale, size=(len(vocab), vectors.vector_size)).astype(np.float32)
    found = 0
    for word, idx in vocab.items():
        if word in special_tokens:
            matrix[idx] = 0.0
        elif word in vectors.key_to_index:
            matrix[idx] = vectors[word]
            found += 1
    return matrix, found
