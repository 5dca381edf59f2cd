"""Pooling: token vectors ``(batch, seq_len, hidden)`` + attention mask ``(batch, seq_len)`` ->
one vector per text.

Padding never leaks into a pooled vector. A text with no tokens at all (an empty text under the
word-level tokenizer) pools to the zero vector, so its prediction is defined: the heads' biases.

Modes:

* ``mean``: the average of the real tokens' vectors.
* ``max``: the element-wise maximum over real tokens (Collobert et al. 2011; SWEM-max, Shen et al. 2018).
* ``mean_max``: ``mean`` and ``max`` concatenated (output ``2 * hidden``; SWEM-concat).
* ``hierarchical``: the mean of each window of :data:`HIERARCHICAL_WINDOW` consecutive tokens, then the
  element-wise maximum over the windows (SWEM-hier, Shen et al. 2018, "Baseline Needs More Love"):
  local word order, such as "not good", without parameters. A text shorter than the window pools
  to its mean.
* ``attention``: a learned weighted average, ``a = softmax_t(v . tanh(W h_t + b))``,
  ``pooled = sum_t a_t h_t`` (Yang et al. 2016, "Hierarchical Attention Networks"). It learns which
  words matter, which helps long documents most.
* ``cnn``: a convolutional network of the task's own over the shared token vectors (Kim 2014,
  "Convolutional Neural Networks for Sentence Classification"): :data:`CNN_FILTERS` filters of each
  width in :data:`CNN_WIDTHS` tokens, ReLU, max over time (output ``CNN_FILTERS * len(CNN_WIDTHS)``).
  It sees word order ("not good") with the encoder shared: one task can read n-gram features while
  the others keep a cheaper pooling.
* ``cls``: the first token's vector (BERT's ``[CLS]``); for transformer encoders.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .options import POOLING_MODES

__all__ = ["CNN_FILTERS", "CNN_WIDTHS", "HIERARCHICAL_WINDOW", "POOLING_MODES", "AttentionPooling", "ConvolutionalPooling", "Pooling",
           "convolve", "masked_hierarchical", "masked_max", "masked_mean"]

HIERARCHICAL_WINDOW = 5  # tokens per window of hierarchical pooling: up to 5-grams
CNN_FILTERS = 100  # filters per width of cnn pooling (Kim 2014's setting)
CNN_WIDTHS = (3, 4, 5)  # its filter widths, in tokens (Kim 2014)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: ``(batch, seq_len, hidden)``, ``(batch, seq_len)`` -> ``(batch, hidden)``."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def masked_max(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over real tokens: ``(batch, seq_len, hidden)``, ``(batch, seq_len)`` -> ``(batch, hidden)``;
    zeros for a text without tokens."""
    keep = mask.unsqueeze(-1).bool()
    # one masked position appended, so that a batch of empty texts (seq_len 0) has a maximum too (no branch on shapes: ONNX export)
    filled = F.pad(hidden.masked_fill(~keep, torch.finfo(hidden.dtype).min), (0, 0, 0, 1), value=torch.finfo(hidden.dtype).min)
    pooled = filled.max(1).values
    return torch.where(keep.any(1), pooled, torch.zeros_like(pooled))


def masked_hierarchical(hidden: torch.Tensor, mask: torch.Tensor, window: int = HIERARCHICAL_WINDOW) -> torch.Tensor:
    """Hierarchical pooling (SWEM-hier, Shen et al. 2018): ``(batch, seq_len, hidden)``, ``(batch, seq_len)``
    -> ``(batch, hidden)``, the element-wise maximum over every window of ``window`` consecutive real
    tokens of the window's mean. A text with fewer real tokens than ``window`` pools to its mean
    (zeros for a text without tokens). Padding is expected after the real tokens, as the collators
    put it."""
    weights = mask.to(hidden.dtype).unsqueeze(1)  # (batch, 1, seq_len)
    # window zeros after the last position, so that any seq_len, 0 included, has windows (no branch on shapes: ONNX export traces it)
    window_means = F.avg_pool1d(F.pad(hidden.transpose(1, 2) * weights, (0, window)), window, stride=1)  # (batch, hidden, seq_len + 1)
    real = F.avg_pool1d(F.pad(weights, (0, window)), window, stride=1).squeeze(1) > 1 - 0.5 / window  # (batch, seq_len + 1): no padding inside
    pooled = masked_max(window_means.transpose(1, 2), real)
    return torch.where(real.any(-1, keepdim=True), pooled, masked_mean(hidden, mask))


