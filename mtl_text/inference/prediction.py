"""Scoring text with a saved model: every head (or the ones asked for) from one encoder pass (as
Flair's multi-task prediction: encode once, route to every head). Each head turns its logits into
probabilities, predictions and its JSON output (:mod:`mtl_text.modeling.heads`).

:meth:`Predictor.predict` gives one JSON-able object per text, in input order (``mtl-text predict``
prints them)::

    {"text": "...", "predictions": {"sst2": {"label": "positive", "probabilities": {"negative": 0.03, "positive": 0.97}}}}

Each head reports in its own form: single-label classification the best label and every label's
probability, multi-label classification the labels at or above their thresholds and every label's
probability, regression the predicted value.

Sentence pairs (``text_pairs``) go to the model's pair tasks, single texts to its single-text
tasks; by default every task of the matching kind answers. A pair is encoded as in training (see
:mod:`mtl_text.data.tokenization`).

Truncation: a text is encoded once for all requested heads, so it is cut to the largest
``max_length`` among them (its first tokens are kept; a pair loses tokens from its longer text).
An empty or whitespace-only text is a valid input: it has no word tokens, pools to the zero
vector, and gets the heads' prior prediction; its output carries ``"empty_text": true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path

import torch
from transformers import AutoTokenizer

from ..arguments import CONFIDENCE_RANGE, check_backend
from ..data.collation import pad_batch
from ..data.tokenization import TokenIds
from ..errors import ConfigError, InputError, ModelLoadError, ModelOutputError, UnknownHeadError
from ..modeling.model import MultiTaskModel
from ..utils.iteration import chunked
from . import DEFAULT_MAX_BATCH_TOKENS

# selective prediction's minimum confidence: one for every single-label head, or task -> its own ("*": every other)
MinConfidence = float | Mapping[str, float]


def load_tokenizer(directory: str | os.PathLike):
    """The (fast) tokenizer saved in a model folder.

    Raises:
        ModelLoadError: its files are missing, unreadable or incomplete (no fast tokenizer, no
            padding token).
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    except Exception as e:  # transformers raises OSError, ValueError, ... for a bad folder
        raise ModelLoadError(f"{directory}: cannot load the tokenizer files ({type(e).__name__}: {e})") from None
    if not getattr(tokenizer, "is_fast", False) or tokenizer.pad_token is None or tokenizer.pad_token_id is None:
        raise ModelLoadError(f"{directory}: the tokenizer files are incomplete (no fast tokenizer or no padding token; is "
                             "tokenizer_config.json missing?)")
    return tokenizer


