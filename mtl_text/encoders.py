"""Encoders: token ids -> one vector per token, shared by every task. Every encoder has the same
interface:

* ``forward(input_ids, attention_mask)``: ``(batch, seq_len)`` ints and ``(batch, seq_len)`` 0/1 ->
  ``(batch, seq_len, hidden_size)`` floats (pooling happens after the encoder, per task: see
  :class:`mtl_text.modeling.MultiTaskModel`);
* ``hidden_size``: the size of each token vector;
* ``config_dict()``: a JSON-able description from which :func:`build_encoder` rebuilds the same
  architecture (the weights travel separately, in ``model.safetensors``);
* ``frozen``: true when the encoder is used as a fixed feature extractor.

so heads, sampling, training, saving and prediction do not care which encoder is in use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class WordVectorEncoder(nn.Module):
    """Word embeddings: each token id becomes its (trainable or frozen) word vector.

    The embedding matrix is initialised from Word2Vec vectors trained on the tasks' training text or
    from pretrained vectors (see :mod:`mtl_text.vectors`), or randomly when ``embeddings`` is None.
    Row 0 is ``[PAD]`` (kept at zero), row 1 ``[UNK]``.

    Args:
        vocab_size: rows of the embedding matrix.
        embedding_dim: size of each word vector.
        freeze: keep the embeddings fixed (feature extraction).
        embeddings: optional initial matrix ``(vocab_size, embedding_dim)``.
    """

    type_name = "word_vectors"

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        freeze: bool = False,
        embeddings: np.ndarray | torch.Tensor | None = None,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        if embeddings is not None:
            weights = torch.as_tensor(embeddings, dtype=torch.float32)
            if tuple(weights.shape) != (vocab_size, embedding_dim):
                raise ValueError(f"embeddings have shape {tuple(weights.shape)}, expected {(vocab_size, embedding_dim)}")
            with torch.no_grad():
                self.embedding.weight.copy_(weights)
                self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not freeze)
        self.frozen = freeze
        self.hidden_size = embedding_dim

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(batch, seq_len)``, ``(batch, seq_len)`` -> ``(batch, seq_len, embedding_dim)``; padding
        positions hold the zero ``[PAD]`` vector (poolings mask them anyway)."""
        return self.embedding(input_ids)

    def config_dict(self) -> dict:
        return {
            "type": self.type_name,
            "vocab_size": self.embedding.num_embeddings,
            "embedding_dim": self.embedding.embedding_dim,
            "freeze": self.frozen,
        }

    @classmethod
    def from_config(cls, config: dict) -> WordVectorEncoder:
        return cls(config["vocab_size"], config["embedding_dim"], config.get("freeze", False))


ENCODER_TYPES: dict[str, type[nn.Module]] = {WordVectorEncoder.type_name: WordVectorEncoder}


def build_encoder(config: dict) -> nn.Module:
    """Rebuild an encoder (randomly initialised) from its ``config_dict()``.

    Raises:
        ValueError: the config names no known encoder type.
    """
    kind = config.get("type")
    if kind not in ENCODER_TYPES:
        raise ValueError(f"unknown encoder type {kind!r}; expected one of {sorted(ENCODER_TYPES)}")
    return ENCODER_TYPES[kind].from_config(config)