def convolve(vectors: torch.Tensor, convolutions: nn.ModuleList) -> torch.Tensor:
    """Each 1-d convolution over the sequence with "same" padding (``(w - 1) // 2`` zero vectors before
    the text, the rest after it), ReLU, the feature maps concatenated: ``(batch, seq_len, in)`` ->
    ``(batch, seq_len, sum of out_channels)``. A batch without positions gives ``(batch, 0, ...)``."""
    out = sum(conv.out_channels for conv in convolutions)
    if vectors.shape[1] == 0:  # a batch of empty texts: no tokens, nothing to convolve
        return vectors.new_zeros(vectors.shape[0], 0, out)
    x = vectors.transpose(1, 2)
    maps = []
    for conv in convolutions:
        before = (conv.kernel_size[0] - 1) // 2
        maps.append(torch.relu(conv(F.pad(x, (before, conv.kernel_size[0] - 1 - before)))))
    return torch.cat(maps, dim=1).transpose(1, 2)


class ConvolutionalPooling(nn.Module):
    """A task's own CNN over the token vectors (Kim 2014): ``(batch, seq_len, hidden)``,
    ``(batch, seq_len)`` -> ``(batch, filters * len(widths))``.

    Positions outside ``mask`` (padding, dropped words, the other text of a pair) are zero vectors to
    the filters and take no part in the max over time; a text without tokens pools to zeros.
    """

    def __init__(self, hidden_size: int, filters: int = CNN_FILTERS, widths: tuple[int, ...] = CNN_WIDTHS):
        super().__init__()
        self.convolutions = nn.ModuleList(nn.Conv1d(hidden_size, filters, w) for w in widths)
        self.output_dim = filters * len(widths)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        maps = convolve(hidden * mask.unsqueeze(-1).to(hidden.dtype), self.convolutions)
        return masked_max(maps, mask)


class AttentionPooling(nn.Module):
    """Additive attention pooling (Yang et al. 2016): ``(batch, seq_len, hidden)`` -> ``(batch, hidden)``.

    With ``token_ids`` (``(batch, seq_len)``, from a context-free encoder, whose equal ids have equal
    vectors) the score ``v . tanh(W h + b)`` is computed once per distinct id and looked up for each
    token: the same scores, from one projection per distinct word instead of one per position (a batch of
    256 20 Newsgroups test posts has 5.8 positions, padding included, per distinct id).
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.proj = nn.Linear(hidden_size, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
        scores = self.scores(hidden, token_ids)  # (batch, seq_len)
        keep = mask.bool()
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1) * keep  # an all-padding row gets weights 0
        return torch.einsum("bs,bsh->bh", weights, hidden)

    def scores(self, hidden: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Unnormalised attention scores ``(batch, seq_len)`` (padding not yet masked)."""
        if token_ids is None:
            return self.score(torch.tanh(self.proj(hidden))).squeeze(-1)
        distinct, inverse = torch.unique(token_ids, return_inverse=True)
        positions = torch.arange(inverse.numel(), device=inverse.device)
        first = torch.full((len(distinct),), inverse.numel(), device=inverse.device).scatter_reduce_(
            0, inverse.flatten(), positions, "amin")  # where each distinct id first occurs
        vectors = hidden.reshape(-1, hidden.shape[-1])[first]  # (distinct, hidden)
        return self.score(torch.tanh(self.proj(vectors))).squeeze(-1)[inverse]


class Pooling(nn.Module):
    """Pool token vectors into one vector per text.

    Args:
        mode: one of :data:`POOLING_MODES`.
        hidden_size: size of the token vectors.

    Attributes:
        output_dim: size of the pooled vector (``2 * hidden_size`` for ``mean_max``, ``CNN_FILTERS *
            len(CNN_WIDTHS)`` for ``cnn``).

    Raises:
        ValueError: an unknown mode.
    """

    def __init__(self, mode: str, hidden_size: int):
        super().__init__()
        if mode not in POOLING_MODES:
            raise ValueError(f"unknown pooling {mode!r}; expected one of {POOLING_MODES}")
        self.mode = mode
        self.attention = AttentionPooling(hidden_size) if mode == "attention" else None
        self.cnn = ConvolutionalPooling(hidden_size) if mode == "cnn" else None
        self.output_dim = 2 * hidden_size if mode == "mean_max" else self.cnn.output_dim if self.cnn else hidden_size

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, seq_len, hidden)``, ``(batch, seq_len)`` -> ``(batch, output_dim)``. ``token_ids``
        ``(batch, seq_len)``: only from a context-free encoder (equal ids, equal vectors); attention
        pooling then scores each distinct id once (see :class:`AttentionPooling`)."""
        if self.mode == "mean":
            return masked_mean(hidden, mask)
        if self.mode == "max":
            return masked_max(hidden, mask)
        if self.mode == "mean_max":
            return torch.cat([masked_mean(hidden, mask), masked_max(hidden, mask)], dim=-1)
        if self.mode == "hierarchical":
            return masked_hierarchical(hidden, mask)
        if self.mode == "attention":
            return self.attention(hidden, mask, token_ids)
        if self.mode == "cnn":
            return self.cnn(hidden, mask)
        return hidden[:, 0]
