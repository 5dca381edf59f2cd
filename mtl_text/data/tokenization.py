"""Text -> tokens: the word-level tokenizer of the word-vector encoder, and batched tokenization of a
task's splits (shared by both encoder families).

The word-level tokenizer is a Hugging Face ``tokenizers`` pipeline wrapped in
:class:`transformers.PreTrainedTokenizerFast`, so it saves, loads and pads like a transformer's.

* normalisation: Unicode NFKC, then lower-casing (unless ``lowercase=False``);
* pre-tokenisation: BERT's rule, split on whitespace and around every punctuation character
  (``"don't!"`` -> ``don ' t !``);
* vocabulary: every word seen at least ``min_frequency`` times in the training texts given, plus
  ``[PAD]`` (id 0) and ``[UNK]`` (id 1);
* out-of-vocabulary words (rarer words, and words never seen in training) map to ``[UNK]``, which
  has its own trained embedding;
* truncation: a text longer than the task's ``max_length`` keeps its first ``max_length`` tokens.

Sentence pairs go through the tokenizer as pairs, ``tokenizer(text, text_pair)``: a transformer's
tokenizer joins them its own way (``[CLS] a [SEP] b [SEP]`` for BERT) and the word-level tokenizer
concatenates them; either way ``token_type_ids`` mark each token's text (0 first, 1 second). A pair
longer than ``max_length`` loses tokens from the end of its longer text, one at a time
(``truncation="longest_first"``), so the shorter text is cut only when the longer is as short.

For training and prediction alike (:class:`TokenIds`), two fast paths give pure-ASCII texts the pipeline's ids at less cost:
:func:`ascii_fast_path` (the pipeline without its Unicode normalization) and, for single texts of a
word-level tokenizer, :func:`ascii_word_level` (the ids computed in Python, without ``tokenizers``'
per-text ``Encoding`` objects).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

if TYPE_CHECKING:  # imported where used: prediction does not load datasets
    import datasets

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


def word_pipeline(lowercase: bool = True) -> tuple[normalizers.Normalizer, pre_tokenizers.PreTokenizer]:
    """The normaliser (NFKC, lower-casing) and pre-tokeniser (BERT's whitespace and punctuation rule)
    of the word-level tokenizer, for code that needs the same words without a vocabulary."""
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    return normalizers.Sequence(steps), pre_tokenizers.BertPreTokenizer()


def split_words(texts: Iterable[str], lowercase: bool = True) -> list[list[str]]:
    """Each text as the words the word-level tokenizer sees (``"Don't!"`` -> ``["don", "'", "t", "!"]``)."""
    normalizer, pre_tokenizer = word_pipeline(lowercase)
    return [[w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(t))] for t in texts]


def train_word_tokenizer(
    texts: Iterable[str],
    min_frequency: int = 1,
    max_vocab_size: int | None = None,
    lowercase: bool = True,
) -> PreTrainedTokenizerFast:
    """Build the word-level tokenizer's vocabulary from ``texts`` (training text only).

    Args:
        texts: the training texts of every selected task.
        min_frequency: a word seen fewer times than this maps to ``[UNK]``.
        max_vocab_size: keep at most this many words (the most frequent); ``None`` keeps all.
        lowercase: lower-case before splitting (GloVe 6B vectors are lower-case).

    Returns:
        a fast tokenizer with ``[PAD]`` = 0 and ``[UNK]`` = 1, right-side truncation and padding.
    """
    tok = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tok.normalizer, tok.pre_tokenizer = word_pipeline(lowercase)
    trainer = trainers.WordLevelTrainer(
        vocab_size=(max_vocab_size + 2) if max_vocab_size else 2**31 - 1,
        min_frequency=min_frequency,
        special_tokens=[PAD_TOKEN, UNK_TOKEN],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=1_000_000,
        padding_side="right",
        truncation_side="right",
    )


# normalization steps that leave every ASCII text as it is: ASCII characters have no decomposition and
# compose with nothing (Unicode UAX #15), and carry no accents
_IDENTITY_ON_ASCII = frozenset({"NFC", "NFD", "NFKC", "NFKD", "StripAccents"})


def _without_ascii_identities(normalizer: dict | None) -> dict | None:
    """A normalizer's JSON description without its steps in ``_IDENTITY_ON_ASCII`` (``None``: no step left)."""
    if normalizer is None or normalizer["type"] in _IDENTITY_ON_ASCII:
        return None
    if normalizer["type"] == "Sequence":
        steps = [n for n in map(_without_ascii_identities, normalizer["normalizers"]) if n is not None]
        return {**normalizer, "normalizers": steps} if steps else None
    return normalizer


def ascii_fast_path(backend: Tokenizer) -> Tokenizer | None:
    """A copy of a ``tokenizers`` pipeline for texts that are pure ASCII (``str.isascii()``), or
    ``None`` when there is nothing to gain: the same pipeline (truncation and padding settings
    included) without the normalization steps that leave ASCII text unchanged (Unicode NFC, NFD,
    NFKC, NFKD, accent stripping). On ASCII texts it gives exactly the ids of ``backend``; NFKC takes
    about a quarter of the word-level tokenizer's time on short sentences. A transformer's
    ``BertNormalizer`` is one step and is kept whole."""
    pipeline = json.loads(backend.to_str())
    kept = _without_ascii_identities(pipeline.get("normalizer"))
    if kept == pipeline.get("normalizer"):
        return None
    return Tokenizer.from_str(json.dumps({**pipeline, "normalizer": kept}))


# BERT's pre-tokenization rule on ASCII text (tokenizers' BertPreTokenizer): whitespace (Rust's
# char::is_whitespace: tab, line feed, vertical tab, form feed, carriage return, space) separates words and
# is dropped; each ASCII punctuation character (char::is_ascii_punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)
# is a word of its own; every other character (letters, digits, control characters) belongs to a word
_ASCII_WORDS = re.compile(r"[^\t\n\x0b\x0c\r !-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]")
_NO_SPECIAL_TOKENS = {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}]}


