"""The wide part of a task: a linear model over the text's hashed word n-grams, weighted by TF-IDF,
whose output is added to the head's logits.

Wide & Deep (Cheng et al. 2016, "Wide & deep learning for recommender systems"): the deep part (the
shared encoder, the task's pooling and head) generalises through dense vectors; the wide part
memorises which exact words and word pairs signal which label, as TF-IDF + a linear classifier does
(Joachims 1998; the strongest cheap baseline on topic classification). Both train together on the
head's loss, so the wide part learns what the deep part misses.

The features of a text, from its token ids (any tokenizer's):

* its n-grams of 1 to ``ngrams`` consecutive tokens (not across the two texts of a pair), each
  hashed into one of ``buckets`` rows (the hashing trick: Weinberger et al. 2009, as in fastText
  and scikit-learn's ``HashingVectorizer``);
* weight of a row: sublinear term frequency ``1 + ln(count)`` times the row's inverse document
  frequency ``ln((1 + N) / (1 + df)) + 1`` over the task's ``N`` training texts (scikit-learn's
  ``TfidfVectorizer(sublinear_tf=True)``), the weights of a text then L2-normalised.

The wide part of a task is one ``(buckets, num_outputs)`` matrix, starting at zero, and the IDF
vector (a buffer, saved with the model); a text's wide logits are the weighted sum of its rows'
weights (``nn.EmbeddingBag``), so the cost is one lookup per n-gram. An ONNX export
(:mod:`mtl_text.inference.onnx`) computes the same weights in a fixed layout without scatter-adds
(:meth:`WideNgrams.dense_tfidf`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_PRIME = 1_000_003  # chains the ids of an n-gram into one hash (an n-gram's hash continues its (n-1)-gram's)
_SEED = 0x9E3779B1
_MIX = -0x61C8864680B583EB  # 0x9E3779B97F4A7C15 (2^64 / golden ratio) as a signed 64-bit integer: Fibonacci hashing


def ngram_buckets(input_ids: torch.Tensor, attention_mask: torch.Tensor, buckets: int, ngrams: int,
                  token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The bucket of every n-gram of every text: ``(batch, seq_len)`` ids and mask (and segment ids)
    -> ``(batch, ngrams * seq_len)`` ints in ``[0, buckets]``; ``0`` marks no n-gram (padding, or an
    n-gram that would run past a text's start or across the two texts of a pair), else ``1 + hash mod
    buckets``. Position ``i`` of block ``n - 1`` is the n-gram that ends at token ``i``."""
    valid = attention_mask.bool()
    segment = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
    hashed, ok = torch.full_like(input_ids, _SEED), torch.ones_like(valid)
    blocks = []
    for n in range(1, ngrams + 1):
        shift = n - 1
        ids = torch.nn.functional.pad(input_ids[:, : input_ids.shape[1] - shift], (shift, 0))
        here = torch.nn.functional.pad(valid[:, : valid.shape[1] - shift], (shift, 0))
        same = torch.nn.functional.pad(segment[:, : segment.shape[1] - shift], (shift, 0), value=-1) == segment
        ok = ok & here & same & valid
        hashed = hashed * _PRIME + ids  # int64 arithmetic wraps: a hash, not a number
        mixed = hashed * _MIX
        mixed = mixed ^ (mixed >> 32)  # the high bits, which depend on every id, reach the low ones that pick the row
        blocks.append(torch.where(ok, torch.remainder(mixed, buckets) + 1, 0))
    return torch.cat(blocks, dim=1)


