"""Building a training run from its configuration, in the order data flows:

1. the tasks and their splits (validation carved out of train, seeded); with ``--distill-from``, the
   teacher's logits of the training texts (and its transfer set, appended to them);
2. the tokenizer and the encoder (word vectors: vocabulary and Word2Vec on the training text only,
   or pretrained vectors; or a pretrained transformer and its own tokenizer);
3. the model: the encoder, then per task a pooling and a head of the task's problem type;
4. tokenized splits and dataloaders; with a frozen encoder (feature extraction) the pooled vectors
   are computed once and the heads train on them;
5. the optimizer, the task schedule and the learning-rate schedule, prepared by Accelerate.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import get_scheduler

from ..data.collation import PaddingCollator
from ..data.sampling import TaskSchedule
from ..data.splits import column, load_task_splits
from ..data.tasks import REGRESSION, SINGLE_LABEL, Task, get_task
from ..data.tokenization import tokenize_splits, train_word_tokenizer, word_sequences
from ..errors import ConfigError, ModelLoadError
from ..inference.calibration import calibrated_tasks
from ..modeling.encoders import TransformerEncoder, WordVectorEncoder
from ..modeling.heads import LOWER_IS_BETTER, Head, head_type
from ..modeling.model import MultiTaskModel
from ..modeling.vectors import embedding_matrix, load_vectors, train_word2vec
from .config import TrainingConfig
from .features import cache_features
from .optimization import LazyAdamW, PlateauSchedule, parameter_groups, sparse_lookup_tables
from .streams import LengthGroupedSampler, TaskBatches

logger = logging.getLogger("mtl_text.train")


@dataclass
class TrainingSetup:
    """Everything the training loop needs, built from the configuration by :func:`build_training`."""

    accelerator: Accelerator
    tasks: dict[str, Task]
    tokenizer: Any
    model: torch.nn.Module  # prepared by the accelerator
    optimizer: torch.optim.Optimizer  # prepared
    lr_scheduler: Any  # prepared
    schedule: TaskSchedule
    train_streams: dict[str, TaskBatches]  # per task, prepared, endless
    val_dataloaders: dict[str, DataLoader]  # prepared
    test_dataloaders: dict[str, DataLoader]  # prepared
    max_steps: int
    steps_per_epoch: int
    global_batch: int
    eval_every: int
    lineage: dict | None = None  # --init-from: where the model started (saved in config.json)
    adaptation: dict | None = None  # --adapt: task -> DomainAdaptation
    plateau: PlateauSchedule | None = None  # --lr-scheduler plateau
    task_weights: dict[str, float] | None = None  # --task-balancing static
    train_datasets: dict | None = None  # task -> tokenized training split, in order (--wide-svm fits on it)
    collator: Any = None  # batches train_datasets
    lazy_updates: bool = False  # the lookup tables have sparse gradients (LazyAdamW; clipping by optimization.clip_grad_norm)


@dataclass
class DomainAdaptation:
    """One ``--adapt TASK=TARGET``: an endless stream of batches of unlabelled target text, and a fixed
    sample of target and source inputs on which the MMD between the domains is measured."""

    target: str
    stream: TaskBatches
    measure_target: DataLoader
    measure_source: DataLoader


def resolve_tasks(config: TrainingConfig) -> dict[str, Task]:
    """The configured tasks, with ``--metric-for-best`` checked against the head of every task it
    is averaged over (``--selection-tasks``, default all).

    Raises:
        UnknownTaskError: a task that is not registered.
        ConfigError: a ``--metric-for-best`` that the head of some task of ``--selection-tasks`` does not report,
            ``--class-weights`` that do not fit their task, ``--label-smoothing`` without a single-label task, or
            ``--r-drop`` with a head type that has no consistency loss.
    """
    tasks = {name: get_task(name) for name in config.data.tasks}
    for task in tasks.values():
        chosen_class_weights(config, task)
    if config.heads.label_smoothing:
        smoothed = [n for n, t in tasks.items() if label_smoothing(config, t)]
        if not smoothed:
            raise ConfigError(f"--label-smoothing applies to single-label classification tasks; none of {list(tasks)} is one")
        if len(smoothed) < len(tasks):
            logger.info("--label-smoothing %s: the loss of %s; not of %s (not single-label)", config.heads.label_smoothing, smoothed,
                        [n for n in tasks if n not in smoothed])
    if config.heads.r_drop:
        lacking = [n for n, t in tasks.items() if head_type(t.problem_type).consistency_loss is Head.consistency_loss]
        if lacking:
            raise ConfigError(f"--r-drop needs each head's consistency loss; the head type of {lacking} defines none")
        logger.info("--r-drop %s: every training batch passes through the model twice (R-Drop)", config.heads.r_drop)
    chosen_svm = config.heads.wide_svm_tasks(tasks)
    if chosen_svm:
        from .wide_fit import check_tasks

        check_tasks(tasks, chosen_svm)
    calibrated_tasks(*config.heads.calibration_choice(tasks))  # its task names, before training
    metric = config.evaluation.metric_for_best
    if metric != "primary":
        reported = {n: set(tasks[n].metric_names) - LOWER_IS_BETTER for n in config.selection_tasks}
        lacking = [n for n, names in reported.items() if metric not in names]
        if lacking:
            raise ConfigError(f"--metric-for-best {metric}: not a metric (higher is better) of the head of {lacking}; use 'primary' or one "
                              f"of {sorted(set.intersection(*reported.values()))}")
    return tasks


def read_target_texts(target: str, config: TrainingConfig, option: str = "--adapt") -> list[str]:
    """The unlabelled texts of ``--adapt TASK=TARGET`` (or of ``option``, e.g. ``--distill-texts``): a
    registered task's training texts (labels ignored; its validation split carved out as in training
    and left out), else a file: ``.jsonl`` with a ``text`` field per line, ``.csv`` with a ``text``
    column, or one text per line.

    Raises:
        ConfigError: TARGET is neither a registered task nor an existing file.
        InputError: a line that is not UTF-8, or a JSON line without a string ``text`` (file and line named).
        DataError: no non-empty text.
    """
    from pathlib import Path

    from ..data.readers import open_data
    from ..data.tasks import list_tasks
    from ..errors import DataError
    from ..inference.inputs import input_format, read_examples

    if target in list_tasks():
        split = load_task_splits(get_task(target), config.data.data_dir, seed=config.optimization.seed,
                                 validation_size=config.data.validation_size, group_validation=config.data.group_validation)["train"]
        texts = column(split, "text") + (column(split, "text_pair") if "text_pair" in split.column_names else [])
    else:
        path = Path(target)
        if not path.is_file():
            raise ConfigError(f"{option}: {target!r} is neither a registered task nor a file")
        fmt = input_format(path)
        with open_data(path) as f:  # the formats of prediction input: text lines, JSON Lines or CSV with 'text' (.gz: compressed)
            texts = [t for example in read_examples(f, str(path), fmt if fmt != "tsv" else "text")
                     for t in (example.text, example.text_pair) if t is not None]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise DataError(f"{option}: {target} holds no non-empty text")
    return texts


def build_adaptation(config: TrainingConfig, targets: dict[str, list[str]], splits: dict, model, tokenizer, collator) -> dict:
    """Per ``--adapt`` task, the :class:`DomainAdaptation` streams (target texts tokenized with the
    task's maximum length, shuffled with the run's seed) and the fixed samples (at most 1,000 texts
    each: the target texts and the task's validation texts) on which the MMD is measured."""
    import datasets

    adaptation = {}
    batch_size, eval_batch_size, seed = config.optimization.batch_size, config.evaluation.eval_batch_size, config.optimization.seed
    for name, texts in targets.items():
        max_length = model.tasks[name]["max_length"]

        def encode(batch, max_length=max_length):
            return tokenizer(batch["text"], truncation=True, max_length=max_length)

        target = datasets.Dataset.from_dict({"text": texts}).map(encode, batched=True, remove_columns=["text"])
        source = datasets.Dataset.from_dict({"text": splits[name]["validation"]["text"]}).map(encode, batched=True, remove_columns=["text"])
        generator = torch.Generator().manual_seed(seed)
        sample = target.shuffle(seed=seed).select(range(min(1000, len(target))))
        adaptation[name] = DomainAdaptation(
            target=config.adaptation.targets()[name],
            stream=TaskBatches(DataLoader(target, batch_size=batch_size, shuffle=True, collate_fn=collator, generator=generator)),
            measure_target=DataLoader(sample, batch_size=eval_batch_size, collate_fn=collator),
            measure_source=DataLoader(source.select(range(min(1000, len(source)))), batch_size=eval_batch_size, collate_fn=collator))
        logger.info("task %s: domain adaptation towards %s (%d unlabelled texts), MMD weight %g", name, adaptation[name].target, len(texts),
                    config.adaptation.mmd_weight)
    return adaptation


def distillation_targets(config: TrainingConfig, tasks: dict[str, Task], splits: dict, accelerator: Accelerator) -> dict:
    """``--distill-from``: per task the teacher distils, the teacher's logits of its training texts,
    ``(len(train), num_outputs)`` in the order of its training split. With ``--distill-texts`` the
    teacher-labelled transfer texts are first appended to ``splits[task]["train"]`` (in place), their
    logits after the others.

    Raises:
        ConfigError: as :func:`mtl_text.transfer.distillation.load_teacher`; ``--distill-texts`` for a
            task the teacher has no head for, or for a sentence-pair task.
        ModelLoadError: the teacher cannot be loaded.
    """
    import numpy as np

    from ..modeling.hub import resolve_model
    from ..transfer.distillation import load_teacher, summary, teacher_logits, with_transfer_set

    options = config.distillation
    directory = options.distill_from
    try:
        local = resolve_model(directory)  # a Hub id is downloaded once: its folder names the teacher in the logits' cache
    except ModelLoadError as e:
        raise ModelLoadError(f"--distill-from {e}") from None
    cache_dir = None if config.data.cache_dir.lower() == "none" else config.data.cache_dir
    chosen = {n: t for n, t in tasks.items() if n in options.distill_tasks} if options.distill_tasks else tasks
    teacher, names = load_teacher(local, chosen, batch_size=config.evaluation.eval_batch_size, device=accelerator.device,
                                  name=directory)
    sources = options.transfer_sources()
    lacking = sorted((set(options.distill_tasks) | set(sources)) - set(names))
    if lacking:
        raise ConfigError(f"--distill-tasks / --distill-texts {lacking}: the teacher {directory} has no head for them (it has "
                          f"{teacher.tasks})")
    pair_tasks = [n for n in sources if tasks[n].text_pair]
    if pair_tasks:  # refused before the teacher spends minutes scoring
        raise ConfigError(f"--distill-texts {pair_tasks}: a transfer set holds single texts; these tasks read sentence pairs")
    targets = {}
    for name in names:
        train, head = splits[name]["train"], teacher.model.heads[name]
        pairs = column(train, "text_pair") if "text_pair" in train.column_names else None
        transfer = [text for source in sources.get(name, []) for text in read_target_texts(source, config, option="--distill-texts")]
        with accelerator.main_process_first():  # the main process writes the cache, the others read it
            logits = teacher_logits(teacher, local, name, column(train, "text"), pairs, cache_dir, desc="training texts")
            extra = teacher_logits(teacher, local, name, transfer, None, cache_dir, desc="transfer texts") if transfer else None
        logger.info(summary(name, directory, logits, column(train, "label"), head, len(transfer)))
        if extra is not None:
            splits[name]["train"] = with_transfer_set(train, transfer, extra, head)
            logits = np.concatenate([logits, extra])
        targets[name] = logits
    logger.info("distillation: loss = %g x the labels' + %g x the teacher's (temperature %g) for %s", 1 - options.distill_weight,
                options.distill_weight, options.distill_temperature, names)
    return targets


def build_word_vector_encoder(config: TrainingConfig, train_texts: list[str]):
    """Tokenizer + word-vector encoder whose vocabulary and vectors come from ``train_texts`` only (the tasks'
    training text, plus any unlabelled text of ``--adapt`` and ``--embedding-texts``)."""
    options, seed = config.encoder, config.optimization.seed
    t0 = time.time()
    tokenizer = train_word_tokenizer(train_texts, min_frequency=options.min_word_frequency, max_vocab_size=options.max_vocab_size)
    vocab = tokenizer.get_vocab()
    logger.info("vocabulary: %d words (min frequency %d) in %.1fs", len(vocab), options.min_word_frequency, time.time() - t0)
    if options.random_init:
        matrix, dim = None, options.embedding_dim
        logger.info("embeddings: random initialisation (%d dimensions)", dim)
    else:
        t0 = time.time()
        if options.vectors:
            vectors = load_vectors(options.vectors)
            source = options.vectors
        else:
            vectors = train_word2vec(word_sequences(tokenizer, train_texts), vector_size=options.embedding_dim, window=options.w2v_window,
                                     epochs=options.w2v_epochs, sg=options.w2v_skipgram, seed=seed)
            source = "Word2Vec trained on the training text"
        matrix, found = embedding_matrix(vocab, vectors, seed=seed)
        dim = matrix.shape[1]
        logger.info("embeddings: %s, %d dimensions, %d/%d words found (%.1f%%) in %.1fs", source, dim, found, len(vocab) - 2,
                    100 * found / max(len(vocab) - 2, 1), time.time() - t0)
    encoder = WordVectorEncoder(len(vocab), dim, freeze=options.freeze_encoder, embeddings=matrix, conv_filters=options.conv_filters,
                                conv_widths=options.conv_widths, bigram_buckets=options.bigram_buckets)
    if options.conv_filters:
        logger.info("convolution: %d filters of width %s over the word vectors (%d features per token)", options.conv_filters,
                    "/".join(map(str, options.conv_widths)), encoder.hidden_size)
    return tokenizer, encoder


def build_transformer_encoder(config: TrainingConfig):
    """The transformer's own fast tokenizer and its pretrained weights (``AutoTokenizer``/``AutoModel``).

    Raises:
        ModelLoadError: the model or its tokenizer cannot be loaded, or it has no fast tokenizer.
    """
    from transformers import AutoTokenizer

    from ..modeling.hub import download_failure, hub_reference

    options = config.encoder
    name = options.model_name_or_path
    t0 = time.time()
    try:
        repo, revision = hub_reference(name, owner=False)  # NAME@REVISION pins a branch, tag or commit
        tokenizer = AutoTokenizer.from_pretrained(repo, use_fast=True, trust_remote_code=options.trust_remote_code, revision=revision)
        encoder = TransformerEncoder.from_pretrained(name, freeze=options.freeze_encoder, freeze_layers=options.freeze_layers,
                                                     trust_remote_code=options.trust_remote_code, window_length=options.window_length,
                                                     window_stride=options.window_stride)
    except (OSError, ValueError, KeyError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ModelLoadError(f"--model-name-or-path {name}: cannot load the model or its tokenizer ({download_failure(e)})") from None
    if not tokenizer.is_fast:
        raise ModelLoadError(f"{name}: no fast tokenizer; mtl-text needs one (tokenizers library)")
    if options.window_length is not None:
        check_windows(name, tokenizer)
    add_lora(encoder, options)
    mode = ("feature extraction (frozen)" if options.freeze_encoder else
            f"fine-tuning, embeddings + bottom {options.freeze_layers} layers frozen" if options.freeze_layers is not None
            else "LoRA" if options.lora_r else "full fine-tuning")
    logger.info("encoder: %s (%s, hidden %d), %s, loaded in %.1fs", name, type(encoder.model).__name__, encoder.hidden_size, mode,
                time.time() - t0)
    return tokenizer, encoder


def check_windows(name: str, tokenizer) -> None:
    """Windows rebuild each window as ``start + tokens + end`` from a text's first and last token, so
    the tokenizer must add exactly one special token at each end of a single text (BERT's ``[CLS]``
    and ``[SEP]``, RoBERTa's ``<s>`` and ``</s>``).

    Raises:
        ConfigError: it does not.
    """
    ids = tokenizer("windows")["input_ids"]
    bare = tokenizer("windows", add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids)
    if len(ids) != len(bare) + 2 or ids[0] not in special or ids[-1] not in special:
        raise ConfigError(f"--window-length: the tokenizer of {name} does not put one special token at each end of a text "
                          f"(it gives {tokenizer.convert_ids_to_tokens(ids)}), so windows cannot be rebuilt from it")


def add_lora(encoder, options) -> None:
    """``--lora-r``: LoRA adapters into the transformer ``encoder`` (:meth:`TransformerEncoder.add_lora`), logged
    with the share of the encoder's weights that train; nothing without it.

    Raises:
        ConfigError: as :meth:`TransformerEncoder.add_lora`.
    """
    if options.lora_r is None:
        return
    encoder.add_lora(options.lora_r, options.lora_alpha, options.lora_dropout, options.lora_target_modules or None,
                     save_adapters=options.lora_save == "adapters")
    trained = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    total = sum(p.numel() for p in encoder.parameters())
    logger.info("LoRA: rank %d, alpha %g, dropout %g on %s (%d layers): %s of the encoder's %s weights train (%.2f%%)",
                encoder.lora["r"], encoder.lora["alpha"], encoder.lora["dropout"], " ".join(encoder.lora["target_modules"]),
                encoder.lora["layers"], f"{trained:,}", f"{total:,}", 100 * trained / total)


def task_max_lengths(config: TrainingConfig, tasks: dict[str, Task], encoder, tokenizer) -> dict[str, int]:
    """Each task's maximum length in tokens: its own, or ``--max-length``'s, capped by the encoder's
    position embeddings and the tokenizer's declared limit. An encoder that reads windows
    (``--window-length``, which must fit that limit) caps sentence pairs at the window and nothing else.

    Raises:
        ConfigError: the window is longer than the limit.
    """
    limits = [n for n in (encoder.max_length, tokenizer.model_max_length) if n and n < 1_000_000]
    limit = min(limits) if limits else None
    window = getattr(encoder, "window_length", None)
    if window and limit and window > limit:
        raise ConfigError(f"--window-length {window} is above the model's limit of {limit} tokens (position embeddings, tokenizer)")
    overrides = config.data.max_length_overrides()
    max_lengths = {}
    for name, task in tasks.items():
        max_lengths[name] = overrides.get(name, task.max_length)
        if not window:
            cap = limit
        else:  # windows: a single text may be longer than a window, a pair may not
            cap = window if task.text_pair else None
        if cap and max_lengths[name] > cap:
            logger.info("task %s: max length %d capped at the encoder's limit of %d tokens", name, max_lengths[name], cap)
            max_lengths[name] = cap
        elif window and max_lengths[name] > window:
            logger.info("task %s: texts up to %d tokens, read as windows of %d sharing %d", name, max_lengths[name], window,
                        encoder.window_stride)
    return max_lengths


def chosen_class_weights(config: TrainingConfig, task: Task) -> str | list[float] | None:
    """A task's class-weight setting: ``--class-weights`` or the task's own (``"balanced"``, a list
    of weights, or ``None``), checked against the task without its data.

    Raises:
        ConfigError: class weights for a task that is not single-label, or a list of the wrong length.
    """
    overrides = config.heads.class_weight_overrides()
    chosen = overrides[task.name] if task.name in overrides else task.class_weights
    if chosen is None:
        return None
    if task.problem_type != SINGLE_LABEL:
        raise ConfigError(f"--class-weights {task.name}: class weights apply to single-label tasks; {task.name} is {task.problem_type}")
    if chosen != "balanced" and len(chosen) != task.num_labels:
        raise ConfigError(f"--class-weights {task.name}: {len(chosen)} weights for {task.num_labels} labels {list(task.labels)}")
    return chosen


def class_weights(config: TrainingConfig, task: Task, train) -> list[float] | None:
    """A single-label task's class weights (:func:`chosen_class_weights`); ``balanced`` is
    ``n / (num_labels * count_i)`` over its training split (scikit-learn's ``compute_class_weight``).

    Raises:
        ConfigError: as :func:`chosen_class_weights`; also ``balanced`` with a label that has no
            training example.
    """
    chosen = chosen_class_weights(config, task)
    if chosen is None:
        return None
    if chosen != "balanced":
        return [float(w) for w in chosen]
    import numpy as np

    counts = np.bincount(np.asarray(column(train, "label")), minlength=task.num_labels)
    if (counts == 0).any():
        missing = [task.labels[i] for i in np.flatnonzero(counts == 0)]
        raise ConfigError(f"--class-weights {task.name}=balanced: label(s) {missing} have no training example")
    weights = (counts.sum() / (task.num_labels * counts)).tolist()
    logger.info("task %s: balanced class weights %s", task.name, {label: round(w, 3) for label, w in zip(task.labels, weights)})
    return weights


def target_scaling(config: TrainingConfig, task: Task, train) -> dict[str, list[float]]:
    """A regression head's target scaling (``--target-scaling standard``): the mean and standard
    deviation of each target over the training split; ``{}`` for other heads or ``none``."""
    if task.problem_type != REGRESSION or config.heads.target_scaling == "none":
        return {}
    import numpy as np

    targets = np.asarray(column(train, "label"), dtype=np.float64).reshape(len(train), -1)
    std = targets.std(0)
    scaling = {"target_mean": targets.mean(0).tolist(), "target_std": np.where(std > 0, std, 1.0).tolist()}
    logger.info("task %s: targets standardised with mean %s, std %s (training split)", task.name,
                [round(m, 4) for m in scaling["target_mean"]], [round(v, 4) for v in scaling["target_std"]])
    return scaling


def label_smoothing(config: TrainingConfig, task: Task) -> float:
    """A task's label smoothing: ``--label-smoothing`` for a single-label task, 0 for the others."""
    return config.heads.label_smoothing if task.problem_type == SINGLE_LABEL else 0.0


def head_options(config: TrainingConfig, task: Task, train) -> dict:
    """The options of a task's head: its primary metric, ``--label-smoothing`` (single-label heads),
    and those computed from its training split (class weights, target scaling)."""
    weights = class_weights(config, task, train)
    primary = {"primary_metric": task.primary_metric} if task.primary_metric else {}
    smoothing = label_smoothing(config, task)
    return {**primary, **({"class_weights": weights} if weights else {}), **({"label_smoothing": smoothing} if smoothing else {}),
            **target_scaling(config, task, train)}


def build_model(config: TrainingConfig, tasks: dict[str, Task], encoder, tokenizer, splits: dict | None = None) -> MultiTaskModel:
    """The multi-task model: the encoder, and per task its pooling and head (with the head options
    computed on ``splits``' training data: class weights, target scaling)."""
    modes = config.encoder.pooling_modes()
    # a task's own pooling is meant for plain word vectors; a transformer's or a convolution's token vectors pool by its default
    plain_vectors = config.encoder.encoder == "word_vectors" and not getattr(encoder, "conv_filters", 0)
    default = {name: task.pooling if plain_vectors else encoder.default_pooling for name, task in tasks.items()}
    pooling = {name: modes.get(name, modes.get("*", default[name])) for name in tasks}
    max_lengths = task_max_lengths(config, tasks, encoder, tokenizer)
    logger.info("max length in tokens (longer texts keep their first tokens): %s", max_lengths)
    options = {n: head_options(config, t, splits[n]["train"]) if splits else {} for n, t in tasks.items()}
    model = MultiTaskModel(encoder, {n: {"labels": t.labels, "max_length": max_lengths[n], "problem_type": t.problem_type,
                                         "text_pair": t.text_pair, "head_options": options[n]}
                                     for n, t in tasks.items()},
                           pooling=pooling, head_hidden_size=config.heads.head_hidden_size, head_dropout=config.heads.head_dropout,
                           word_dropout=config.heads.word_dropout, task_balancing=config.optimization.task_balancing,
                           wide_buckets=config.heads.wide_buckets, wide_ngrams=config.heads.wide_ngrams,
                           wide_tasks=config.heads.wide_task_names(tasks))
    logger.info("pooling: %s", pooling)
    if model.wide is not None:
        without = [n for n in tasks if n not in model.wide]
        logger.info("wide part per task: hashed TF-IDF 1- to %d-grams, %d rows%s", model.wide_ngrams, model.wide_buckets,
                    f"; none for {without} (--wide-tasks)" if without else "")
    logger.info("model: %.2fM parameters (%.2fM trainable)", sum(p.numel() for p in model.parameters()) / 1e6,
                sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)
    return model


def build_training(config: TrainingConfig, accelerator: Accelerator) -> TrainingSetup:
    """Steps 1-5 of the module's text."""
    data, opt = config.data, config.optimization
    fold = (data.fold, data.cv_folds) if data.cv_folds is not None and data.fold is not None else None
    # --- 1. tasks and data ---------------------------------------------------------------------
    tasks = resolve_tasks(config)
    splits = {}
    for name, task in tasks.items():
        splits[name] = load_task_splits(task, data.data_dir, seed=opt.seed, validation_size=data.validation_size,
                                        max_train_examples=data.train_example_limits()[name], fold=fold,
                                        group_validation=data.group_validation)
        logger.info("task %s: %s, %d labels, %s", name, {s: len(d) for s, d in splits[name].items()}, task.num_labels, task.problem_type)

    # unlabelled text, read before the teacher's scoring (minutes) so that a bad SOURCE fails at once
    targets = {}  # --adapt: task -> unlabelled target texts
    for name, target in config.adaptation.targets().items():
        if tasks[name].text_pair:
            raise ConfigError(f"--adapt {name}: domain adaptation takes single-text tasks; {name} reads sentence pairs")
        targets[name] = read_target_texts(target, config)
    embedding_texts = []  # --embedding-texts: more text for the word vectors' vocabulary and Word2Vec
    for spec in config.encoder.embedding_texts:
        texts = read_target_texts(spec, config, option="--embedding-texts")
        logger.info("embedding texts: %d unlabelled texts from %s join the vocabulary and Word2Vec's text", len(texts), spec)
        embedding_texts += texts

    labelled_sizes = {name: len(splits[name]["train"]) for name in tasks}  # before any transfer set joins (the task mix may use them)
    # --distill-from: the teacher's logits of each distilled task's training texts (and its transfer set, appended)
    teacher_targets = distillation_targets(config, tasks, splits, accelerator) if config.distillation.distill_from else {}

    # --- 2. tokenizer and encoder (word vectors: from training text only, plus unlabelled target text) ----
    source = None
    if config.encoder.init_from:  # sequential transfer: the saved model's encoder and tokenizer
        from ..transfer.initialization import load_source, transferred_encoder

        source, tokenizer, source_config, source_commit = load_source(config.encoder.init_from)
        encoder = transferred_encoder(source, config.encoder.freeze_encoder, config.encoder.freeze_layers)
        add_lora(encoder, config.encoder)
        logger.info("encoder: %s's (%s), %s", config.encoder.init_from, source_config["encoder"]["type"],
                    "frozen (feature extraction)" if config.encoder.freeze_encoder else "LoRA" if config.encoder.lora_r else "fine-tuned")
    elif config.encoder.encoder == "transformer":
        tokenizer, encoder = build_transformer_encoder(config)
    else:
        train_texts = [text for name in tasks for part in ("text", "text_pair") if part in splits[name]["train"].column_names
                       for text in column(splits[name]["train"], part)]
        tokenizer, encoder = build_word_vector_encoder(config, train_texts + [t for texts in targets.values() for t in texts]
                                                       + embedding_texts)

    if config.encoder.gradient_checkpointing:
        encoder.enable_gradient_checkpointing()
        logger.info("gradient checkpointing: each transformer layer's activations are computed again in the backward pass")

    # --- 3. the model --------------------------------------------------------------------------
    model = build_model(config, tasks, encoder, tokenizer, splits)
    lineage, reused = None, []
    if source is not None:
        from ..transfer.initialization import lineage as make_lineage
        from ..transfer.initialization import transfer_heads

        reused = transfer_heads(model, source)
        logger.info("heads taken from %s: %s; new heads: %s", config.encoder.init_from, reused or "none",
                    [n for n in tasks if n not in reused] or "none")
        lineage = make_lineage(config.encoder.init_from, source_config, reused, source_commit)
        del source

    # --- 4. tokenized datasets and dataloaders ------------------------------------------------
    collator = PaddingCollator(tokenizer)
    train_dls, val_dls, test_dls, train_datasets = {}, {}, {}, {}
    t0 = time.time()
    cache_dir = None if data.cache_dir.lower() == "none" else data.cache_dir
    for name in tasks:
        with accelerator.main_process_first():  # the main process writes the cache, the others read it
            tokenized = tokenize_splits(splits[name], tokenizer, model.tasks[name]["max_length"], cache_dir=cache_dir)
        if model.wide is not None and name in model.wide and name not in reused:  # document frequencies of the task's training texts, as tokenized
            train = tokenized["train"]
            model.wide[name].fit_idf(column(train, "input_ids"),
                                     column(train, "token_type_ids") if model.tasks[name]["text_pair"] else None)
        if name in teacher_targets:  # one row of teacher logits per training example, in order
            tokenized["train"] = tokenized["train"].add_column("teacher_logits", teacher_targets[name].tolist())
        train_datasets[name] = tokenized["train"]
        if opt.group_by_length:
            sampler = LengthGroupedSampler([len(ids) for ids in column(tokenized["train"], "input_ids")], opt.batch_size, opt.seed)
            train_dls[name] = DataLoader(tokenized["train"], batch_size=opt.batch_size, sampler=sampler, collate_fn=collator)
        else:
            train_dls[name] = DataLoader(tokenized["train"], batch_size=opt.batch_size, shuffle=True, collate_fn=collator)
        val_dls[name] = DataLoader(tokenized["validation"], batch_size=config.evaluation.eval_batch_size, collate_fn=collator)
        test_dls[name] = DataLoader(tokenized["test"], batch_size=config.evaluation.eval_batch_size, collate_fn=collator)
    logger.info("tokenized every split in %.1fs", time.time() - t0)
    adaptation = build_adaptation(config, targets, splits, model, tokenizer, collator) if targets else None

    # --- 5. optimizer, schedule of tasks, learning-rate schedule -------------------------------
    groups = parameter_groups(model, opt.learning_rate, opt.head_learning_rate, config.encoder.layer_lr_decay, opt.weight_decay)
    lazy = use_lazy_updates(config, accelerator)
    if lazy:
        logger.info("lazy updates (sparse gradients) of the lookup tables: %s", ", ".join(sparse_lookup_tables(model)))
    # fused kernels: CPU and CUDA, ~3x faster here; LazyAdamW takes the lookup tables' sparse gradients
    optimizer = (LazyAdamW if lazy else torch.optim.AdamW)(groups, lr=opt.learning_rate, fused=True)
    logger.info("learning rates: encoder %g (layer decay %g), heads %g, warm-up %.0f%%", opt.learning_rate, config.encoder.layer_lr_decay,
                opt.head_learning_rate, 100 * opt.warmup_ratio)
    sizes = {name: len(splits[name]["train"]) for name in tasks}
    mix_sizes = sizes if config.distillation.transfer_set_in_mix else labelled_sizes
    # examples per optimizer step, all processes (with --sampling all, every step takes a batch of each task)
    global_batch = opt.batch_size * accelerator.num_processes * opt.gradient_accumulation_steps * (len(tasks) if opt.sampling == "all" else 1)
    steps_per_epoch = max(1, math.ceil(sum(sizes.values()) / global_batch))
    max_steps = opt.max_steps or max(1, math.ceil(opt.num_epochs * steps_per_epoch))
    num_epochs = max(1, math.ceil(max_steps / steps_per_epoch))
    schedule = TaskSchedule(mix_sizes, seed=opt.seed, steps_per_epoch=steps_per_epoch * opt.gradient_accumulation_steps,
                            num_epochs=num_epochs, strategy=opt.sampling, temperature=opt.temperature)
    # Accelerate's prepared scheduler advances num_processes times per optimizer step, so the schedule
    # is laid out in those units (as in Accelerate's examples); the LR then reaches 0 at max_steps.
    warmup = int(opt.warmup_ratio * max_steps) * accelerator.num_processes
    plateau = None
    if opt.lr_scheduler == "plateau":  # warm-up, then the rates change only when validation stalls
        plateau = PlateauSchedule(warmup, factor=opt.plateau_factor, patience=opt.plateau_patience)
        lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plateau)
    else:
        lr_scheduler = get_scheduler(opt.lr_scheduler if opt.lr_scheduler != "constant" else "constant_with_warmup", optimizer,
                                     num_warmup_steps=warmup, num_training_steps=max_steps * accelerator.num_processes)
    eval_every = config.evaluation.eval_every or max(1, steps_per_epoch // 2)
    logger.info("training: %d steps (%d per epoch), global batch %d, sampling %s, first-epoch mix %s, validation every %d steps",
                max_steps, steps_per_epoch, global_batch, opt.sampling,
                {k: round(v, 3) for k, v in schedule.probabilities(0).items()}, eval_every)

    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    val_dls = {n: accelerator.prepare_data_loader(dl) for n, dl in val_dls.items()}
    test_dls = {n: accelerator.prepare_data_loader(dl) for n, dl in test_dls.items()}
    if config.encoder.encoder == "transformer" and config.encoder.freeze_encoder:
        cache_frozen_features(config, accelerator, accelerator.unwrap_model(model), collator, train_dls, val_dls, test_dls)
    train_streams = {n: TaskBatches(accelerator.prepare_data_loader(dl)) for n, dl in train_dls.items()}
    for item in (adaptation or {}).values():
        item.stream = TaskBatches(accelerator.prepare_data_loader(item.stream.dataloader))
        item.measure_target = accelerator.prepare_data_loader(item.measure_target)
        item.measure_source = accelerator.prepare_data_loader(item.measure_source)
    weights = {n: opt.task_weight_overrides().get(n, 1.0) for n in tasks}
    if opt.task_balancing == "static" and any(w != 1.0 for w in weights.values()):
        logger.info("static task weights: %s", weights)
    return TrainingSetup(accelerator, tasks, tokenizer, model, optimizer, lr_scheduler, schedule, train_streams, val_dls,
                         test_dls, max_steps, steps_per_epoch, global_batch, eval_every, lineage, adaptation, plateau, weights,
                         train_datasets, collator, lazy)


def use_lazy_updates(config: TrainingConfig, accelerator: Accelerator) -> bool:
    """Whether the lookup tables train with sparse gradients and :class:`LazyAdamW` (``--lazy-updates``):
    by default with word vectors, where the run allows it (one process: sparse gradients are not
    reduced across processes here; no ``--sampling all``, whose gradient combination takes dense
    gradients; no fp16 loss scaling, which unscales dense gradients only).

    Raises:
        ConfigError: ``--lazy-updates true`` where the run does not allow it.
    """
    requested = config.optimization.lazy_updates
    if requested is False or (requested is None and config.encoder.encoder != "word_vectors"):
        return False
    obstacles = [why for why, present in (
        (f"{accelerator.num_processes} processes", accelerator.num_processes > 1),
        ("--sampling all", config.optimization.sampling == "all"),
        ("fp16 loss scaling", accelerator.scaler is not None)) if present]
    if obstacles and requested:
        raise ConfigError(f"--lazy-updates needs one process, sampled tasks and no fp16 loss scaling; this run has {', '.join(obstacles)}")
    if obstacles:
        logger.info("lazy updates off (%s): every row of the lookup tables is updated at each step", ", ".join(obstacles))
    return not obstacles


def cache_frozen_features(config: TrainingConfig, accelerator: Accelerator, model: MultiTaskModel, collator, train_dls: dict,
                          val_dls: dict, test_dls: dict) -> None:
    """Feature extraction: the frozen encoder runs once over each split of each task whose pooled
    vector is fixed; its dataloaders are replaced (in place) by ones over the cached vectors."""
    batch_size, eval_batch_size = config.optimization.batch_size, config.evaluation.eval_batch_size
    for name in train_dls:
        if not model.can_cache_features(name):
            logger.info("task %s: pooled vectors not cached (%s pooling has parameters, or word dropout is on)", name,
                        model.pooling_modes[name])
            continue
        t0 = time.time()
        cached = {split: cache_features(model, dl.dataset, name, accelerator, eval_batch_size, collator, desc=f"Encoding {name} ({split})")
                  for split, dl in (("train", train_dls[name]), ("validation", val_dls[name]), ("test", test_dls[name]))}
        train_dls[name] = DataLoader(cached["train"], batch_size=batch_size, shuffle=True)
        val_dls[name] = accelerator.prepare_data_loader(DataLoader(cached["validation"], batch_size=eval_batch_size))
        test_dls[name] = accelerator.prepare_data_loader(DataLoader(cached["test"], batch_size=eval_batch_size))
        logger.info("task %s: frozen encoder's pooled vectors cached for %s examples in %.1fs", name,
                    {s: len(d) for s, d in cached.items()}, time.time() - t0)