class HeadOutputs:
    """What every predictor gives from its logits, decoded by the heads of ``self.model``:
    probabilities, predictions and JSON-able results. A subclass defines ``model`` (whose heads
    decode) and :meth:`predict_logits`."""

    model: MultiTaskModel

    def predict_logits(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                       text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Task name -> ``(len(texts), num_outputs)`` float32 logits of ``texts`` (or of the pairs)."""
        raise NotImplementedError

    def check_tasks(self, tasks: Sequence[str] | None) -> list[str]:
        """``tasks`` as a list (every task when ``None``).

        Raises:
            UnknownHeadError: a task this predictor has no head for; the message lists its tasks.
        """
        return self.model.check_tasks(tasks)

    @property
    def tasks(self) -> list[str]:
        """The tasks this predictor scores."""
        return list(self.model.tasks)

    def input_tasks(self, tasks: Sequence[str] | None, pairs: bool) -> list[str]:
        """The tasks to score: ``tasks``, checked to take pairs (``pairs``) or single texts; by
        default every task of :attr:`tasks` that takes that kind of input.

        Raises:
            UnknownHeadError: a task this predictor has no head for.
            InputError: a task that takes the other kind of input, or no task takes this kind.
        """
        kind = "sentence pairs (text and text_pair)" if pairs else "single texts"
        if tasks is None:
            chosen = [t for t in self.tasks if bool(self.model.tasks[t]["text_pair"]) == pairs]
            if not chosen:
                raise InputError(f"none of this model's tasks {self.tasks} takes {kind}; "
                                 + ("give single texts" if pairs else "give pairs (JSON lines or CSV with 'text' and 'text_pair', or TSV)"))
            return chosen
        tasks = self.check_tasks(tasks)
        other = [t for t in tasks if bool(self.model.tasks[t]["text_pair"]) != pairs]
        if other:
            raise InputError(f"task(s) {other} do not take {kind}: " + ("they take single texts" if pairs else
                                                                        "they take sentence pairs (text and text_pair)"))
        return tasks

    def predict_proba(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                      text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Probabilities of ``texts`` for each classification task (each head's own: softmax for
        single-label, one sigmoid per label for multi-label).

        Returns:
            task name -> ``(len(texts), num_outputs)`` probabilities.

        Raises:
            UnknownHeadError: a task the model has no head for.
            TypeError: a regression task (it has values, not probabilities: :meth:`predict_labels`).
        """
        return {t: self.model.head(t).probabilities(z) for t, z in self.predict_logits(texts, tasks, text_pairs).items()}

    def predict_labels(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                       text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Each head's decoded predictions: label ids ``(len(texts),)`` for single-label, multi-hot
        ``(len(texts), num_labels)`` for multi-label, values ``(len(texts), k)`` for regression."""
        return {t: self.model.head(t).decode(z) for t, z in self.predict_logits(texts, tasks, text_pairs).items()}

    def predict(self, texts: Sequence[str], tasks: Sequence[str] | None = None, text_pairs: Sequence[str] | None = None,
                top_k: int | None = None, min_confidence: MinConfidence | None = None) -> list[dict]:
        """One JSON-able result per text (or pair): per task, the head's output (see the module's
        text); with ``top_k``, only the ``top_k`` most probable labels' probabilities, the most
        probable first (:meth:`keep_top_k`); with ``min_confidence`` (one for every single-label
        head, or per task: :meth:`check_min_confidence`), selective prediction: each single-label
        head's output says whether it abstains (:meth:`mark_abstentions`).

        Raises:
            ValueError: ``top_k`` < 1, or ``min_confidence`` not in ``(0, 1]``.
            ConfigError: ``min_confidence`` that no head scored could apply (:meth:`check_min_confidence`).
            UnknownHeadError, InputError, ModelOutputError: as :meth:`predict_logits`.
        """
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if min_confidence is not None:
            self.check_min_confidence(min_confidence, tasks)
        texts, text_pairs = _as_lists(texts, text_pairs)
        scores = {t: self.model.head(t).scores(z) for t, z in self.predict_logits(texts, tasks, text_pairs).items()}
        results = []
        for i, text in enumerate(texts):
            out: dict = {"text": text, **({"text_pair": text_pairs[i]} if text_pairs is not None else {}), "predictions": {}}
            if not text.strip():
                out["empty_text"] = True
            for t, p in scores.items():
                out["predictions"][t] = self.model.head(t).format_prediction(p[i])
            out = out if min_confidence is None else self.mark_abstentions(out, min_confidence)
            results.append(out if top_k is None else self.keep_top_k(out, top_k))
        return results

    def check_min_confidence(self, min_confidence: MinConfidence, tasks: Sequence[str] | None = None) -> None:
        """Check a minimum confidence for selective prediction, before any scoring: one number for
        every single-label head, or one per task, ``{"sst2": 0.97, "20newsgroups": 0.55}``, with
        ``"*"`` for every single-label head not named (each task's own minimum, such as
        ``mtl-text evaluate --target-accuracy`` finds).

        Raises:
            ValueError: a minimum that is not a number in ``(0, 1]``.
            ConfigError: a number (or ``"*"``) where none of ``tasks`` (default: every task) has a
                single-label head, whose outputs alone can abstain; a task named that is not among
                ``tasks`` or whose head is not single-label.
            UnknownHeadError: a task the model has no head for.
        """
        names = self.check_tasks(tasks)
        minimums = dict(min_confidence) if isinstance(min_confidence, Mapping) else {"*": min_confidence}
        for task, value in minimums.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) not in CONFIDENCE_RANGE:
                where = "" if task == "*" and not isinstance(min_confidence, Mapping) else f" of {task}"
                raise ValueError(f"min_confidence{where} must be {CONFIDENCE_RANGE}, got {value!r}")
            if task == "*":
                continue
            try:
                self.check_tasks([task])
            except UnknownHeadError as e:
                raise UnknownHeadError(f"a minimum confidence for {task}: {e}") from None
            if task not in names:
                raise ConfigError(f"a minimum confidence for {task}, which is not among the tasks scored, {names}")
            if not self.model.head(task).can_abstain:
                raise ConfigError(f"a minimum confidence for {task}: it applies to single-label classification heads, and {task}'s "
                                  f"is {self.model.head(task).problem_type} (multi-label heads have one decision per label, "
                                  "regression heads values)")
        if "*" in minimums and not any(self.model.head(t).can_abstain for t in names):
            raise ConfigError(f"a minimum confidence applies to single-label classification heads; the tasks {names} have none "
                              "(multi-label heads have one decision per label, regression heads values)")

    def mark_abstentions(self, result: dict, min_confidence: MinConfidence) -> dict:
        """One of :meth:`predict`'s results with each single-label head's output marked ``"abstain":
        true`` where its label's probability, as printed, is below its minimum confidence (one for
        every head, or per task as :meth:`check_min_confidence` takes them; a head with none stays as
        it is), else ``false`` (:meth:`~mtl_text.modeling.heads.Head.abstain`; other heads' outputs
        unchanged): set those texts aside for a person. ``mtl-text evaluate --risk-coverage`` shows
        what a minimum keeps and their accuracy. The server applies it to each request after scoring
        requests together."""
        minimums = min_confidence if isinstance(min_confidence, Mapping) else {"*": min_confidence}
        marked = {}
        for task, out in result["predictions"].items():
            minimum = minimums.get(task, minimums.get("*"))
            marked[task] = out if minimum is None else self.model.head(task).abstain(out, minimum)
        return {**result, "predictions": marked}

    def keep_top_k(self, result: dict, top_k: int) -> dict:
        """One of :meth:`predict`'s results with each head's output cut to its ``top_k`` most probable
        labels' probabilities (:meth:`~mtl_text.modeling.heads.Head.top_k`); the server applies it
        to each request after scoring requests together.

        Raises:
            ValueError: ``top_k`` < 1.
        """
        return {**result, "predictions": {t: self.model.head(t).top_k(out, top_k) for t, out in result["predictions"].items()}}

    def predict_iter(self, texts: Iterable[str], tasks: Sequence[str] | None = None, text_pairs: Iterable[str] | None = None,
                     chunk_size: int = 4096, top_k: int | None = None, min_confidence: MinConfidence | None = None) -> Iterator[dict]:
        """:meth:`predict`'s results one at a time, in input order, scoring ``chunk_size`` texts (or
        pairs) at a time: a large input's results then need not all be held at once (the first come
        after one chunk). Each is the result :meth:`predict` gives (``top_k`` and ``min_confidence`` as there). ``texts`` and ``text_pairs`` that
        are iterators (a generator, ``map`` over a file's lines) are read lazily, one chunk at a
        time, so an input larger than memory can be scored; other collections are taken whole.

        Raises:
            ValueError: ``chunk_size`` < 1, or ``top_k`` or ``min_confidence`` out of range (at the first chunk).
            ConfigError: as :meth:`predict` (at the first chunk).
            InputError: ``text_pairs`` of another length than ``texts``: for collections before any
                scoring; for iterators at the chunk where one of them runs out (the results before it
                were given).
            UnknownHeadError, InputError, ModelOutputError: as :meth:`predict_logits`, when the chunk
                holding the cause is scored (the kind of input and the tasks: at the first).
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if not isinstance(texts, Iterator) and not isinstance(text_pairs, Iterator):
            texts, text_pairs = _as_lists(texts, text_pairs)
            _check_pair_count(texts, text_pairs)
        pairs = None if text_pairs is None else iter(text_pairs)
        done = 0
        for chunk in chunked(texts, chunk_size):
            chunk_pairs = None if pairs is None else list(islice(pairs, len(chunk)))
            if chunk_pairs is not None and len(chunk_pairs) < len(chunk):
                raise InputError(f"text_pairs ran out after {done + len(chunk_pairs)} second texts, before the texts")
            yield from self.predict(chunk, tasks, chunk_pairs, top_k, min_confidence)
            done += len(chunk)
        if pairs is not None and next(pairs, None) is not None:
            raise InputError(f"{done} texts but more second texts (text_pairs)")


class Predictor(HeadOutputs):
    """A saved model and its tokenizer, ready to score text.

    Args:
        model: the multi-task model.
        tokenizer: its tokenizer.
        batch_size: at most this many texts per encoder pass (>= 1).
        max_batch_tokens: at most this many tokens, padding included, per encoder pass (``None``: no
            limit). The texts of a call are sorted by length and cut into passes under both limits,
            so that short texts are not padded to the length of long ones (the idea of fairseq's
            ``--max-tokens``); outputs come back in input order, the same as unsorted ones.
        device: where the model runs and batches go: ``"cpu"`` (default), ``"cuda"``, ``"cuda:1"``,
            a :class:`torch.device`.
        runner: computes the logits in place of ``model.predict_logits`` (same arguments and
            result), e.g. :class:`mtl_text.inference.onnx.OnnxRunner`; the model's heads still decode.

    Attributes:
        directory: the local folder :meth:`from_pretrained` loaded (for a Hub id, its download);
            ``None`` for a predictor built from a model in memory.

    Raises:
        ConfigError: ``batch_size < 1``, ``max_batch_tokens < 1``, or a CUDA device where none is available.
    """

    def __init__(self, model: MultiTaskModel, tokenizer, batch_size: int = 64, device: str | torch.device = "cpu",
                 max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS, runner=None):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"--batch-size must be an integer >= 1, got {batch_size!r}")
        if max_batch_tokens is not None and (not isinstance(max_batch_tokens, int) or max_batch_tokens < 1):
            raise ConfigError(f"--max-batch-tokens must be an integer >= 1, got {max_batch_tokens!r}")
        self.max_batch_tokens = max_batch_tokens
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: CUDA is not available on this machine")
        self.model = model.eval().to(self.device)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.runner = runner
        self.encoder_passes = 0  # encoder passes run so far (the server reports it: dynamic batching shows in it)
        self.directory: Path | None = None
        self._token_ids: dict[int, TokenIds] = {}  # max_length -> its tokenization

    def encode(self, texts: Sequence[str], max_length: int,
               text_pairs: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Token ids, attention mask and (for pairs) segment ids, each ``(len(texts), longest)``,
        padded to the longest text and cut to ``max_length`` tokens (the first ones kept; a pair
        loses tokens from its longer text): what ``tokenizer(texts, text_pairs, truncation=True,
        max_length=max_length, padding=True)`` gives, as :meth:`tokenize` then :meth:`pad`. Segment
        ids are ``None`` without ``text_pairs``."""
        return self.pad(*self.tokenize(texts, max_length, text_pairs))

    def tokenize(self, texts: Sequence[str], max_length: int,
                 text_pairs: Sequence[str] | None = None) -> tuple[list[list[int]], list[list[int]] | None]:
        """Each text's token ids (and, for pairs, segment ids), cut to ``max_length`` tokens, not
        padded: the ids of ``tokenizer(texts, text_pairs, truncation=True, max_length=max_length)``,
        by :class:`mtl_text.data.tokenization.TokenIds` (set up once per ``max_length``; its ASCII fast
        paths halve the prediction time of a word-vector model on short texts). Segment ids are
        ``None`` without ``text_pairs``."""
        token_ids = self._token_ids.get(max_length)
        if token_ids is None:
            token_ids = self._token_ids[max_length] = TokenIds(self.tokenizer, max_length)
        return token_ids(texts, text_pairs)

    def pad(self, input_ids: Sequence[Sequence[int]],
            token_type_ids: Sequence[Sequence[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Token ids of one batch (and, for pairs, segment ids) -> ids, attention mask, segment ids
        (``None`` without pairs), each ``(batch, longest)`` int64, padded on the tokenizer's padding
        side with its padding token (segment ids with 0), in bulk (:func:`mtl_text.data.collation.pad_batch`)."""
        return pad_batch(input_ids, self.tokenizer.pad_token_id, self.tokenizer.padding_side, token_type_ids)

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of the texts of each encoder pass: sorted by ``lengths`` (tokens), then cut so that
        a pass holds at most ``batch_size`` texts and ``max_batch_tokens`` tokens, padding included
        (a text longer than the token limit alone goes in a pass of its own). Texts that fit in one
        pass under both limits make one pass in input order: sorting would change nothing."""
        costs = [max(n, 1) for n in lengths]
        if len(costs) <= self.batch_size and (self.max_batch_tokens is None or len(costs) * max(costs, default=1) <= self.max_batch_tokens):
            return [list(range(len(costs)))] if costs else []
        order = sorted(range(len(costs)), key=costs.__getitem__)
        batches, current = [], []
        for i in order:  # ascending: the text being added is the longest of its pass
            fits = self.max_batch_tokens is None or (len(current) + 1) * costs[i] <= self.max_batch_tokens
            if current and (len(current) == self.batch_size or not fits):
                batches.append(current)
                current = []
            current.append(i)
        return batches + ([current] if current else [])

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, batch_size: int = 64, device: str | torch.device = "cpu",
                        verify_hashes: bool = True, max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
                        backend: str = "torch", revision: str | None = None, token: str | None = None) -> Predictor:
        """Load a model folder written by training, or a Hugging Face Hub id (``owner/name``, or
        ``owner/name@revision`` for a branch, tag or commit) when no such path exists here
        (``verify_hashes``, ``revision``, ``token``: see :meth:`MultiTaskModel.from_pretrained`).
        ``backend="onnx"`` runs the graphs of a folder written by ``mtl-text export-onnx`` with ONNX
        Runtime (on the CPU) instead of PyTorch (:mod:`mtl_text.inference.onnx`).

        Raises:
            ModelLoadError: the folder is not a saved model (see :meth:`MultiTaskModel.from_pretrained`)
                or its tokenizer files are missing, unreadable or incomplete.
            ConfigError: as in the constructor; an unknown ``backend``; ``onnx`` with a GPU device; a
                ``revision`` that does not fit (see :meth:`MultiTaskModel.from_pretrained`).
        """
        from ..modeling.hub import resolve_model

        check_backend(backend)
        if backend == "onnx" and torch.device(device).type != "cpu":
            raise ConfigError("--backend onnx runs on the CPU (ONNX Runtime's CPU provider); drop --device")
        also = ()
        if backend == "onnx":
            from .onnx import EXPORT_FILES, OnnxRunner

            also = EXPORT_FILES
        directory = resolve_model(directory, revision, token, also)  # a Hub id is downloaded once, for the model and its tokenizer
        runner = OnnxRunner(directory) if backend == "onnx" else None
        predictor = cls(MultiTaskModel.from_pretrained(directory, verify_hashes), load_tokenizer(directory), batch_size, device,
                        max_batch_tokens, runner)
        predictor.directory = directory
        return predictor

    @torch.inference_mode()
    def predict_logits(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                       text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Logits of ``texts`` (or of the pairs ``(texts[i], text_pairs[i])``) for each task, one
        encoder pass per batch for all of them.

        Empty and whitespace-only single texts all encode alike, so they take one encoder pass
        together, however many there are.

        Args:
            texts: the texts (the first of each pair).
            tasks: the tasks to score (see :meth:`input_tasks`).
            text_pairs: the second text of each pair, for pair tasks.

        Returns:
            task name -> ``(len(texts), num_outputs)`` float32 logits, on the CPU.

        Raises:
            UnknownHeadError: a task the model has no head for.
            InputError: pairs for a single-text task or the reverse, or ``text_pairs`` of another
                length than ``texts``.
            ModelOutputError: a head gave NaN or infinite logits (damaged weights).
        """
        tasks = self.input_tasks(tasks, pairs=text_pairs is not None)
        texts, text_pairs = _as_lists(texts, text_pairs)
        if text_pairs is not None:
            _check_pair_count(texts, text_pairs)
            parts = [(list(range(len(texts))), self._logits(texts, tasks, text_pairs))]
        else:
            blank = [i for i, text in enumerate(texts) if not text.strip()]
            filled = [i for i, text in enumerate(texts) if text.strip()]
            parts = [(filled, self._logits([texts[i] for i in filled], tasks))]
            if blank:
                once = self._logits([""], tasks)
                parts.append((blank, {t: z.expand(len(blank), -1) for t, z in once.items()}))
        out = {t: torch.empty(len(texts), self.model.heads[t].num_outputs) for t in tasks}
        for rows, logits in parts:
            for t in tasks:
                out[t][rows] = logits[t]
        for t, z in out.items():
            bad = (~torch.isfinite(z)).any(-1).nonzero()
            if len(bad):
                raise ModelOutputError(f"the head of {t} gave NaN or infinite outputs (first for text {int(bad[0]) + 1}): "
                                       "the model's weights are damaged")
        return out

    def _logits(self, texts: list[str], tasks: list[str], text_pairs: list[str] | None = None) -> dict[str, torch.Tensor]:
        """Every text tokenized at once, then encoder passes over length-sorted batches (:meth:`batches`);
        rows back in input order."""
        max_length = max(self.model.tasks[t]["max_length"] for t in tasks)
        input_ids, token_type_ids = self.tokenize(texts, max_length, text_pairs)
        out = {t: torch.empty(len(texts), self.model.heads[t].num_outputs) for t in tasks}
        for rows in self.batches(list(map(len, input_ids))):
            ids, attention_mask, types = self.pad([input_ids[i] for i in rows],
                                                  None if token_type_ids is None else [token_type_ids[i] for i in rows])
            logits = (self.runner or self.model.predict_logits)(ids.to(self.device), attention_mask.to(self.device), tasks,
                                                                None if types is None else types.to(self.device))
            self.encoder_passes += 1
            for t in tasks:
                out[t][rows] = logits[t].float().cpu()
        return out


def _as_lists(texts: Sequence[str], text_pairs: Sequence[str] | None) -> tuple[list[str], list[str] | None]:
    """``texts`` and ``text_pairs`` (``None`` stays ``None``) as lists (:func:`_as_list`)."""
    return _as_list(texts), None if text_pairs is None else _as_list(text_pairs)


def _check_pair_count(texts: list[str], text_pairs: list[str] | None) -> None:
    """Raises:
        InputError: ``text_pairs`` of another length than ``texts``.
    """
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise InputError(f"{len(texts)} texts but {len(text_pairs)} second texts (text_pairs)")


def _as_list(items: Sequence[str]) -> list[str]:
    """``items`` as a list, read in one slice where it has one: a ``datasets`` column
    (``dataset["text"]``) reads its rows one at a time when iterated (20,000 short texts: 0.42 s, against
    0.003 s sliced)."""
    if isinstance(items, list):
        return items
    try:
        items = items[:]
    except TypeError:  # not sliceable
        pass
    return list(items)
