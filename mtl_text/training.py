"""Joint multi-task training with Hugging Face Accelerate (``scripts/train.py`` calls :func:`main`).

The loop reads top to bottom:

1. load each task's splits (validation carved out of train, seeded);
2. build the tokenizer and the encoder (word vectors: vocabulary and Word2Vec on the training text
   only, or pretrained vectors; or a pretrained transformer and its own tokenizer);
3. tokenize every split (``datasets.map``), one dataloader per task and split; with a frozen encoder
   (feature extraction) the pooled vectors are computed once and the heads train on them;
4. train: at step ``s`` every process takes a batch of task ``schedule.task_at(s)`` (a pure function
   of the seed and the step, so all ranks run the same head in the same step: task-homogeneous
   batches, correct under data parallel training), forward through the shared encoder and that
   task's head, backward, step;
5. every ``--eval-every`` steps: per-task validation metrics (gathered across processes), the best
   model saved to the output folder, early stopping on the mean validation score;
6. at the end: the best model restored, the per-task test table printed and saved.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, get_scheduler

from .allocator import tune_malloc
from .checkpointing import CheckpointError, load_checkpoint, read_checkpoint_state, resolve_checkpoint, save_checkpoint
from .encoders import TransformerEncoder, WordVectorEncoder
from .features import cache_features
from .evaluation import evaluate, format_table, model_inputs
from .modeling import WEIGHTS_NAME, MultiTaskModel
from .optimization import parameter_groups
from .pooling import POOLING_MODES
from .sampling import STRATEGIES, TaskSchedule
from .readers import DataFormatError, DataNotFoundError
from .tasks import DATA_DIR_ENV, Task, UnknownTaskError, get_task, list_tasks, load_task_file, load_task_splits
from .tokenization import tokenize_splits, train_word_tokenizer, word_sequences
from .vectors import embedding_matrix, load_vectors, train_word2vec

logger = logging.getLogger("mtl_text.train")

DEFAULT_TASKS = ["20newsgroups", "sst2"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description="Train one shared encoder with one classification head per task, jointly on several tasks. "
        "Launch with `accelerate launch scripts/train.py ...` (or plain `python`, one process).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("tasks and data")
    g.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, metavar="TASK", help="tasks to train jointly, by registered name")
    g.add_argument("--task-file", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="a Python file (or dotted module) that registers extra tasks with mtl_text.register_task; repeatable")
    g.add_argument("--list-tasks", action="store_true", help="print the registered tasks and exit")
    g.add_argument("--data-dir", default=None, help=f"folder holding the tasks' data files (default: ${DATA_DIR_ENV}); "
                   "where files are absent the tasks download from their real sources")
    g.add_argument("--validation-size", type=float, default=0.1, help="fraction of each task's train split held out (stratified) for validation")
    g.add_argument("--max-length", nargs="+", default=[], metavar="TASK=N",
                   help="override a task's maximum length in tokens (special tokens included); longer texts keep their first "
                   "N tokens. A transformer's limit (position embeddings, tokenizer's model_max_length) caps every task's length")
    g.add_argument("--cache-dir", default=str(Path(datasets.config.HF_DATASETS_CACHE) / "mtl_text"),
                   help="where tokenized splits are cached between runs (Arrow files named by a hash of texts, tokenizer and "
                   "max length); 'none' to tokenize in memory every time")
    g.add_argument("--max-train-examples", type=int, default=None,
                   help="use only the first N (shuffled, seeded) training examples of each task; for quick runs and tests")

    g = p.add_argument_group("encoder")
    g.add_argument("--encoder", choices=["word_vectors", "transformer"], default="word_vectors",
                   help="the shared encoder family: word vectors + pooling, or a pretrained Hugging Face transformer")
    g.add_argument("--freeze-encoder", action="store_true",
                   help="feature extraction: the encoder does not train, only poolings and heads do; with a transformer and "
                   "parameter-free pooling its pooled vectors are computed once and cached")
    g.add_argument("--pooling", nargs="+", default=[], metavar="MODE|TASK=MODE",
                   help=f"how each task turns the shared token vectors into one vector per text, one of {', '.join(POOLING_MODES)}; "
                   "default: with word vectors each task's own (mean for sentences, attention for 20newsgroups), with a transformer "
                   "mean; a bare MODE applies to every task, TASK=MODE to one (attention is learned per task)")

    g = p.add_argument_group("transformer encoder (--encoder transformer)")
    g.add_argument("--model-name-or-path", default=None, metavar="NAME_OR_DIR",
                   help="any model loadable with AutoModel/AutoTokenizer: a hub id (e.g. sentence-transformers/all-MiniLM-L6-v2) "
                   "or a local folder (e.g. ../shared/models/all-MiniLM-L6-v2)")
    g.add_argument("--trust-remote-code", action="store_true", help="allow models whose code lives on the hub (off: only transformers' own)")
    g.add_argument("--freeze-layers", type=int, default=None, metavar="K",
                   help="partial freezing: the embeddings and the bottom K layers stay fixed, the layers above train (0: embeddings only)")
    g.add_argument("--layer-lr-decay", type=float, default=1.0,
                   help="layer-wise learning-rate decay: each layer below the top trains at this factor times the rate of the "
                   "layer above (1: the same rate everywhere)")

    g = p.add_argument_group("encoder (word vectors)")
    g.add_argument("--vectors", default=None, metavar="FILE",
                   help="pretrained vectors (word2vec .bin, word2vec or GloVe .txt) to initialise the embeddings; "
                   "default: train Word2Vec on the selected tasks' training text")
    g.add_argument("--embedding-dim", type=int, default=128, help="size of the Word2Vec vectors (ignored with --vectors)")
    g.add_argument("--w2v-epochs", type=int, default=5, help="Word2Vec passes over the training text")
    g.add_argument("--w2v-window", type=int, default=5, help="Word2Vec context window")
    g.add_argument("--w2v-skipgram", action="store_true", help="Word2Vec skip-gram instead of CBOW")
    g.add_argument("--random-init", action="store_true", help="random embeddings, no Word2Vec and no vectors file (a no-transfer baseline)")
    g.add_argument("--min-word-frequency", type=int, default=2, help="words rarer than this in the training text map to [UNK]")
    g.add_argument("--max-vocab-size", type=int, default=None, help="keep at most this many (most frequent) words")

    g = p.add_argument_group("heads")
    g.add_argument("--head-hidden-size", type=int, default=256, help="hidden width of each task's head; 0 for a linear head")
    g.add_argument("--head-dropout", type=float, default=0.1, help="dropout in each head")
    g.add_argument("--word-dropout", type=float, default=None,
                   help="training only: probability of leaving each token out of the pooling (Iyyer et al. 2015); "
                   "default 0.3 with word vectors, 0 with a transformer")

    g = p.add_argument_group("optimisation")
    g.add_argument("--seed", type=int, default=42, help="seeds the validation split, the task schedule, shuffling and initialisation")
    g.add_argument("--num-epochs", type=float, default=3.0,
                   help="training length; one epoch = (sum of the tasks' training examples) / (global batch size) steps")
    g.add_argument("--max-steps", type=int, default=None, help="training length in optimizer steps; overrides --num-epochs")
    g.add_argument("--batch-size", type=int, default=32, help="examples per batch and process")
    g.add_argument("--gradient-accumulation-steps", type=int, default=1, help="batches per optimizer step")
    g.add_argument("--learning-rate", type=float, default=None,
                   help="peak learning rate (AdamW) of the encoder (of its top layer with --layer-lr-decay); "
                   "default 1e-2 with word vectors, 5e-5 with a transformer")
    g.add_argument("--head-learning-rate", type=float, default=None,
                   help="peak learning rate of the poolings and heads; default: --learning-rate with word vectors, 1e-3 with a transformer")
    g.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (not applied to biases and embeddings)")
    g.add_argument("--warmup-ratio", type=float, default=None,
                   help="fraction of steps with linear warm-up, then linear decay to 0; default 0 with word vectors, 0.06 with a transformer")
    g.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0 to turn off)")
    g.add_argument("--sampling", choices=STRATEGIES, default="temperature", help="task sampling strategy")
    g.add_argument("--temperature", type=float, default=2.0, help="T of temperature sampling, p_i ~ N_i^(1/T)")

    g = p.add_argument_group("evaluation, early stopping and output")
    g.add_argument("--output-dir", default="runs/mtl-text", help="where the best model, metrics.jsonl and the test table go")
    g.add_argument("--eval-every", type=int, default=None, help="validate every N optimizer steps (default: twice per epoch)")
    g.add_argument("--eval-batch-size", type=int, default=128, help="examples per evaluation batch and process")
    g.add_argument("--metric-for-best", choices=["accuracy", "macro_f1"], default="accuracy",
                   help="validation metric averaged over tasks for model selection and early stopping")
    g.add_argument("--patience", type=int, default=4, help="stop after this many validations without improvement (0: never)")
    g.add_argument("--log-every", type=int, default=50, help="write the training loss to metrics.jsonl every N steps")

    g = p.add_argument_group("checkpoints and resuming")
    g.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="also write a checkpoint every N optimizer steps (one is always written at each validation)")
    g.add_argument("--save-total-limit", type=int, default=2, metavar="K",
                   help="keep the K newest checkpoints, and the best one, in OUTPUT_DIR/checkpoints (0: write none)")
    g.add_argument("--resume-from-checkpoint", default=None, metavar="DIR|latest",
                   help="continue a run from a checkpoint folder, or from the newest one in --output-dir; with the same "
                   "options, the result equals that of an uninterrupted run")
    return p


def parse_args(argv=None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse and check train.py's options (``parser``: :func:`build_parser`'s, possibly extended) and
    fill the defaults that depend on the encoder."""
    args = (parser or build_parser()).parse_args(argv)
    overrides = {}
    for item in args.max_length:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--max-length: expected TASK=N with N >= 1, got {item!r}")
        overrides[name] = int(value)
    args.max_length = overrides
    args.pooling = parse_pooling(args.pooling)
    transformer = args.encoder == "transformer"
    if transformer and not args.model_name_or_path:
        raise SystemExit("--encoder transformer needs --model-name-or-path (a hub id or a local model folder)")
    if args.freeze_layers is not None and not transformer:
        raise SystemExit("--freeze-layers applies to --encoder transformer only")
    if args.freeze_layers is not None and args.freeze_encoder:
        raise SystemExit("--freeze-layers and --freeze-encoder exclude each other (the latter freezes every layer)")
    defaults = {"word_dropout": (0.3, 0.0), "learning_rate": (1e-2, 5e-5), "warmup_ratio": (0.0, 0.06)}
    for name, (word_vectors, transformer_default) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, transformer_default if transformer else word_vectors)
    if args.head_learning_rate is None:
        args.head_learning_rate = 1e-3 if transformer else args.learning_rate
    return args