class WideNgrams(nn.Module):
    """The wide part of one task (see the module's text).

    Args:
        buckets: rows of the hashed n-gram table.
        num_outputs: the head's outputs (labels, or regression targets).
        ngrams: the longest n-gram, in tokens (1: words only; 2: words and word pairs).

    Raises:
        ValueError: ``buckets`` or ``ngrams`` below 1.
    """

    def __init__(self, buckets: int, num_outputs: int, ngrams: int = 2):
        super().__init__()
        if buckets < 1 or ngrams < 1:
            raise ValueError(f"buckets and ngrams must be >= 1, got {buckets} and {ngrams}")
        self.buckets, self.ngrams = int(buckets), int(ngrams)
        self.weight = nn.EmbeddingBag(self.buckets + 1, num_outputs, mode="sum")
        nn.init.zeros_(self.weight.weight)
        self.register_buffer("idf", torch.ones(self.buckets + 1))

    def bags(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each text's distinct buckets and their TF-IDF weights, as ``nn.EmbeddingBag`` takes them:
        ``(rows,)`` buckets, ``(batch,)`` offsets of each text's first row, ``(rows,)`` weights."""
        grams = ngram_buckets(input_ids, attention_mask, self.buckets, self.ngrams, token_type_ids)
        batch = grams.shape[0]
        rows, buckets, counts = self._distinct(grams)
        weights = self._weights(buckets, counts)
        norms = torch.zeros(batch, dtype=weights.dtype, device=weights.device).index_add_(0, rows, weights * weights).sqrt()
        weights = weights / norms[rows]
        offsets = torch.nn.functional.pad(torch.bincount(rows, minlength=batch).cumsum(0)[:-1], (1, 0))
        return buckets, offsets, weights

    def dense_tfidf(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The same weights in a fixed layout, one row per text, computed without scatter-adds (the
        ONNX graph's form: ONNX Runtime's ``ScatterND``/``ScatterElements`` with ``reduction="add"``
        race on repeated indices across threads, microsoft/onnxruntime#18048 and #23396):
        ``(batch, ngrams * seq_len)`` each text's buckets, sorted (0: no n-gram), and their weights
        (non-zero only at the first occurrence of each distinct bucket)."""
        grams = ngram_buckets(input_ids, attention_mask, self.buckets, self.ngrams, token_type_ids)
        buckets = torch.sort(grams, dim=1).values  # a text's no-n-grams (0) first, then its runs of equal buckets
        first = (buckets != torch.nn.functional.pad(buckets[:, :-1], (1, 0))) & (buckets != 0)
        starts = first.flatten().nonzero().squeeze(1)  # the runs, in row-major order
        width = buckets.shape[1]
        ends = torch.minimum(torch.cat([starts[1:], starts.new_full((1,), first.numel())]), (starts // width + 1) * width)
        run = (torch.cumsum(first.flatten().long(), 0) - 1).clamp(min=0).view_as(buckets)  # the run at each position
        counts = torch.cat([ends - starts, starts.new_ones(1)])[run]  # (the 1 appended: no run at all)
        weights = torch.where(first, self._weights(buckets, counts), 0.0)
        norms = weights.square().sum(1, keepdim=True).sqrt()
        return buckets, weights / torch.where(norms > 0, norms, 1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, seq_len)`` ids and mask (and segment ids) -> wide logits ``(batch, num_outputs)``
        (zero for a text without tokens)."""
        table = self.weight.weight
        if torch.onnx.is_in_onnx_export():  # the same sums in a fixed layout: a gather and a sum per text
            buckets, weights = self.dense_tfidf(input_ids, attention_mask, token_type_ids)
            return (table[buckets] * weights.to(table.dtype).unsqueeze(-1)).sum(1)
        buckets, offsets, weights = self.bags(input_ids, attention_mask, token_type_ids)
        return self.weight(buckets, offsets, per_sample_weights=weights.to(table.dtype))

    def _weights(self, buckets: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Sublinear term frequency times inverse document frequency, before normalisation."""
        return (1.0 + torch.log(counts.clamp(min=1).to(self.idf.dtype))) * self.idf[buckets]

    def _distinct(self, grams: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The distinct buckets of each text in ``grams`` (``(batch, n)``, 0 for none), sorted by text:
        ``(rows,)`` text index, ``(rows,)`` bucket, ``(rows,)`` how often the text has it."""
        text = torch.arange(grams.shape[0], device=grams.device).unsqueeze(1).expand_as(grams)
        present = grams != 0
        keys, counts = torch.unique(text[present] * (self.buckets + 1) + grams[present], return_counts=True)
        return keys // (self.buckets + 1), keys % (self.buckets + 1), counts

    @torch.no_grad()
    def fit_idf(self, input_ids: Sequence[Sequence[int]], token_type_ids: Sequence[Sequence[int]] | None = None,
                batch_size: int = 512) -> None:
        """Set the inverse document frequencies from a task's training texts: their token ids, one list
        per text (and, for pairs, the segment ids)."""
        input_ids = list(input_ids)
        token_type_ids = list(token_type_ids) if token_type_ids is not None else None
        df = torch.zeros(self.buckets + 1, dtype=torch.float64)
        for start in range(0, len(input_ids), batch_size):
            chunk = input_ids[start: start + batch_size]
            ids = _padded(chunk)
            mask = (torch.arange(ids.shape[1]) < torch.tensor([len(row) for row in chunk]).unsqueeze(1)).long()
            segments = _padded(token_type_ids[start: start + batch_size]) if token_type_ids is not None else None
            _, buckets, _ = self._distinct(ngram_buckets(ids, mask, self.buckets, self.ngrams, segments))
            df.index_add_(0, buckets, torch.ones(len(buckets), dtype=torch.float64))
        self.idf.copy_((torch.log((1.0 + len(input_ids)) / (1.0 + df)) + 1.0).to(self.idf.dtype))


def _padded(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    """Lists of ints -> ``(len(rows), longest)`` long tensor, zero-padded on the right."""
    out = torch.zeros(len(rows), max([1, *map(len, rows)]), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out