class AsciiWordLevel:
    """The word-level tokenizer's ids for pure-ASCII single texts, computed in Python: one regular
    expression (BERT's pre-tokenization rule on ASCII) and one dictionary lookup per word, without the
    ``Encoding`` object that ``tokenizers``' ``encode_batch_fast`` builds per text. The predictor's
    tokenization of SST-2's test sentences went from 5.89 to 2.68 ms per batch of 256
    (``benchmarks/prediction_stages.py``, docs/benchmark.md). Made by :func:`ascii_word_level`, which
    checks that the pipeline is one it reproduces exactly.

    Args:
        vocab: word -> id.
        unk_id: the id of a word not in ``vocab``.
        lowercase: lower-case the text first.
        max_length: keep each text's first ``max_length`` ids (``None``: all).
        added_tokens: the pipeline's added tokens (``[PAD]``, ``[UNK]``), which it matches in the raw
            text before anything else: a text holding one is left to the pipeline.
    """

    def __init__(self, vocab: dict[str, int], unk_id: int, lowercase: bool, max_length: int | None,
                 added_tokens: Sequence[str] = ()):
        self.vocab, self.unk_id, self.lowercase, self.max_length = vocab, unk_id, lowercase, max_length
        self.added_tokens = tuple(added_tokens)

    def handles(self, text: str) -> bool:
        """Whether :meth:`__call__` gives ``text`` the pipeline's ids: a pure-ASCII text without an added token."""
        return text.isascii() and not any(token in text for token in self.added_tokens)

    def tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """``(texts,)`` strings that :meth:`handles` -> each text's tokens: its words, the unknown
        token for a word not in the vocabulary (what the pipeline's ``Encoding.tokens`` holds)."""
        vocab, find, end = self.vocab, _ASCII_WORDS.findall, self.max_length
        unk = next(word for word, i in vocab.items() if i == self.unk_id)
        return [[w if w in vocab else unk for w in find(t.lower() if self.lowercase else t)][:end] for t in texts]

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        """``(texts,)`` strings that :meth:`handles` -> each text's token ids."""
        get, unk, find, end = self.vocab.get, self.unk_id, _ASCII_WORDS.findall, self.max_length
        if self.lowercase:
            return [[get(w, unk) for w in find(t.lower())][:end] for t in texts]
        return [[get(w, unk) for w in find(t)][:end] for t in texts]