def parse_pooling(items: list[str]) -> dict[str, str]:
    """``["attention", "sst2=mean"]`` -> ``{"*": "attention", "sst2": "mean"}`` ("*": every other task)."""
    modes = {}
    for item in items:
        name, sep, mode = item.rpartition("=")
        if mode not in POOLING_MODES:
            raise SystemExit(f"--pooling: {mode!r} is not a pooling mode; expected one of {', '.join(POOLING_MODES)}")
        modes[name if sep else "*"] = mode
    return modes


class TaskBatches:
    """An endless stream of one task's training batches: each pass over the (prepared) dataloader is
    one task epoch, reshuffled through ``set_epoch`` (the order is a function of the seed and the
    epoch). ``state()`` / ``restore()`` save and replay the position, for resuming."""

    def __init__(self, dataloader):
        self.dataloader = dataloader
        self.epoch = 0
        self.position = 0  # batches taken in the current epoch
        self._it = None

    def _start_epoch(self):
        if hasattr(self.dataloader, "set_epoch"):
            self.dataloader.set_epoch(self.epoch)
        self._it = iter(self.dataloader)
        self.position = 0

    def next(self):
        while True:
            if self._it is None:
                self._start_epoch()
            try:
                batch = next(self._it)
                self.position += 1
                return batch
            except StopIteration:
                self._it = None
                self.epoch += 1

    def state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict) -> None:
        """Continue after the first ``position`` batches of epoch ``epoch`` (same seed, same batches)."""
        self.epoch, self._it = int(state["epoch"]), None
        if state["position"]:
            self._start_epoch()
            for _ in range(int(state["position"])):
                next(self._it)
            self.position = int(state["position"])


