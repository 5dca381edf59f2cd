"""The multi-task model: one shared encoder, then per task a pooling and a head.

Data flow: token ids -> encoder -> token vectors ``(batch, seq_len, hidden)`` -> the task's pooling
-> pooled vector -> the task's head -> logits. Each task pools the shared token vectors its own way:
with ``attention`` pooling every task learns which words matter to it (topic words for one,
sentiment words for another: task-specific attention, as in Liu et al. 2017 "Adversarial multi-task
learning for text classification" and Stickland & Murray 2019); the parameter-free poolings are the
same for every task.

With ``wide_buckets``, each task also has a wide part (:class:`~mtl_text.modeling.wide.WideNgrams`):
a linear model over the token ids' hashed TF-IDF n-grams whose logits add to the head's (Wide &
Deep, Cheng et al. 2016).

Sentence-pair tasks: an encoder that reads the pair jointly (a transformer: one sequence, attention
across both texts) is pooled like a single text; over word vectors, each text is pooled alone (its
tokens picked by ``token_type_ids``) and the head reads ``[u, v, |u - v|, u * v]``, the features
of InferSent (Conneau et al. 2017, "Supervised learning of universal sentence representations from
natural language inference data") and Sentence-BERT (Reimers & Gurevych 2019).

Saved and restored as a model folder in the Hugging Face style:

* ``config.json``: the encoder's architecture, the tasks (label names, maximum length, problem type
  of the head), the heads' size and dropout, the size and SHA-256 of every other file of the model
  (``files``), and whatever the caller adds (the training configuration);
* ``model.safetensors``: every weight, encoder and heads;
* the tokenizer's files (``tokenizer.json``, ``tokenizer_config.json``, ...).

Loading reads JSON and safetensors only: no pickle anywhere on the load path. It checks
``config.json`` against its schema (types and ranges, errors naming the field), every listed file's
size and hash (``verify_hashes=False`` checks sizes only, for very large models), and that every
weight is finite.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file, save_model
from torch import nn

from .. import __version__
from ..errors import ModelLoadError, UnknownHeadError
from ..utils.files import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    file_record,
    load_safetensors,
    load_safetensors_into,
    member_path,
    staging_dir,
    verify_files,
)
from .encoders import ENCODER_TYPES, build_encoder
from .heads import HEAD_TYPES, SingleLabelClassificationHead, head_type
from .pooling import POOLING_MODES, Pooling
from .weighting import UncertaintyWeighting
from .wide import WideNgrams

logger = logging.getLogger(__name__)


@dataclass
class TaskOutput:
    """What :meth:`MultiTaskModel.forward` returns when given ``labels`` or ``return_pooled``.

    Attributes:
        logits: ``(batch, num_outputs)``.
        loss: the head's loss on the labelled rows (weighted by the model's uncertainty weighting,
            if any); ``None`` without labels.
        pooled: the vectors the head read, ``(batch, pooled_dim)``.
        head_loss: the head's own loss before any weighting (for logs).
    """

    logits: torch.Tensor
    loss: torch.Tensor | None
    pooled: torch.Tensor
    head_loss: torch.Tensor | None = None


class MultiTaskModel(nn.Module):
    """One shared encoder; per task a :class:`~mtl_text.modeling.pooling.Pooling` and a head of the
    task's problem type (:mod:`mtl_text.modeling.heads`).

    Args:
        encoder: an encoder from :mod:`mtl_text.modeling.encoders`.
        tasks: task name -> ``{"labels": [...], "max_length": int, "problem_type": str,
            "text_pair": bool, "head_options": {...}}`` (``problem_type`` defaults to
            ``single_label_classification``, ``text_pair`` to false; ``head_options``, e.g. class
            weights, thresholds or target scaling, go to the head's constructor).
        pooling: a mode of :class:`~mtl_text.modeling.pooling.Pooling` for every task, or task name -> mode.
        head_hidden_size: hidden width of every head (0: a linear head).
        head_dropout: dropout of every head.
        word_dropout: in training, the probability of leaving each token out of the pooling (whole
            tokens, as in the Deep Averaging Network, Iyyer et al. 2015); at least one token of a
            non-empty text is always kept. No effect in eval mode.
        task_balancing: ``"uncertainty"`` adds learned per-task log-variances that weigh the losses
            (:class:`~mtl_text.modeling.weighting.UncertaintyWeighting`); anything else adds nothing.
        wide_buckets: rows of each task's wide part (:class:`~mtl_text.modeling.wide.WideNgrams`, a
            linear model over the text's hashed TF-IDF n-grams whose output adds to the head's
            logits: Wide & Deep, Cheng et al. 2016); 0: no wide part. In training, the head's loss
            is then taken three times and summed: on the sum of both parts' logits, on the deep
            part's alone and on the wide part's alone (auxiliary losses, as in deeply-supervised
            nets, Lee et al. 2015), so that neither part stops learning once the other fits the
            training set (+0.006 over the sum alone on 20 Newsgroups, two seeds: docs/benchmark.md).
        wide_ngrams: the longest n-gram of the wide part, in tokens.
        wide_tasks: the tasks that get a wide part (``None``: every task; none, or ``wide_buckets``
            0: no wide part).

    Raises:
        ValueError: pooling modes for other tasks than ``tasks``, an unknown problem type,
            ``word_dropout`` outside ``[0, 1)``, a negative ``wide_buckets``, or ``wide_tasks``
            naming other tasks than ``tasks``.
    """

    def __init__(self, encoder: nn.Module, tasks: Mapping[str, Mapping], pooling: str | Mapping[str, str] = "attention", head_hidden_size: int = 256,
                 head_dropout: float = 0.1, word_dropout: float = 0.0, task_balancing: str | None = None, wide_buckets: int = 0,
                 wide_ngrams: int = 2, wide_tasks: Sequence[str] | None = None):
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        if wide_buckets < 0:
            raise ValueError(f"wide_buckets must be >= 0, got {wide_buckets}")
        self.word_dropout = word_dropout
        self.encoder = encoder
        self.tasks = {name: {"labels": list(info["labels"]), "max_length": int(info["max_length"]),
                             "problem_type": info.get("problem_type", SingleLabelClassificationHead.problem_type),
                             "text_pair": bool(info.get("text_pair", False))}
                      for name, info in tasks.items()}
        options = {name: dict(info.get("head_options") or {}) for name, info in tasks.items()}
        modes = {name: pooling for name in self.tasks} if isinstance(pooling, str) else dict(pooling)
        if set(modes) != set(self.tasks):
            raise ValueError(f"pooling modes given for {sorted(modes)}, but the tasks are {sorted(self.tasks)}")
        self.pooling_modes = modes
        self.head_hidden_size = head_hidden_size
        self.head_dropout = head_dropout
        self.poolers = nn.ModuleDict({name: Pooling(modes[name], encoder.hidden_size) for name in self.tasks})
        self.heads = nn.ModuleDict(
            {name: head_type(info["problem_type"])(self.pooled_dim(name), info["labels"], head_hidden_size, head_dropout, **options[name])
             for name, info in self.tasks.items()}
        )
        self.uncertainty = UncertaintyWeighting(self.tasks) if task_balancing == "uncertainty" else None
        wide_tasks = list(self.heads) if wide_tasks is None else list(wide_tasks)
        if set(wide_tasks) - set(self.tasks):
            raise ValueError(f"wide parts asked for {sorted(set(wide_tasks) - set(self.tasks))}, but the tasks are {sorted(self.tasks)}")
        self.wide = nn.ModuleDict({name: WideNgrams(wide_buckets, head.num_outputs, wide_ngrams) for name, head in self.heads.items()
                                   if name in wide_tasks}) if wide_buckets and wide_tasks else None

    def pools_pair_separately(self, task: str) -> bool:
        """True when ``task`` reads sentence pairs and the encoder does not read them jointly: the
        head then reads ``[u, v, |u - v|, u * v]``."""
        return self.tasks[task]["text_pair"] and not getattr(self.encoder, "pairs_jointly", True)

    def pooled_dim(self, task: str) -> int:
        """The size of the vector the head of ``task`` reads."""
        return self.poolers[task].output_dim * (4 if self.pools_pair_separately(task) else 1)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, task: str | None = None,
                features: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                return_pooled: bool = False) -> torch.Tensor | TaskOutput:
        """Logits of one task: ``(batch, seq_len)`` x2 (x3 for pairs: ``token_type_ids``) -> ``(batch, num_outputs)``.

        Training calls this with one task per batch (task-homogeneous batches). With ``features``
        (``(batch, pooled_dim)``, from :meth:`pooled_features`) the encoder and pooling are skipped:
        the cache of feature extraction (not for a model with a wide part, which reads the token ids).

        With ``labels`` (for the first ``len(labels)`` rows; rows beyond them, e.g. unlabelled
        target-domain text, get no loss) or ``return_pooled``, returns a :class:`TaskOutput` with the
        head's loss (weighted by the uncertainty weighting, if the model has one) and the pooled
        vectors: the loss is computed inside ``forward`` so that data-parallel wrappers see every
        parameter it uses.
        """
        if features is None:
            hidden = self.encoder(input_ids, attention_mask, token_type_ids)
            features = self.pool(task, hidden, self._pooling_mask(attention_mask), token_type_ids, input_ids)
        logits, wide = self._logits(task, features, input_ids, attention_mask, token_type_ids)
        if labels is None and not return_pooled:
            return logits
        loss = head_loss = None
        if labels is not None:
            loss = head_loss = self.heads[task].loss(logits[: len(labels)], labels)
            if wide is not None and self.training:  # each part also learns alone (see the class's text)
                n = len(labels)
                loss = loss + self.heads[task].loss((logits - wide)[:n], labels) + self.heads[task].loss(wide[:n], labels)
            if self.uncertainty is not None:
                loss = self.uncertainty(task, loss)
        return TaskOutput(logits, loss, features, head_loss)

    def _logits(self, task: str, features: torch.Tensor, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None,
                token_type_ids: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The task's logits ``(batch, num_outputs)``: the head's, from the pooled vectors ``(batch,
        pooled_dim)``, plus the wide part's from the token ids when the model has one, divided by the
        head's temperature (:meth:`Head.calibrated <mtl_text.modeling.heads.Head.calibrated>`); and
        the wide part's logits alone, divided alike (``None`` without one).

        Raises:
            ValueError: a model with a wide part given no ``input_ids``.
        """
        head = self.heads[task]
        logits = head(features)
        if self.wide is None or task not in self.wide:
            return head.calibrated(logits), None
        if input_ids is None:
            raise ValueError(f"task {task} has a wide part (hashed n-grams of the token ids): give input_ids, not only features")
        wide = self.wide[task](input_ids, attention_mask, token_type_ids).to(logits.dtype)
        return head.calibrated(logits + wide), head.calibrated(wide)

    def pool(self, task: str, hidden: torch.Tensor, mask: torch.Tensor, token_type_ids: torch.Tensor | None,
             input_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, seq_len, hidden)`` -> the vector the head of ``task`` reads, ``(batch, pooled_dim)``:
        the encoder's output pooled by the task's pooling over ``mask`` ``(batch, seq_len)`` (pairs
        pooled separately need ``token_type_ids``). :meth:`pooled_features` runs the encoder first.
        ``input_ids`` let a context-free encoder's attention pooling score each distinct word once
        (not while exporting: ``torch.unique``'s output size depends on the data).

        Raises:
            ValueError: a pair task pooled separately without ``token_type_ids``.
        """
        pooler = self.poolers[task]
        if not getattr(self.encoder, "context_free", False) or torch.compiler.is_exporting():
            input_ids = None
        if not self.pools_pair_separately(task):
            return pooler(hidden, mask, input_ids)
        if token_type_ids is None:
            raise ValueError(f"task {task} reads sentence pairs: token_type_ids must mark each token's text")
        first = mask * (token_type_ids == 0).to(mask.dtype)
        u, v = pooler(hidden, first, input_ids), pooler(hidden, mask - first, input_ids)
        return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)

    def can_cache_features(self, task: str) -> bool:
        """True when ``task``'s pooled vector is a fixed function of its input: a frozen encoder, a
        pooling without parameters, no word dropout and no wide part (which reads the token ids). Its
        features can then be computed once."""
        return bool(self.encoder.frozen) and not any(True for _ in self.poolers[task].parameters()) and self.word_dropout == 0.0 \
            and self.wide is None

    @torch.no_grad()
    def pooled_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: str,
                        token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled vector the head of ``task`` reads: ``(batch, seq_len)`` x2 (x3) -> ``(batch, pooled_dim)``."""
        return self.pool(task, self.encoder(input_ids, attention_mask, token_type_ids), attention_mask, token_type_ids, input_ids)

    def _pooling_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """The attention mask with word dropout applied (training only): ``(batch, seq_len)``."""
        if not self.training or self.word_dropout == 0.0:
            return attention_mask
        keep = (torch.rand(attention_mask.shape, device=attention_mask.device) >= self.word_dropout).to(attention_mask.dtype)
        dropped = attention_mask * keep
        empty = (dropped.sum(1) == 0) & (attention_mask.sum(1) > 0)  # every token dropped: keep the text whole
        return torch.where(empty.unsqueeze(1), attention_mask, dropped)

    def predict_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tasks: Iterable[str] | None = None,
                       token_type_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Logits of several heads from one encoder pass (the tasks must all take single texts, or
        all pairs with ``token_type_ids``).

        Returns:
            task name -> ``(batch, num_outputs)``, for ``tasks`` (default: every task).

        Raises:
            UnknownHeadError: a task this model has no head for.
        """
        tasks = self.check_tasks(tasks)
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)
        return {t: self._logits(t, self.pool(t, hidden, attention_mask, token_type_ids, input_ids), input_ids, attention_mask, token_type_ids)[0]
                for t in tasks}

    def check_tasks(self, tasks: Iterable[str] | None) -> list[str]:
        """``tasks`` as a list (every task when None).

        Raises:
            UnknownHeadError: a task this model has no head for; the message lists the model's tasks.
        """
        tasks = list(self.tasks) if tasks is None else list(tasks)
        unknown = [t for t in tasks if t not in self.heads]
        if unknown:
            raise UnknownHeadError(f"this model has no head for {unknown}; its tasks are {list(self.tasks)}")
        return tasks

    def head(self, task: str):
        """The head of ``task`` (it owns the task's loss, decoding and metrics).

        Raises:
            UnknownHeadError: no head for ``task``.
        """
        return self.heads[self.check_tasks([task])[0]]

    def config_dict(self) -> dict:
        return {
            "mtl_text_version": __version__,
            "encoder": self.encoder.config_dict(),
            "tasks": {name: {**info, **({"head_options": options} if (options := self.heads[name].options()) else {})}
                      for name, info in self.tasks.items()},
            "pooling": self.pooling_modes,
            "head": {"hidden_size": self.head_hidden_size, "dropout": self.head_dropout},
            "word_dropout": self.word_dropout,
            **({"task_balancing": "uncertainty"} if self.uncertainty is not None else {}),
            **({"wide": {"buckets": self.wide_buckets, "ngrams": self.wide_ngrams,
                         **({"tasks": list(self.wide)} if len(self.wide) < len(self.heads) else {})}} if self.wide is not None else {}),
        }

    @property
    def wide_buckets(self) -> int:
        """Rows of each task's wide part (0: none)."""
        return next(iter(self.wide.values())).buckets if self.wide is not None else 0

    @property
    def wide_ngrams(self) -> int:
        """The longest n-gram of the wide part (0 without one)."""
        return next(iter(self.wide.values())).ngrams if self.wide is not None else 0

    def save_pretrained(self, directory: str | os.PathLike, tokenizer=None, extra_config: Mapping | None = None) -> Path:
        """Write the model into ``directory`` (created if needed; other files there are left alone).

        Every file is first written in full to a temporary folder inside ``directory``, then moved
        into place with an atomic rename, ``config.json`` last: a reader never sees a half-written
        file, and a folder without ``config.json`` is not taken for a model.

        Args:
            directory: the model folder.
            tokenizer: a tokenizer with ``save_pretrained`` whose files go in the folder.
            extra_config: more JSON-able keys for ``config.json`` (e.g. ``training_args``).
        """
        directory = Path(directory)
        with _staged_model_folder(directory, {**self.config_dict(), **(extra_config or {})}) as tmp:
            if getattr(self.encoder, "lora", None):  # LoRA: the updates merged (a plain transformer) or the adapters alone
                save_file(self.saved_state_dict(), str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
            else:
                save_model(self, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})  # shared (tied) tensors stored once
            if tokenizer is not None:
                tokenizer.save_pretrained(str(tmp))
        return directory

    @staticmethod
    def read_config(directory: str | os.PathLike) -> dict:
        """Read a model folder's ``config.json`` and check it against the schema (:func:`validate_config`).

        Raises:
            ModelLoadError: the folder or file is missing, the file is not valid JSON, or a field is
                missing, of the wrong type or out of range (the message names the field).
        """
        directory = Path(directory)
        path = directory / CONFIG_NAME
        if not directory.is_dir():
            raise ModelLoadError(f"{directory} is not a folder; expected a saved mtl-text model folder ({CONFIG_NAME}, {WEIGHTS_NAME}, tokenizer files)")
        if not path.is_file():
            raise ModelLoadError(f"{directory} is not a saved mtl-text model: {CONFIG_NAME} is missing")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelLoadError(f"{path}: not valid JSON ({e})") from None
        missing = [k for k in ("encoder", "tasks", "pooling", "head") if not isinstance(config, dict) or k not in config]
        if missing:
            raise ModelLoadError(f"{path}: not an mtl-text model config, missing key(s) {missing}")
        validate_config(config, path)
        return config

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, verify_hashes: bool = True, revision: str | None = None,
                        token: str | None = None) -> MultiTaskModel:
        """Restore a model saved with :meth:`save_pretrained` (on the CPU, in eval mode).

        Args:
            directory: the model folder, or a Hugging Face Hub id (``owner/name``, or
                ``owner/name@revision``) when no such path exists here (downloaded:
                :func:`mtl_text.modeling.hub.resolve_model`).
            verify_hashes: check the SHA-256 of every file ``config.json`` lists (sizes are always
                checked); off saves reading very large files twice.
            revision: the Hub id's branch, tag or commit (the same as ``@revision``; default ``main``).
            token: a Hugging Face token for a private or gated Hub repository (default:
                ``huggingface_hub``'s stored login or ``$HF_TOKEN``); as in transformers.

        Raises:
            ModelLoadError: the folder is not a saved model (nor a downloadable Hub id); its config is invalid; a file is
                missing, truncated, tampered with, or does not match the architecture; a weight is
                NaN or infinite; LoRA adapters saved alone whose base model cannot be loaded or has
                other weights than at training.
            ConfigError: a ``revision`` for a local folder, or two different revisions.
        """
        from .hub import resolve_model

        directory = resolve_model(directory, revision, token)
        config = cls.read_config(directory)
        if "files" in config:
            verify_files(directory, config["files"], ModelLoadError, check_hashes=verify_hashes, recorded_in=str(directory / CONFIG_NAME))
        else:
            logger.warning("%s: no file sizes and hashes recorded (a model saved by mtl-text before 0.2.0); its files are not verified",
                           directory / CONFIG_NAME)
        try:
            encoder = build_encoder(config["encoder"])
            model = cls(encoder, config["tasks"], config["pooling"], config["head"]["hidden_size"], config["head"]["dropout"],
                        config.get("word_dropout", 0.0), config.get("task_balancing"), **wide_options(config))
        except ModelLoadError as e:  # an adapters-only folder's base model (the field is named)
            raise ModelLoadError(f"{directory / CONFIG_NAME}: {e}") from None
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            raise ModelLoadError(f"{directory / CONFIG_NAME}: cannot build the model ({type(e).__name__}: {e})") from None
        weights = directory / WEIGHTS_NAME
        if not weights.is_file():
            raise ModelLoadError(f"{directory} is not a saved mtl-text model: {WEIGHTS_NAME} is missing")
        model.load_weights(weights)
        if getattr(model.encoder, "lora", None):  # adapters saved apart from their base: merged now, a plain transformer
            model.encoder.merge_lora()
        bad = [name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise ModelLoadError(f"{weights}: weights contain NaN or infinite values ({', '.join(bad[:3])}"
                                 f"{' ...' if len(bad) > 3 else ''}): the model is damaged")
        return model.eval()

    def saved_state_dict(self) -> dict[str, torch.Tensor]:
        """The state as :meth:`save_pretrained` writes it: an encoder with LoRA adapters gives its
        merged weights (:meth:`TransformerEncoder.merged_state_dict`), or, where it saves them apart
        (``save_adapters``), its adapters alone (:meth:`TransformerEncoder.adapter_state_dict`).
        Tensors that share memory (tied weights) are copied, one tensor per name."""
        encoder = (self.encoder.adapter_state_dict() if getattr(self.encoder, "saves_adapters", False) else
                   self.encoder.merged_state_dict() if getattr(self.encoder, "lora", None) else self.encoder.state_dict())
        state = {**{f"encoder.{k}": v for k, v in encoder.items()},
                 **{k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}}
        seen: set[int] = set()
        for key, value in state.items():
            value = value.detach().contiguous()
            state[key] = value.clone() if value.data_ptr() in seen else value
            seen.add(value.data_ptr())
        return state

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load a ``model.safetensors`` written by :meth:`save_pretrained` into this model (strict).
        Into an encoder with LoRA adapters, saved merged weights become its fixed weights and its
        updates zero (:meth:`TransformerEncoder.unmerged_state_dict`): the model computes what was
        saved. Saved adapters (an adapters-only save, the transformer's own weights absent) load into
        the adapters, the fixed weights staying as they are.

        Raises:
            ModelLoadError: the file is missing, truncated or corrupted, or does not match the model.
        """
        if not getattr(self.encoder, "lora", None):
            load_safetensors_into(self, path, ModelLoadError)
            return
        state = load_safetensors(path, ModelLoadError)
        adapters = {f"encoder.{k}" for k in self.encoder.adapter_state_dict()}
        if adapters & state.keys():  # the adapters alone: everything else of the encoder is its base's
            state = {**{k: v for k, v in self.state_dict().items() if k.startswith("encoder.") and k not in adapters}, **state}
        else:
            encoder = self.encoder.unmerged_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
            state = {**{k: v for k, v in state.items() if not k.startswith("encoder.")}, **{f"encoder.{k}": v for k, v in encoder.items()}}
        try:
            self.load_state_dict(state)
        except RuntimeError as e:
            raise ModelLoadError(f"{path}: weights do not match the model ({e})") from None


# --- the schema of config.json ------------------------------------------------------------------------


def copy_model_folder(source: str | os.PathLike, target: str | os.PathLike, config: Mapping) -> Path:
    """A saved model's files, byte for byte, into ``target`` with another ``config.json`` (``config``,
    e.g. with new head options): the weights stay in the form they were saved in (a LoRA adapters
    folder stays one). Every file is written to a temporary folder inside ``target`` first and moved
    into place, ``config.json`` last, its file records written afresh.

    Raises:
        ModelLoadError: ``source``'s ``config.json`` records no files (a model saved before mtl-text
            0.2.0: load it and save it with :meth:`MultiTaskModel.save_pretrained` first).
    """
    source, target = Path(source), Path(target)
    recorded = config.get("files")
    if not isinstance(recorded, dict) or not recorded:
        raise ModelLoadError(f"{source / CONFIG_NAME} records no files (a model saved before mtl-text 0.2.0); load it and save it "
                             "again with MultiTaskModel.save_pretrained first")
    with _staged_model_folder(target, config) as tmp:
        for name in recorded:
            shutil.copyfile(member_path(source, name, ModelLoadError), tmp / name)
    return target


@contextlib.contextmanager
def _staged_model_folder(directory: Path, config: Mapping) -> Iterator[Path]:
    """A temporary folder inside ``directory`` for a model's files (staging folders left by a process
    killed while saving are removed first). Once the block has written them, ``config`` goes beside
    them as ``config.json`` with each file's size and SHA-256 under ``files``, and every file is moved
    into ``directory`` with an atomic rename, ``config.json`` last: a reader never sees a half-written
    file, and a folder without ``config.json`` is not taken for a model."""
    for stale in directory.glob(".saving-*"):
        shutil.rmtree(stale, ignore_errors=True)
    with staging_dir(directory, ".saving-") as tmp:
        yield tmp
        written = {**config, "files": {f.name: file_record(f) for f in sorted(tmp.iterdir()) if f.is_file()}}
        (tmp / CONFIG_NAME).write_text(json.dumps(written, indent=2) + "\n")
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == CONFIG_NAME):
            os.chmod(f, 0o644)
            os.replace(f, directory / f.name)


def validate_config(config: dict, path: str | os.PathLike) -> None:
    """Check a model's ``config.json`` field by field: types, ranges, known names.

    Raises:
        ModelLoadError: the first field at fault, named by its path (``tasks.sst2.max_length``).
    """

    def fail(field: str, expected: str, value) -> None:
        raise ModelLoadError(f"{path}: field '{field}' must be {expected}, found {json.dumps(value)[:80]}")

    def integer(field: str, value, low: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            fail(field, f"an integer >= {low}", value)

    def probability(field: str, value) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            fail(field, "a number in [0, 1)", value)

    encoder = config["encoder"]
    if not isinstance(encoder, dict) or encoder.get("type") not in ENCODER_TYPES:
        fail("encoder.type", f"one of {sorted(ENCODER_TYPES)}", encoder.get("type") if isinstance(encoder, dict) else encoder)
    if encoder["type"] == "word_vectors":
        integer("encoder.vocab_size", encoder.get("vocab_size"), 2)
        integer("encoder.embedding_dim", encoder.get("embedding_dim"), 1)
        integer("encoder.conv_filters", encoder.get("conv_filters", 0), 0)
        integer("encoder.bigram_buckets", encoder.get("bigram_buckets", 0), 0)
        widths = encoder.get("conv_widths", [3])
        if not isinstance(widths, list) or not widths:
            fail("encoder.conv_widths", "a non-empty list of widths", widths)
        for width in widths:
            integer("encoder.conv_widths", width, 1)
    else:
        hf = encoder.get("config")
        if not isinstance(hf, dict) or not isinstance(hf.get("model_type"), str):
            fail("encoder.config", "a transformers config object with a 'model_type'", hf)
        if encoder.get("freeze_layers") is not None:
            integer("encoder.freeze_layers", encoder["freeze_layers"], 0)
        lora = encoder.get("lora")
        if lora is not None:  # adapters saved apart from their base
            if not isinstance(lora, dict):
                fail("encoder.lora", "an object of the LoRA adapters' settings", lora)
            integer("encoder.lora.r", lora.get("r"), 1)
            for key in ("alpha", "dropout"):
                if isinstance(lora.get(key), bool) or not isinstance(lora.get(key), (int, float)) or lora[key] < 0:
                    fail(f"encoder.lora.{key}", "a number >= 0", lora.get(key))
            targets = lora.get("target_modules")
            if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
                fail("encoder.lora.target_modules", "a non-empty list of layer names", targets)
            if not isinstance(lora.get("base_model"), str) or not lora["base_model"]:
                fail("encoder.lora.base_model", "the base transformer's Hub id or folder", lora.get("base_model"))
            digest = lora.get("base_weights_sha256")
            if not isinstance(digest, str) or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
                fail("encoder.lora.base_weights_sha256", "a SHA-256 in 64 lowercase hex digits", digest)
    if not isinstance(encoder.get("freeze", False), bool):
        fail("encoder.freeze", "true or false", encoder.get("freeze"))
    tasks = config["tasks"]
    if not isinstance(tasks, dict) or not tasks:
        fail("tasks", "a non-empty object of task name -> task", tasks)
    for name, task in tasks.items():
        if not isinstance(task, dict):
            fail(f"tasks.{name}", "an object", task)
        labels = task.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            fail(f"tasks.{name}.labels", "a non-empty list of label names", labels)
        if len(set(labels)) != len(labels):
            fail(f"tasks.{name}.labels", "a list of unique label names", labels)
        integer(f"tasks.{name}.max_length", task.get("max_length"), 1)
        problem_type = task.get("problem_type", SingleLabelClassificationHead.problem_type)
        if problem_type not in HEAD_TYPES:
            fail(f"tasks.{name}.problem_type", f"a registered head type, one of {sorted(HEAD_TYPES)}", problem_type)
        if not isinstance(task.get("text_pair", False), bool):
            fail(f"tasks.{name}.text_pair", "true or false", task.get("text_pair"))
        if not isinstance(task.get("head_options", {}), dict):
            fail(f"tasks.{name}.head_options", "an object of the head's options", task.get("head_options"))
    pooling = config["pooling"]
    if not isinstance(pooling, dict) or set(pooling) != set(tasks):
        fail("pooling", f"an object with one mode for each task {sorted(tasks)}", pooling)
    for name, mode in pooling.items():
        if mode not in POOLING_MODES:
            fail(f"pooling.{name}", f"one of {list(POOLING_MODES)}", mode)
    head = config["head"]
    if not isinstance(head, dict):
        fail("head", "an object", head)
    integer("head.hidden_size", head.get("hidden_size"), 0)
    probability("head.dropout", head.get("dropout"))
    probability("word_dropout", config.get("word_dropout", 0.0))
    wide = config.get("wide", {"buckets": 1, "ngrams": 1})
    if not isinstance(wide, dict):
        fail("wide", "an object with 'buckets' and 'ngrams'", wide)
    integer("wide.buckets", wide.get("buckets"), 1)
    integer("wide.ngrams", wide.get("ngrams"), 1)
    if "tasks" in wide and (not isinstance(wide["tasks"], list) or not wide["tasks"] or not set(wide["tasks"]) <= set(config["tasks"])):
        fail("wide.tasks", f"a non-empty list of the model's tasks {sorted(config['tasks'])}", wide["tasks"])
    if config.get("task_balancing", "uncertainty") != "uncertainty":
        fail("task_balancing", "'uncertainty' or absent", config.get("task_balancing"))


def wide_options(config: Mapping) -> dict:
    """The wide part's constructor arguments of :class:`MultiTaskModel` from a ``config.json``."""
    wide = config.get("wide")
    return {"wide_buckets": wide["buckets"], "wide_ngrams": wide["ngrams"], "wide_tasks": wide.get("tasks")} if wide else {}
