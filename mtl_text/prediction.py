"""Scoring text with a saved model: every head (or the ones asked for) from one encoder pass.

``scripts/predict.py`` calls :func:`main`. Output: one JSON object per input text, in input order::

    {"text": "...", "predictions": {"sst2": {"label": "positive", "probabilities": {"negative": 0.03, "positive": 0.97}}}}

Truncation: a text is encoded once for all requested heads, so it is cut to the largest
``max_length`` among them (its first tokens are kept). An empty or whitespace-only text is a valid
input: it has no word tokens, pools to the zero vector, and gets the heads' prior prediction; its
output carries ``"empty_text": true``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from .allocator import tune_malloc
from .modeling import ModelLoadError, MultiTaskModel

logger = logging.getLogger("mtl_text.predict")


class InputError(ValueError):
    """Prediction input that cannot be read. The message names the source and line."""


class Predictor:
    """A saved model and its tokenizer, ready to score text.

    Args:
        model: the multi-task model.
        tokenizer: its tokenizer.
        batch_size: texts per encoder pass.
    """

    def __init__(self, model: MultiTaskModel, tokenizer, batch_size: int = 64):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self._backends: dict[int, Tokenizer] = {}

    def encode(self, texts: Sequence[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask, each ``(len(texts), longest)``, padded to the longest text and
        cut to ``max_length`` tokens (the first ones kept): what ``tokenizer(texts, truncation=True,
        max_length=max_length, padding=True)`` gives, computed by a copy of the fast tokenizer's
        backend set up once per ``max_length``, which skips transformers' per-call Python work (half
        the prediction time of a word-vector model on short texts)."""
        backend = self._backends.get(max_length)
        if backend is None:
            backend = Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str())
            backend.enable_truncation(max_length, direction=self.tokenizer.truncation_side)
            backend.enable_padding(pad_id=self.tokenizer.pad_token_id, pad_token=self.tokenizer.pad_token,
                                   direction=self.tokenizer.padding_side)
            self._backends[max_length] = backend
        encodings = backend.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(encodings), -1)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(encodings), -1)
        return torch.from_numpy(ids), torch.from_numpy(mask)

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, batch_size: int = 64) -> Predictor:
        """Load a model folder written by training.

        Raises:
            ModelLoadError: the folder is not a saved model (see :meth:`MultiTaskModel.from_pretrained`)
                or its tokenizer files are missing or unreadable.
        """
        model = MultiTaskModel.from_pretrained(directory)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(directory))
        except Exception as e:  # transformers raises OSError, ValueError, ... for a bad folder
            raise ModelLoadError(f"{directory}: cannot load the tokenizer files ({type(e).__name__}: {e})") from None
        return cls(model, tokenizer, batch_size)

    @property
    def tasks(self) -> list[str]:
        return list(self.model.tasks)

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], tasks: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Class probabilities of ``texts`` for each task.

        Returns:
            task name -> ``(len(texts), num_labels)`` probabilities.

        Raises:
            KeyError: a task the model has no head for.
        """
        tasks = self.model.check_tasks(tasks)
        max_length = max(self.model.tasks[t]["max_length"] for t in tasks)
        chunks: dict[str, list[torch.Tensor]] = {t: [] for t in tasks}
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            input_ids, attention_mask = self.encode(batch, max_length)
            logits = self.model.predict_logits(input_ids, attention_mask, tasks)
            for t in tasks:
                chunks[t].append(torch.softmax(logits[t].float(), dim=-1))
        return {t: torch.cat(c) if c else torch.empty(0, len(self.model.tasks[t]["labels"])) for t, c in chunks.items()}

    def predict(self, texts: Sequence[str], tasks: Sequence[str] | None = None) -> list[dict]:
        """One result per text: the predicted label and every label's probability, per task."""
        probs = self.predict_proba(texts, tasks)
        results = []
        for i, text in enumerate(texts):
            out: dict = {"text": text, "predictions": {}}
            if not text.strip():
                out["empty_text"] = True
            for t, p in probs.items():
                labels = self.model.tasks[t]["labels"]
                row = p[i].tolist()
                out["predictions"][t] = {"label": labels[max(range(len(row)), key=row.__getitem__)],
                                         "probabilities": {label: round(v, 6) for label, v in zip(labels, row)}}
            results.append(out)
        return results


def read_texts(lines: Iterable[bytes], source: str) -> Iterator[str]:
    """Texts from raw input lines: plain text (one text a line) or JSON Lines with a ``text`` field.

    A line starting with ``{`` is read as JSON. Blank lines are texts too (empty ones) in plain text
    input, so output lines match input lines.

    Raises:
        InputError: a line that is not UTF-8, invalid JSON, or JSON without a string ``text``;
            the message names ``source`` and the line.
    """
    for line_no, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{source}, line {line_no}: not valid UTF-8 (byte {raw[e.start:e.start + 1]!r} at column {e.start + 1})") from None
        line = line.rstrip("\r\n")
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{source}, line {line_no}: looks like JSON but is not valid ({e.msg}, column {e.colno})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise InputError(f"{source}, line {line_no}: a JSON line needs a string field 'text'")
            yield obj["text"]
        else:
            yield line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="predict.py",
        description="Score text with a saved mtl-text model: one JSON object per text on standard output, "
        "with each task's predicted label and the probability of every label.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("texts", nargs="*", help="texts to score; with none and no --input, texts are read from standard input")
    p.add_argument("--model", required=True, help="the model folder written by train.py")
    p.add_argument("--input", default=None, metavar="FILE",
                   help="file of texts: one per line, or JSON Lines with a 'text' field ('-' for standard input)")
    p.add_argument("--tasks", nargs="+", default=None,
                   help="heads to use (default: all of the model's tasks); put texts before this option, or after '--'")
    p.add_argument("--batch-size", type=int, default=64, help="texts per encoder pass")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    tune_malloc()
    try:
        predictor = Predictor.from_pretrained(args.model, batch_size=args.batch_size)
        predictor.model.check_tasks(args.tasks)  # before reading any input
        texts: list[str] = list(args.texts)
        if args.input:
            if args.input == "-":
                texts += list(read_texts(sys.stdin.buffer, "<stdin>"))
            else:
                path = Path(args.input)
                if not path.is_file():
                    raise InputError(f"--input: {path} not found")
                with open(path, "rb") as f:
                    texts += list(read_texts(f, str(path)))
        elif not args.texts:
            texts = list(read_texts(sys.stdin.buffer, "<stdin>"))
        for result in predictor.predict(texts, args.tasks):
            print(json.dumps(result, ensure_ascii=False))
    except (ModelLoadError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    return 0