def build_word_vector_encoder(args, train_texts: list[str]):
    """Tokenizer + word-vector encoder whose vocabulary and vectors come from ``train_texts`` only."""
    t0 = time.time()
    tokenizer = train_word_tokenizer(train_texts, min_frequency=args.min_word_frequency, max_vocab_size=args.max_vocab_size)
    vocab = tokenizer.get_vocab()
    logger.info("vocabulary: %d words (min frequency %d) in %.1fs", len(vocab), args.min_word_frequency, time.time() - t0)
    if args.random_init:
        matrix, dim = None, args.embedding_dim
        logger.info("embeddings: random initialisation (%d dimensions)", dim)
    else:
        t0 = time.time()
        if args.vectors:
            vectors = load_vectors(args.vectors)
            source = args.vectors
        else:
            vectors = train_word2vec(word_sequences(tokenizer, train_texts), vector_size=args.embedding_dim, window=args.w2v_window,
                                     epochs=args.w2v_epochs, sg=args.w2v_skipgram, seed=args.seed)
            source = "Word2Vec trained on the training text"
        matrix, found = embedding_matrix(vocab, vectors, seed=args.seed)
        dim = matrix.shape[1]
        logger.info("embeddings: %s, %d dimensions, %d/%d words found (%.1f%%) in %.1fs", source, dim, found, len(vocab) - 2,
                    100 * found / max(len(vocab) - 2, 1), time.time() - t0)
    encoder = WordVectorEncoder(len(vocab), dim, freeze=args.freeze_encoder, embeddings=matrix)
    return tokenizer, encoder