def ascii_word_level(backend: Tokenizer) -> AsciiWordLevel | None:
    """:class:`AsciiWordLevel` for a ``tokenizers`` pipeline it reproduces exactly on ASCII texts, else
    ``None``: a WordLevel model with its unknown token in the vocabulary, BERT's pre-tokenizer, a
    normalizer that on ASCII is lower-casing or nothing (Unicode normal forms and accent stripping
    leave ASCII unchanged), no special tokens, right-side truncation or none, no padding. The
    word-level tokenizer of :func:`train_word_tokenizer` is such a pipeline; a transformer's is not."""
    pipeline = json.loads(backend.to_str())
    model, normalizer = pipeline.get("model") or {}, _without_ascii_identities(pipeline.get("normalizer"))
    if normalizer is not None and normalizer.get("type") == "Sequence" and len(normalizer["normalizers"]) == 1:
        normalizer = normalizer["normalizers"][0]
    post, truncation = pipeline.get("post_processor"), pipeline.get("truncation")
    vocab, added = model.get("vocab") or {}, pipeline.get("added_tokens") or []
    if (model.get("type") != "WordLevel" or model.get("unk_token") not in vocab or normalizer not in (None, {"type": "Lowercase"})
            or pipeline.get("pre_tokenizer") != {"type": "BertPreTokenizer"} or pipeline.get("padding") is not None
            or any(token.get("normalized") for token in added)  # matched after normalization: not a plain substring test
            or (post is not None and not (post.get("special_tokens") == {} and all(post.get(k) == v for k, v in _NO_SPECIAL_TOKENS.items())))
            or (truncation is not None and truncation.get("direction") != "Right")):
        return None
    return AsciiWordLevel(vocab, vocab[model["unk_token"]], normalizer is not None,
                          truncation["max_length"] if truncation is not None else None, [token["content"] for token in added])