def build_transformer_encoder(args):
    """The transformer's own fast tokenizer and its pretrained weights (``AutoTokenizer``/``AutoModel``)."""
    from transformers import AutoTokenizer

    t0 = time.time()
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, use_fast=True, trust_remote_code=args.trust_remote_code)
    if not tokenizer.is_fast:
        raise SystemExit(f"{args.model_name_or_path}: no fast tokenizer; mtl-text needs one (tokenizers library)")
    encoder = TransformerEncoder.from_pretrained(args.model_name_or_path, freeze=args.freeze_encoder, freeze_layers=args.freeze_layers,
                                                 trust_remote_code=args.trust_remote_code)
    mode = ("feature extraction (frozen)" if args.freeze_encoder else
            f"fine-tuning, embeddings + bottom {args.freeze_layers} layers frozen" if args.freeze_layers is not None else "full fine-tuning")
    logger.info("encoder: %s (%s, hidden %d), %s, loaded in %.1fs", args.model_name_or_path, type(encoder.model).__name__,
                encoder.hidden_size, mode, time.time() - t0)
    return tokenizer, encoder


@dataclass
class TrainingSetup:
    """Everything the training loop needs, built from the arguments by :func:`setup_training`."""

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


def make_accelerator(args: argparse.Namespace) -> Accelerator:
    """The run's ``Accelerator`` (launch settings come from ``accelerate launch``), logging, seeds and the
    process's malloc settings (:func:`mtl_text.allocator.tune_malloc`)."""
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        # Each step trains one task's head; the other heads get no gradient on any rank in that step.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
                        level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    datasets.disable_progress_bars()  # tokenizing takes seconds; the training bar is the one that matters
    datasets.utils.logging.set_verbosity_warning()
    logging.getLogger("gensim").setLevel(logging.WARNING)
    logger.info("running on %d process(es), device %s, mixed precision %s, %d CPU thread(s) per process", accelerator.num_processes,
                accelerator.device, accelerator.mixed_precision, torch.get_num_threads())
    logger.info(tune_malloc())
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > accelerator.num_processes:  # e.g. torchrun on a CPU machine without ACCELERATE_USE_CPU=1
        raise SystemExit(f"error: launched as {world} processes (WORLD_SIZE={world}) but Accelerate sees {accelerator.num_processes}: "
                         "each would train alone and write the same output folder. On a CPU machine set ACCELERATE_USE_CPU=1 "
                         "(e.g. ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 scripts/train.py ...)")
    cores = os.cpu_count() or 1
    if accelerator.device.type == "cpu" and torch.get_num_threads() == 1 and cores > accelerator.num_processes:
        logger.warning("PyTorch uses 1 CPU thread of %d cores (OMP_NUM_THREADS=%s; `accelerate launch` without --cpu sets 1): "
                       "pass `--num_cpu_threads_per_process %d` to accelerate launch", cores, os.environ.get("OMP_NUM_THREADS"),
                       cores // accelerator.num_processes)
    set_seed(args.seed)
    return accelerator


def setup_training(args: argparse.Namespace, accelerator: Accelerator) -> TrainingSetup:
    """Steps 1-4: data, tokenizer and encoder, model, dataloaders, optimizer and schedules."""
    # --- 1. tasks and data ---------------------------------------------------------------------
    tasks = {name: get_task(name) for name in args.tasks}
    unknown = (set(args.max_length) | set(args.pooling) - {"*"}) - set(tasks)
    if unknown:
        raise SystemExit(f"--max-length or --pooling names task(s) {sorted(unknown)} that are not in --tasks {args.tasks}")
    splits = {}
    for name, task in tasks.items():
        splits[name] = load_task_splits(task, args.data_dir, seed=args.seed, validation_size=args.validation_size,
                                        max_train_examples=args.max_train_examples)
        logger.info("task %s: %s, %d labels", name, {s: len(d) for s, d in splits[name].items()}, task.num_labels)

    # --- 2. tokenizer and encoder (word vectors: from training text only) ----------------------
    if args.encoder == "transformer":
        tokenizer, encoder = build_transformer_encoder(args)
    else:
        train_texts = [text for name in tasks for text in splits[name]["train"]["text"]]
        tokenizer, encoder = build_word_vector_encoder(args, train_texts)
    # a task's own pooling is meant for word vectors; a transformer's token vectors pool by its default
    pooling = {name: args.pooling.get(name, args.pooling.get("*", task.pooling if args.encoder == "word_vectors" else encoder.default_pooling))
               for name, task in tasks.items()}
    # the encoder's position embeddings and the tokenizer's declared limit cap every task's length
    limits = [n for n in (encoder.max_length, tokenizer.model_max_length) if n and n < 1_000_000]
    limit = min(limits) if limits else None
    max_lengths = {}
    for name, task in tasks.items():
        max_lengths[name] = args.max_length.get(name, task.max_length)
        if limit and max_lengths[name] > limit:
            logger.info("task %s: max length %d capped at the encoder's limit of %d tokens", name, max_lengths[name], limit)
            max_lengths[name] = limit
    logger.info("max length in tokens (longer texts keep their first tokens): %s", max_lengths)
    model = MultiTaskModel(encoder, {n: {"labels": t.labels, "max_length": max_lengths[n]} for n, t in tasks.items()},
                           pooling=pooling, head_hidden_size=args.head_hidden_size, head_dropout=args.head_dropout,
                           word_dropout=args.word_dropout)
    logger.info("pooling: %s", pooling)
    logger.info("model: %.2fM parameters (%.2fM trainable)", sum(p.numel() for p in model.parameters()) / 1e6,
                sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)

    # --- 3. tokenized datasets and dataloaders ------------------------------------------------
    collator = DataCollatorWithPadding(tokenizer)
    train_dls, val_dls, test_dls = {}, {}, {}
    t0 = time.time()
    cache_dir = None if args.cache_dir.lower() == "none" else args.cache_dir
    for name in tasks:
        with accelerator.main_process_first():  # the main process writes the cache, the others read it
            tokenized = tokenize_splits(splits[name], tokenizer, max_lengths[name], cache_dir=cache_dir)
        train_dls[name] = DataLoader(tokenized["train"], batch_size=args.batch_size, shuffle=True, collate_fn=collator)
        val_dls[name] = DataLoader(tokenized["validation"], batch_size=args.eval_batch_size, collate_fn=collator)
        test_dls[name] = DataLoader(tokenized["test"], batch_size=args.eval_batch_size, collate_fn=collator)
    logger.info("tokenized every split in %.1fs", time.time() - t0)

    # --- 4. optimizer, schedule of tasks, learning-rate schedule -------------------------------
    groups = parameter_groups(model, args.learning_rate, args.head_learning_rate, args.layer_lr_decay, args.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, fused=True)  # fused kernels: CPU and CUDA, ~3x faster here
    logger.info("learning rates: encoder %g (layer decay %g), heads %g, warm-up %.0f%%", args.learning_rate, args.layer_lr_decay,
                args.head_learning_rate, 100 * args.warmup_ratio)
    sizes = {name: len(splits[name]["train"]) for name in tasks}
    global_batch = args.batch_size * accelerator.num_processes * args.gradient_accumulation_steps
    steps_per_epoch = max(1, math.ceil(sum(sizes.values()) / global_batch))
    max_steps = args.max_steps or max(1, math.ceil(args.num_epochs * steps_per_epoch))
    num_epochs = max(1, math.ceil(max_steps / steps_per_epoch))
    schedule = TaskSchedule(sizes, seed=args.seed, steps_per_epoch=steps_per_epoch * args.gradient_accumulation_steps,
                            num_epochs=num_epochs, strategy=args.sampling, temperature=args.temperature)
    # Accelerate's prepared scheduler advances num_processes times per optimizer step, so the schedule
    # is laid out in those units (as in Accelerate's examples); the LR then reaches 0 at max_steps.
    lr_scheduler = get_scheduler("linear", optimizer, num_warmup_steps=int(args.warmup_ratio * max_steps) * accelerator.num_processes,
                                 num_training_steps=max_steps * accelerator.num_processes)
    eval_every = args.eval_every or max(1, steps_per_epoch // 2)
    logger.info("training: %d steps (%d per epoch), global batch %d, sampling %s, first-epoch mix %s, validation every %d steps",
                max_steps, steps_per_epoch, global_batch, args.sampling,
                {k: round(v, 3) for k, v in schedule.probabilities(0).items()}, eval_every)

    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    val_dls = {n: accelerator.prepare_data_loader(dl) for n, dl in val_dls.items()}
    test_dls = {n: accelerator.prepare_data_loader(dl) for n, dl in test_dls.items()}
    unwrapped = accelerator.unwrap_model(model)
    for name in tasks if args.encoder == "transformer" and args.freeze_encoder else ():
        # feature extraction: the frozen encoder runs once over each split
        if not unwrapped.can_cache_features(name):
            logger.info("task %s: pooled vectors not cached (%s pooling has parameters, or word dropout is on)", name, pooling[name])
            continue
        t0 = time.time()
        cached = {split: cache_features(unwrapped, dl.dataset, name, accelerator, args.eval_batch_size, collator)
                  for split, dl in (("train", train_dls[name]), ("validation", val_dls[name]), ("test", test_dls[name]))}
        train_dls[name] = DataLoader(cached["train"], batch_size=args.batch_size, shuffle=True)
        val_dls[name] = accelerator.prepare_data_loader(DataLoader(cached["validation"], batch_size=args.eval_batch_size))
        test_dls[name] = accelerator.prepare_data_loader(DataLoader(cached["test"], batch_size=args.eval_batch_size))
        logger.info("task %s: frozen encoder's pooled vectors cached for %s examples in %.1fs", name,
                    {s: len(d) for s, d in cached.items()}, time.time() - t0)
    train_streams = {n: TaskBatches(accelerator.prepare_data_loader(dl)) for n, dl in train_dls.items()}
    return TrainingSetup(accelerator, tasks, tokenizer, model, optimizer, lr_scheduler, schedule, train_streams, val_dls,
                         test_dls, max_steps, steps_per_epoch, global_batch, eval_every)


def train(args: argparse.Namespace) -> dict:
    """Run one training job; returns the test metrics per task."""
    accelerator = make_accelerator(args)
    output_dir = Path(args.output_dir)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        if not args.resume_from_checkpoint:  # a resumed run appends to its metrics
            (output_dir / "metrics.jsonl").write_text("")
    run = setup_training(args, accelerator)
    summary = fit(run, args, output_dir)

    # --- 6. best model back, test table -------------------------------------------------------
    accelerator.wait_for_everyone()
    model = run.model
    accelerator.unwrap_model(model).load_weights(output_dir / WEIGHTS_NAME)
    results = evaluate(model, run.test_dataloaders, run.tasks, accelerator)
    table = format_table(results)
    log_record(accelerator, output_dir, {"step": summary["steps"], "split": "test", "metrics": results})
    if accelerator.is_main_process:
        (output_dir / "test_results.json").write_text(json.dumps({**summary, "num_processes": accelerator.num_processes,
                                                                   "metrics": results}, indent=2) + "\n")
        (output_dir / "test_results.md").write_text(table + "\n")
        print(f"\nTest results (best validation model, {summary['steps']} steps, {summary['train_seconds']:.0f}s of training):\n"
              f"{table}\nModel saved to {output_dir}", flush=True)
    accelerator.end_training()
    return results


def log_record(accelerator: Accelerator, output_dir: Path, record: dict) -> None:
    """Append one JSON line to ``metrics.jsonl`` (main process only)."""
    if accelerator.is_main_process:
        with open(output_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


def fit(run: TrainingSetup, args: argparse.Namespace, output_dir: Path) -> dict:
    """Step 5, the training loop: task-sampled steps, logging, validation, the best model saved to
    ``output_dir``, early stopping.

    Returns:
        ``steps`` done, ``train_seconds`` (wall time of the loop), ``validation_seconds`` (of it, in
        validation and saving), ``train_samples_per_second`` (examples per second of training steps,
        all processes together).
    """
    accelerator, tasks, model, optimizer, lr_scheduler, schedule = (run.accelerator, run.tasks, run.model, run.optimizer,
                                                                    run.lr_scheduler, run.schedule)
    max_steps, steps_per_epoch, eval_every = run.max_steps, run.steps_per_epoch, run.eval_every
    saved_config = {"training_args": dict(vars(args))}

    def log(record: dict) -> None:
        log_record(accelerator, output_dir, record)

    best_score, best_step, evals_without_improvement, step, eval_seconds, checkpoint_seconds = -math.inf, None, 0, 0, 0.0, 0.0

    def trainer_state() -> dict:
        return {"step": step, "best_score": None if best_score == -math.inf else best_score, "best_step": best_step,
                "evals_without_improvement": evals_without_improvement, "streams": {n: s.state() for n, s in run.train_streams.items()}}

    # --- resume: data streams positioned first, then weights, optimizer, scheduler and generators --
    if args.resume_from_checkpoint:
        path = resolve_checkpoint(args.resume_from_checkpoint, output_dir)
        saved = read_checkpoint_state(path)["trainer"]
        if set(saved["streams"]) != set(tasks):
            raise CheckpointError(f"{path}: a checkpoint of tasks {sorted(saved['streams'])}, not {sorted(tasks)}")
        for name, stream_state in saved["streams"].items():
            run.train_streams[name].restore(stream_state)
        load_checkpoint(accelerator, path, model, optimizer, lr_scheduler)
        step, best_step, evals_without_improvement = saved["step"], saved["best_step"], saved["evals_without_improvement"]
        best_score = -math.inf if saved["best_score"] is None else saved["best_score"]
        logger.info("resumed from %s at step %d (best mean validation %s at step %s)", path, step, saved["best_score"], best_step)

    running = {n: [0.0, 0] for n in tasks}
    progress = tqdm(total=max_steps, initial=step, desc="Training", disable=not accelerator.is_main_process, dynamic_ncols=True)
    t_start = time.time()
    model.train()
    micro_step, first_step = step * args.gradient_accumulation_steps, step
    while step < max_steps:
        for _ in range(args.gradient_accumulation_steps):
            task = schedule.task_at(micro_step)
            micro_step += 1
            batch = run.train_streams[task].next()
            with accelerator.accumulate(model):
                logits = model(**model_inputs(batch), task=task)
                loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            running[task][0] += loss.item()
            running[task][1] += 1
        step += 1
        progress.update(1)

        if step % args.log_every == 0 or step == max_steps:
            losses = {n: s / c for n, (s, c) in running.items() if c}
            progress.set_postfix({n: f"{v:.3f}" for n, v in losses.items()})
            log({"step": step, "split": "train", "epoch": round(step / steps_per_epoch, 3), "lr": lr_scheduler.get_last_lr()[0],
                 "loss": losses})
            running = {n: [0.0, 0] for n in tasks}

        validated = stop = False
        if step % eval_every == 0 or step == max_steps:
            validated, t_eval = True, time.time()
            results = evaluate(model, run.val_dataloaders, tasks, accelerator)
            score = sum(r[args.metric_for_best] for r in results.values()) / len(results)
            log({"step": step, "split": "validation", "epoch": round(step / steps_per_epoch, 3), "elapsed_s": round(time.time() - t_start, 1),
                 "metrics": results, f"mean_{args.metric_for_best}": score})
            summary = ", ".join(f"{n} acc {r['accuracy']:.4f} F1 {r['macro_f1']:.4f}" for n, r in results.items())
            if score > best_score:
                best_score, best_step, evals_without_improvement = score, step, 0
                if accelerator.is_main_process:
                    accelerator.unwrap_model(model).save_pretrained(output_dir, run.tokenizer, {**saved_config, "best_step": step})
                progress.write(f"step {step}: validation {summary}; mean {args.metric_for_best} {score:.4f} (best, saved)")
            else:
                evals_without_improvement += 1
                progress.write(f"step {step}: validation {summary}; mean {args.metric_for_best} {score:.4f} "
                               f"(best {best_score:.4f}, {evals_without_improvement}/{args.patience or '-'} without improvement)")
            eval_seconds += time.time() - t_eval
            stop = bool(args.patience and evals_without_improvement >= args.patience)

        # --- checkpoint: every --save-every steps and at each validation --------------------------
        if args.save_total_limit and (validated or (args.save_every and step % args.save_every == 0)):
            t_save = time.time()
            save_checkpoint(accelerator, output_dir, step, model, optimizer, lr_scheduler, trainer_state(), keep=args.save_total_limit,
                            protect=best_step)
            checkpoint_seconds += time.time() - t_save
        if stop:
            logger.info("early stopping at step %d", step)
            break
    progress.close()
    train_seconds = time.time() - t_start
    # examples per second of the training steps alone (validation and checkpoints left out)
    samples_per_second = (step - first_step) * run.global_batch / max(train_seconds - eval_seconds - checkpoint_seconds, 1e-9)
    return {"steps": step, "train_seconds": round(train_seconds, 1), "validation_seconds": round(eval_seconds, 1),
            "checkpoint_seconds": round(checkpoint_seconds, 1), "train_samples_per_second": round(samples_per_second, 2)}


def main(argv=None) -> None:
    """Command-line entry point. Bad input (an unknown task, missing or malformed data files, a bad
    task file) ends the program with one ``error:`` line and exit status 2."""
    args = parse_args(argv)
    try:
        for spec in args.task_file:
            load_task_file(spec)
        if args.list_tasks:
            for name in list_tasks():
                task = get_task(name)
                print(f"{name:16} {task.num_labels:3d} labels  {task.pooling:9} pooling  {task.description}")
            return
        train(args)
    except (UnknownTaskError, DataNotFoundError, DataFormatError, OSError, ModuleNotFoundError) as e:  # CheckpointError too
        logging.getLogger("mtl_text.train").debug("bad input", exc_info=True)
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    sys.exit(main())