class TokenIds:
    """Each text's token ids (and, for pairs, segment ids), cut to ``max_length`` tokens, not padded:
    the ids of ``tokenizer(texts, text_pairs, truncation=True, max_length=max_length)``, computed by a
    copy of the fast tokenizer's backend set up once, which skips transformers' per-call Python work.
    Pure-ASCII texts go through a fast path where there is one: for single texts of a word-level
    tokenizer, ids computed in Python (:func:`ascii_word_level`), else the backend without its
    Unicode normalization (:func:`ascii_fast_path`); both give the same ids. Used by the predictor
    and by :func:`tokenize_splits`.

    Args:
        tokenizer: a fast tokenizer (:class:`transformers.PreTrainedTokenizerFast`).
        max_length: tokens kept per text (or pair), special tokens included.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, max_length: int):
        backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.enable_truncation(max_length, direction=tokenizer.truncation_side)
        backend.no_padding()
        self.full, self.fast, self.words = backend, ascii_fast_path(backend), ascii_word_level(backend)

    def __call__(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> tuple[list[list[int]], list[list[int]] | None]:
        """``(texts,)`` strings (and ``(texts,)`` second texts) -> each input's ids, and segment ids
        (``None`` without ``text_pairs``)."""
        inputs = list(texts) if text_pairs is None else list(zip(texts, text_pairs))
        if text_pairs is None and self.words is not None:
            return routed(inputs, [self.words.handles(t) for t in inputs], self.words,
                          lambda rest: [e.ids for e in encode_batch(self.full, rest)]), None
        if self.fast is None:
            encodings = encode_batch(self.full, inputs)
        else:
            plain = [t.isascii() for t in inputs] if text_pairs is None else [a.isascii() and b.isascii() for a, b in inputs]
            encodings = routed(inputs, plain, lambda ascii: encode_batch(self.fast, ascii), lambda rest: encode_batch(self.full, rest))
        return [e.ids for e in encodings], None if text_pairs is None else [e.type_ids for e in encodings]


def routed(inputs: list, fast: Sequence[bool], fast_path, full_path) -> list:
    """Each input's result, in input order: ``fast_path`` of the inputs marked ``fast``, ``full_path`` of
    the others (each called once, on a list, and only if it has inputs)."""
    out = [None] * len(inputs)
    for path, kind in ((fast_path, True), (full_path, False)):
        rows = [i for i, f in enumerate(fast) if f is kind]
        if rows:
            for i, result in zip(rows, path([inputs[i] for i in rows])):
                out[i] = result
    return out


def encode_batch(backend: Tokenizer, inputs: list) -> list:
    """``backend``'s encodings of ``inputs`` (texts, or pairs as tuples); ``encode_batch_fast`` where
    tokenizers has it (>= 0.20: no character offsets, about 10% faster)."""
    return getattr(backend, "encode_batch_fast", backend.encode_batch)(inputs)


def word_sequences(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> list[list[str]]:
    """Split ``texts`` into the tokenizer's word strings (no truncation), e.g. to train Word2Vec; for a
    word-level tokenizer, pure-ASCII texts through :meth:`AsciiWordLevel.tokens` (the same tokens, a
    third of the time on 20 Newsgroups + SST-2)."""
    backend, texts = tokenizer.backend_tokenizer, list(texts)

    def pipeline(rest: list[str]) -> list[list[str]]:
        return [enc.tokens for enc in backend.encode_batch(rest, add_special_tokens=False)]

    words = ascii_word_level(backend)
    return pipeline(texts) if words is None else routed(texts, [words.handles(t) for t in texts], words.tokens, pipeline)


def tokenize_splits(
    splits: datasets.DatasetDict,
    tokenizer,
    max_length: int,
    batch_size: int = 1000,
    cache_dir: str | os.PathLike | None = None,
) -> datasets.DatasetDict:
    """Tokenize every split of one task with ``datasets.map`` (batched), the ids of
    ``tokenizer(text, text_pair, truncation=True, max_length=max_length)`` computed by :class:`TokenIds`.

    Args:
        splits: columns ``text`` and ``label``, and ``text_pair`` for a sentence-pair task.
        tokenizer: any fast tokenizer (word-level or a transformer's).
        max_length: the task's maximum length in tokens, special tokens included; longer texts keep
            their first tokens.
        batch_size: texts per call of the tokenizer.
        cache_dir: where to keep the tokenized splits as Arrow files, named by a hash of the texts,
            labels, tokenizer and ``max_length``: a later run with the same inputs reads them instead
            of tokenizing again. ``None``: no cache, tokenize in memory.

    Returns:
        splits with columns ``input_ids``, ``attention_mask`` and ``labels`` (the text is dropped),
        and ``token_type_ids`` for pairs; padding is left to the collator, per batch.
    """
    columns = next(iter(splits.values())).column_names
    pairs = "text_pair" in columns
    token_ids = TokenIds(tokenizer, max_length)

    def encode(batch):
        ids, type_ids = token_ids(batch["text"], batch["text_pair"] if pairs else None)
        encoded = {"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids], "labels": batch["label"]}
        return {**encoded, "token_type_ids": type_ids} if pairs else encoded

    cache_files = None
    if cache_dir is not None:
        from datasets.fingerprint import Hasher

        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        pipeline = json.loads(tokenizer.backend_tokenizer.to_str())
        pipeline.pop("truncation", None), pipeline.pop("padding", None)  # set by each call, not part of the tokenizer
        key = Hasher.hash([pipeline, max_length])
        cache_files = {name: str(Path(cache_dir) / f"tokenized-{Hasher.hash([key, *(split[c][:] for c in columns)])}.arrow")
                       for name, split in splits.items()}
    return splits.map(encode, batched=True, batch_size=batch_size, remove_columns=columns, desc="Tokenizing",
                      cache_file_names=cache_files, keep_in_memory=cache_dir is None)
