"""The training configuration: typed option groups, one source for the command line
(``mtl-text train --help``, generated from these dataclasses) and for Python (:func:`mtl_text.train`).

Example::

    from mtl_text import TrainingConfig, train

    config = TrainingConfig.from_options(tasks=["sst2", "trec"], max_steps=300, output_dir="runs/demo")
    result = train(config)
    print(result.metrics["sst2"]["accuracy"])

or group by group: ``TrainingConfig(data=DataArguments(tasks=[...]), optimization=OptimizationArguments(max_steps=300))``.

Every numeric option declares its range in its type; a value out of range, or options that exclude
each other, raise :class:`~mtl_text.errors.ConfigError` naming the option when the configuration is
built, before anything is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import datasets

from .. import __version__
from ..arguments import (
    DEFAULT_VALIDATION_SIZE,
    Arguments,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Probability,
    Range,
    Seed,
    TaskValues,
    chosen_tasks,
    data_dir_option,
    field_ranges,
    group_validation_option,
    non_empty,
    number_in,
    option_error,
    option_name,
    positive_integer,
    seed_option,
    task_file_option,
)
from ..data.sampling import STRATEGIES
from ..errors import ConfigError
from ..modeling.hub import check_license, is_hub_id, resolve_config, upload_target
from ..modeling.options import LORA_DROPOUT, POOLING_MODES, check_peft, check_window_stride

if TYPE_CHECKING:
    from ..data.tasks import Task

logger = logging.getLogger("mtl_text.train")

DEFAULT_TASKS = ["20newsgroups", "sst2"]
DEFAULT_WIDE_BUCKETS = 262144  # --wide-buckets with word vectors: 2**18 rows per task (docs/benchmark.md, "A wide part")
TRACKERS = ("none", "all", "tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive")


# task-balancing modes (mtl_text.training.balancing implements them): static weights, learned uncertainty
# weights, and the gradient aggregations through torchjd
BALANCING = ("static", "uncertainty", "pcgrad", "upgrad", "mgda")
GRADIENT_BALANCING = ("pcgrad", "upgrad", "mgda")
AVERAGING_MODES = ("none", "ema", "swa")  # --weight-averaging (training/averaging.py)


def check_named_tasks(named: Mapping[str, Iterable[str]], tasks: Sequence[str]) -> None:
    """Options that name tasks (option -> the tasks it names) against ``--tasks``.

    Raises:
        ConfigError: the first option naming a task not in ``tasks``, with those tasks.
    """
    for option, names in named.items():
        unknown = sorted(set(names) - set(tasks))
        if unknown:
            raise ConfigError(f"{option} names task(s) {unknown} that are not in --tasks {list(tasks)}")


def pooling_mode(text: str) -> str:
    """``MODE`` of ``--pooling``: one of :data:`~mtl_text.modeling.options.POOLING_MODES`
    (:class:`ValueError` otherwise)."""
    if text not in POOLING_MODES:
        raise ValueError(text)
    return text


POSITIVE_WEIGHT = number_in(Range(min=0, min_exclusive=True))  # a finite number > 0, as a Range checks it


def class_weight(text: str) -> str | list[float] | None:
    """``VALUE`` of ``--class-weights``: ``"balanced"``, ``None`` for ``none``, or the weights of
    ``W1,W2,...``, each > 0 (:class:`ValueError` otherwise)."""
    if text in ("balanced", "none"):
        return None if text == "none" else text
    return [POSITIVE_WEIGHT(w) for w in text.split(",")]


@dataclass
class DataArguments(Arguments):
    """Which tasks, where their data is, and how it is split and cut."""

    _argument_group_name = "tasks and data"

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS), metadata={
        "metavar": "TASK", "help": "tasks to train jointly, by registered name"})
    task_file: list[str] = task_file_option()
    data_dir: str | None = data_dir_option()
    validation_size: Fraction = field(default=DEFAULT_VALIDATION_SIZE, metadata={
        "help": "fraction of each task's train split held out (stratified) for validation"})
    group_validation: bool = group_validation_option(
        "carve the validation split (and --cv-folds' folds) by the groups a task declares, a group on one side: SST-2's "
        "sentence with its phrases, so that validation scores no phrase of a training sentence. --no-group-validation "
        "draws examples one by one")
    max_length: Annotated[list[str], TaskValues("TASK=N with N >= 1", positive_integer)] = field(default_factory=list, metadata={
        "metavar": "TASK=N",
        "help": "override a task's maximum length in tokens (special tokens included); longer texts keep their first N tokens. "
                "A transformer's limit (position embeddings, tokenizer's model_max_length) caps every task's length"})
    cache_dir: str = field(default=str(Path(datasets.config.HF_DATASETS_CACHE) / "mtl_text"), metadata={
        "help": "where tokenized splits are cached between runs (Arrow files named by a hash of texts, tokenizer and max length); "
                "'none' to tokenize in memory every time"})
    max_train_examples: PositiveInt | None = field(default=None, metadata={
        "help": "use only the first N (shuffled, seeded) training examples of each task; for quick runs and tests"})
    task_train_examples: Annotated[list[str], TaskValues("TASK=N with N >= 1", positive_integer)] = field(default_factory=list, metadata={
        "metavar": "TASK=N", "help": "like --max-train-examples for one task (e.g. few labels of a target task beside full source tasks)"})
    cv_folds: Annotated[int | None, Range(min=2)] = field(default=None, metadata={
        "metavar": "K",
        "help": "k-fold cross-validation: split each task's training data into K folds (stratified, seeded) and train K models, "
                "fold k the validation split of model k; prints and writes the mean and std of every metric over the folds "
                "(OUTPUT_DIR/cv_results.json; models in OUTPUT_DIR/fold-k). For small tasks where one validation split is too noisy"})
    fold: NonNegativeInt | None = field(default=None, metadata={
        "help": "train on one fold of --cv-folds only (0 to K-1): fold k is the validation split, the others train"})

    def __post_init__(self):
        super().__post_init__()
        if not self.tasks:
            raise ConfigError("--tasks: name at least one task")
        if self.fold is not None and (self.cv_folds is None or self.fold >= self.cv_folds):
            raise ConfigError(f"--fold {self.fold} needs --cv-folds K with K > {self.fold}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"--tasks: a task is named twice in {self.tasks}")
        check_named_tasks({"--task-train-examples": self.task_values("task_train_examples")}, self.tasks)

    def train_example_limits(self) -> dict[str, int | None]:
        """Each task's training-example limit: ``--task-train-examples``, else ``--max-train-examples`` (``None``: all).

        Raises:
            ConfigError: an item that is not ``TASK=N`` with ``N >= 1``, or a task named twice.
        """
        limits = self.task_values("task_train_examples")
        return {name: limits.get(name, self.max_train_examples) for name in self.tasks}

    def max_length_overrides(self) -> dict[str, int]:
        """``--max-length`` as task name -> N.

        Raises:
            ConfigError: an item that is not ``TASK=N`` with ``N >= 1``, or a task named twice.
        """
        return self.task_values("max_length")


@dataclass
class EncoderArguments(Arguments):
    """The shared encoder: word vectors with pooling, or a pretrained transformer."""

    _argument_group_name = "encoder"

    encoder: Literal["word_vectors", "transformer"] | None = field(default=None, metadata={
        "help": "the shared encoder family: word_vectors (+ pooling) or a pretrained Hugging Face transformer; default word_vectors, "
                "or the family of the --init-from model"})
    freeze_encoder: bool = field(default=False, metadata={
        "help": "feature extraction: the encoder does not train, only poolings, heads and wide parts do; with a transformer and parameter-free "
                "pooling its pooled vectors are computed once and cached"})
    pooling: Annotated[list[str], TaskValues(f"MODE or TASK=MODE with MODE one of {', '.join(POOLING_MODES)}", pooling_mode,
                                             bare=True)] = field(default_factory=list, metadata={
        "metavar": "MODE|TASK=MODE",
        "help": f"how each task turns the shared token vectors into one vector per text, one of {', '.join(POOLING_MODES)}; default: "
                "with word vectors each task's own (mean for sentences, attention for 20newsgroups), with a transformer mean; a bare "
                "MODE applies to every task, TASK=MODE to one (attention and cnn, Kim 2014's CNN, are learned per task)"})
    init_from: str | None = field(default=None, metadata={
        "metavar": "MODEL_DIR",
        "help": "sequential transfer: start from a saved mtl-text model (a folder, or a Hub id OWNER/NAME[@REVISION] where no "
                "such path exists here): its encoder and tokenizer (vocabulary), and the heads of "
                "tasks with the same name, labels and problem type; other tasks get new heads. Combines with --freeze-encoder "
                "(feature extraction from the saved encoder), --freeze-layers and full fine-tuning; excludes --model-name-or-path, "
                "--vectors and --random-init"})
    # transformer
    model_name_or_path: str | None = field(default=None, metadata={
        "metavar": "NAME_OR_DIR",
        "help": "(transformer) any model loadable with AutoModel/AutoTokenizer: a hub id (e.g. sentence-transformers/all-MiniLM-L6-v2, "
                "or NAME@REVISION for a branch, tag or commit) or a local folder (e.g. ../shared/models/all-MiniLM-L6-v2)"})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "(transformer) allow models whose code lives on the hub (off: only transformers' own)"})
    freeze_layers: NonNegativeInt | None = field(default=None, metadata={
        "metavar": "K",
        "help": "(transformer) partial freezing: the embeddings and the bottom K layers stay fixed, the layers above train "
                "(0: embeddings only)"})
    lora_r: PositiveInt | None = field(default=None, metadata={
        "metavar": "R",
        "help": "(transformer) parameter-efficient fine-tuning with LoRA (Hu et al. 2022): the transformer's weights stay fixed and "
                "a trained update of rank R is added to some of its linear layers (--lora-target-modules); the poolings, heads and "
                "wide parts train as usual. The saved model has the updates merged into its weights: a plain model folder, loaded "
                "and run without peft (or the adapters alone: --lora-save adapters). Needs peft (pip install 'mtl-text[peft]'); the default learning rate becomes 5e-4. "
                "Default: none (every weight trains). e.g. 8"})
    lora_alpha: PositiveFloat | None = field(default=None, metadata={
        "help": "(with --lora-r) the updates' scale is lora_alpha / R; default 2 * R"})
    lora_dropout: Probability | None = field(default=None, metadata={
        "help": f"(with --lora-r) dropout on the adapters' input in training; default {LORA_DROPOUT}"})
    lora_target_modules: list[str] = field(default_factory=list, metadata={
        "metavar": "NAME",
        "help": "(with --lora-r) the linear layers that get an update, by name or ending name (e.g. query key value dense), or "
                "all-linear; default: peft's choice for the architecture (BERT-like models: query value)"})
    lora_save: Literal["merged", "adapters"] = field(default="merged", metadata={
        "help": "(with --lora-r) how the model folder holds LoRA's updates: merged into the transformer's weights (a plain "
                "transformer, loaded without peft or the base model), or adapters: the adapters, poolings and heads alone, a folder "
                "the size of the updates instead of the transformer's (MiniLM at rank 8: weights of 0.7 MB instead of 91 MB) that names "
                "its base model (a Hub id, or a local folder as an absolute path) and the SHA-256 of its weights; loading it loads "
                "the base (downloaded once from the Hub), checks the digest and merges the adapters in, so it predicts as a merged "
                "model does. Not with --init-from (the base is then no transformer of its own)"})
    layer_lr_decay: Annotated[float, Range(min=0, max=1, min_exclusive=True)] = field(default=1.0, metadata={
        "help": "(transformer) layer-wise learning-rate decay: each layer below the top trains at this factor times the rate of the "
                "layer above (1: the same rate everywhere)"})
    window_length: Annotated[int | None, Range(min=3)] = field(default=None, metadata={
        "metavar": "N",
        "help": "(transformer) long documents: read a text longer than N tokens as overlapping windows of N tokens (special tokens "
                "included), each encoded alone; every token's vector goes back to its place (averaged where windows overlap) and the "
                "task's pooling pools the whole document. A task's length limit (its own, or --max-length) then counts the whole "
                "document, not the model's positions; sentence pairs stay cut at N. e.g. --window-length 256 --max-length "
                "20newsgroups=1024. Default: no windows, texts cut at the model's limit"})
    window_stride: NonNegativeInt | None = field(default=None, metadata={
        "metavar": "S",
        "help": "(transformer, with --window-length) tokens that consecutive windows share (the tokenizer's stride); default a "
                "quarter of --window-length"})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "(transformer) gradient checkpointing (Chen et al. 2016): each layer's activations are computed again in the backward "
                "pass instead of kept, so training holds one layer's activations instead of every layer's, for about half as much "
                "time again per step (MiniLM, windows of 256 over 20 Newsgroups' posts: 57%% less memory, 46%% more time); for long "
                "documents (--window-length), large batches or a small GPU. The same gradients; evaluation, prediction and the saved "
                "model do not change"})
    # word vectors
    vectors: str | None = field(default=None, metadata={
        "metavar": "FILE",
        "help": "(word vectors) pretrained vectors (word2vec .bin, word2vec or GloVe .txt) to initialise the embeddings; "
                "default: train Word2Vec on the selected tasks' training text"})
    embedding_dim: PositiveInt = field(default=128, metadata={"help": "(word vectors) size of the Word2Vec vectors (ignored with --vectors)"})
    w2v_epochs: PositiveInt = field(default=5, metadata={"help": "(word vectors) Word2Vec passes over the training text"})
    w2v_window: PositiveInt = field(default=5, metadata={"help": "(word vectors) Word2Vec context window"})
    w2v_skipgram: bool = field(default=False, metadata={"help": "(word vectors) Word2Vec skip-gram instead of CBOW"})
    embedding_texts: list[str] = field(default_factory=list, metadata={
        "metavar": "SOURCE",
        "help": "(word vectors) unlabelled texts that join the tasks' training text where it builds the vocabulary and trains "
                "Word2Vec, so that words no labelled example holds get a vector (with --vectors: a row of the pretrained "
                "file). Never training examples. SOURCE: a file (.jsonl with a 'text' field, .csv with a 'text' column, else one "
                "text per line; .gz: decompressed) or a registered task whose training texts are used without their labels; several sources join. e.g. "
                "--embedding-texts goemotions review-sentences.txt"})
    random_init: bool = field(default=False, metadata={
        "help": "(word vectors) random embeddings, no Word2Vec and no vectors file (a no-transfer baseline)"})
    min_word_frequency: PositiveInt = field(default=2, metadata={
        "help": "(word vectors) words rarer than this in the training text map to [UNK]"})
    max_vocab_size: PositiveInt | None = field(default=None, metadata={
        "help": "(word vectors) keep at most this many (most frequent) words"})
    conv_filters: NonNegativeInt = field(default=0, metadata={
        "metavar": "N",
        "help": "(word vectors) a convolutional layer over the word vectors, shared by every task (a CNN, Kim 2014): N filters of "
                "each --conv-widths width, ReLU, one output per token; the default pooling becomes max (max-over-time). "
                "0: no convolution"})
    bigram_buckets: NonNegativeInt = field(default=0, metadata={
        "metavar": "N",
        "help": "(word vectors) add to each word's vector that of the bigram it ends, from a table of N hashed rows (fastText's "
                "n-gram features), so that pooling sees word order; 0: none. e.g. 200000"})
    conv_widths: list[PositiveInt] = field(default_factory=lambda: [3, 4, 5], metadata={
        "metavar": "W", "help": "(word vectors, with --conv-filters) the filter widths, in tokens"})

    def __post_init__(self):
        if isinstance(self.pooling, dict):  # Python users may give {"*": "mean", "sst2": "max"}
            self.pooling = [mode if name == "*" else f"{name}={mode}" for name, mode in self.pooling.items()]
        super().__post_init__()
        if self.init_from:
            family = saved_encoder_family(self.init_from)
            if self.encoder not in (None, family):
                raise ConfigError(f"--init-from {self.init_from} holds a {family} model; --encoder {self.encoder} does not fit it")
            self.encoder = family
        self.encoder = self.encoder or "word_vectors"
        transformer = self.encoder == "transformer"
        if transformer and not self.model_name_or_path and not self.init_from:
            raise ConfigError("--encoder transformer needs --model-name-or-path (a hub id or a local model folder)")
        if self.freeze_layers is not None and not transformer:
            raise ConfigError("--freeze-layers applies to --encoder transformer only")
        if self.freeze_layers is not None and self.freeze_encoder:
            raise ConfigError("--freeze-layers and --freeze-encoder exclude each other (the latter freezes every layer)")
        if self.lora_r is None and (self.lora_alpha is not None or self.lora_dropout is not None or self.lora_target_modules):
            raise ConfigError("--lora-alpha, --lora-dropout and --lora-target-modules set up LoRA: give its rank with --lora-r (e.g. 8)")
        if self.lora_r is not None:
            self.lora_dropout = LORA_DROPOUT if self.lora_dropout is None else self.lora_dropout
            if not transformer:
                raise ConfigError("--lora-r adds low-rank updates to a transformer's linear layers: it applies to --encoder "
                                  "transformer only")
            if self.freeze_encoder or self.freeze_layers is not None:
                raise ConfigError("--lora-r trains low-rank updates of a fixed transformer: it excludes --freeze-encoder and "
                                  "--freeze-layers")
            if self.lora_save == "adapters" and self.init_from:
                raise ConfigError("--lora-save adapters saves the adapters apart from a base transformer loaded from the Hub or a "
                                  "folder; with --init-from the base is a saved mtl-text model's encoder: save them merged")
            check_peft()
        elif self.lora_save != "merged":
            raise ConfigError("--lora-save says how LoRA's updates are saved: give LoRA's rank with --lora-r (e.g. 8)")
        if self.gradient_checkpointing and (not transformer or self.freeze_encoder):
            raise ConfigError("--gradient-checkpointing recomputes a transformer's activations for its gradients: it applies to "
                              "--encoder transformer that trains (not --freeze-encoder)")
        if self.window_stride is not None and self.window_length is None:
            raise ConfigError("--window-stride sets the overlap of --window-length's windows: give --window-length too")
        if self.window_length is not None:
            if not transformer:
                raise ConfigError("--window-length reads long documents as windows of a transformer: it applies to --encoder "
                                  "transformer only (word vectors take any length)")
            if self.init_from:
                raise ConfigError("--init-from takes the encoder, with its windows if it has them, from the saved model: it "
                                  "excludes --window-length")
            check_window_stride(self.window_length, self.window_stride)
        if self.vectors and self.random_init:
            raise ConfigError("--vectors and --random-init exclude each other")
        if self.bigram_buckets and (transformer or self.init_from or self.freeze_encoder):
            raise ConfigError("--bigram-buckets adds hashed bigram vectors, starting at zero, to a new word-vector encoder that "
                              "trains: it does not apply to --encoder transformer, --init-from or --freeze-encoder")
        if self.conv_filters:
            if transformer:
                raise ConfigError("--conv-filters adds a convolution over word vectors: it does not apply to --encoder transformer")
            if self.init_from:
                raise ConfigError("--init-from takes the encoder, with its convolution if it has one, from the saved model: it "
                                  "excludes --conv-filters")
            if self.freeze_encoder:
                raise ConfigError("--freeze-encoder would keep a new, random convolution fixed: train it (leave out "
                                  "--freeze-encoder), or freeze a trained one with --init-from MODEL_DIR --freeze-encoder")
            if not self.conv_widths:  # each width's range is its type's (PositiveInt); a list may still be empty
                raise ConfigError("--conv-widths must be a non-empty list of widths in tokens, got []")
        if self.embedding_texts and (transformer or self.init_from):
            raise ConfigError("--embedding-texts extends a new word-vector encoder's vocabulary and Word2Vec text: it does not apply "
                              "to --encoder transformer or --init-from (their vocabulary is fixed)")
        if self.init_from and (self.model_name_or_path or self.vectors or self.random_init):
            raise ConfigError("--init-from takes the encoder from the saved model: it excludes --model-name-or-path, --vectors and "
                              "--random-init")
        self.pooling_modes()

    def pooling_modes(self) -> dict[str, str]:
        """``--pooling`` as ``{"*": mode for every other task, task: mode}``.

        Raises:
            ConfigError: a mode that is not one of the pooling modes, or a task (or the bare mode)
                given twice.
        """
        return self.task_values("pooling")


def saved_encoder_family(model_dir: str) -> str:
    """The encoder family (``word_vectors`` or ``transformer``) of a saved model (a folder or a Hub
    id, :func:`~mtl_text.modeling.hub.resolve_config`), from its ``config.json``.

    Raises:
        ConfigError: the folder holds no readable mtl-text model config, or the Hub id's cannot be
            downloaded.
    """
    import json

    try:
        path = resolve_config(model_dir)  # a folder's config.json, or a Hub id's alone
    except ConfigError as e:  # a Hub id that cannot be downloaded, a revision that does not fit
        raise ConfigError(f"--init-from {e}") from None
    try:
        family = json.loads(path.read_text(encoding="utf-8"))["encoder"]["type"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--init-from {model_dir}: not a saved mtl-text model ({path}: {type(e).__name__}: {e})") from None
    if family not in ("word_vectors", "transformer"):
        raise ConfigError(f"--init-from {model_dir}: {path} names an unknown encoder type {family!r}")
    return family


@dataclass
class HeadArguments(Arguments):
    """Every task's head (its kind comes from the task's problem type)."""

    _argument_group_name = "heads"

    head_hidden_size: NonNegativeInt = field(default=256, metadata={"help": "hidden width of each task's head; 0 for a linear head"})
    head_dropout: Probability = field(default=0.1, metadata={"help": "dropout in each head"})
    word_dropout: Probability | None = field(default=None, metadata={
        "help": "training only: probability of leaving each token out of the pooling (Iyyer et al. 2015); default 0.3 with word "
                "vectors, 0 with a transformer"})
    class_weights: Annotated[list[str], TaskValues("TASK=balanced, TASK=none or TASK=W1,W2,... with positive weights",
                                                   class_weight)] = field(default_factory=list, metadata={
        "metavar": "TASK=balanced|W1,W2,..|none",
        "help": "class weights of a single-label task's loss: 'balanced' (n / (labels x count) on its training split), one weight "
                "per label, or none; default: the task's own setting"})
    label_smoothing: Probability = field(default=0.0, metadata={
        "metavar": "EPS",
        "help": "single-label classification heads: the cross-entropy's target puts 1 - EPS on the label and EPS spread evenly over all "
                "labels (label smoothing, Szegedy et al. 2016; transformers' label_smoothing_factor), e.g. 0.1; 0: none. Other heads "
                "are unaffected; saved with each head's options"})
    r_drop: NonNegativeFloat = field(default=0.0, metadata={
        "metavar": "ALPHA",
        "help": "R-Drop (Liang et al. 2021): each training batch goes through the model twice, under independent dropout masks, and "
                "the loss is the mean of the two passes' losses plus ALPHA / 2 times each head's consistency loss between them "
                "(the symmetric KL of the predictions; MSE for regression): ALPHA as in the paper, whose loss is twice this one. "
                "Costs a second forward and backward pass of every training batch; e.g. 1.0; 0: off. Training only"})
    target_scaling: Literal["standard", "none"] = field(default="standard", metadata={
        "help": "regression heads: 'standard' learns (y - mean) / std with the training split's mean and std (saved with the model; "
                "predictions come back in the target's units), 'none' learns y as it is"})
    wide_buckets: NonNegativeInt | None = field(default=None, metadata={
        "metavar": "N",
        "help": "each task's wide part (Wide & Deep, Cheng et al. 2016): a linear model over the text's word n-grams, hashed into N "
                "rows and weighted by TF-IDF (sublinear tf, idf of the task's training texts, L2-normalised), whose output adds to "
                "the head's logits; it learns which exact words and word pairs signal a label, as TF-IDF + a linear classifier does. "
                f"0: none. Default {DEFAULT_WIDE_BUCKETS} with word vectors, 0 with a transformer"})
    wide_ngrams: PositiveInt = field(default=2, metadata={
        "metavar": "N", "help": "the wide part's longest n-gram, in tokens (1: words; 2: words and word pairs)"})
    wide_tasks: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK|all|none",
        "help": "the tasks that get a wide part when there is one (--wide-buckets): those named, 'all' or 'none'. Default: every "
                "task whose Task sets wide (all built-in tasks but goemotions, whose macro-F1 the wide part lowered by 0.055)"})
    wide_svm: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK|all|none",
        "help": "after training, add to the wide part of these tasks ('all': every task; 'none': no task) a linear SVM "
                "(scikit-learn's LinearSVC: squared hinge, one-vs-rest, no intercept) fitted on the wide part's features of the "
                "task's training split, its margins weighted by the factor fitted on the validation split with the head's loss "
                "(without label smoothing; stacking; near 0 keeps the model as trained), and save the model so. Default: the tasks that ask for it "
                "(20newsgroups; a task's wide_svm), where there is a wide part (--wide-buckets). Classification tasks only. "
                "Choose tasks with long texts whose label shows in exact n-grams: on SST-2's short sentences it lost about a point"})
    wide_svm_c: PositiveFloat = field(default=1.0, metadata={
        "metavar": "C", "help": "--wide-svm: the SVM's C (its L2 penalty is 1 / C)"})
    tune_thresholds: bool = field(default=False, metadata={
        "help": "multi-label heads: after training, set each label's decision threshold to the one (0.05 to 0.95, step 0.05) "
                "that maximises its F1 on the validation split, and save them with the model (default: 0.5 each)"})
    calibrate: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK|all|none",
        "help": "after training, temperature scaling (Guo et al. 2017) of these tasks' heads ('all': every classification task): "
                "each head's logits are divided by one temperature, fitted on the validation split by the head's loss, so that "
                "its probabilities match how often it is right; the predictions and accuracy are unchanged, the loss and ECE "
                "(expected calibration error) change. Saved with the model; before --tune-thresholds, which then tunes on the "
                "calibrated probabilities. Classification tasks only. Default: the tasks that ask for it (20newsgroups, whose "
                "test probabilities came out over-confident; a task's calibrate); 'none' for no task. mtl-text calibrate does "
                "it for a saved model"})

    def __post_init__(self):
        super().__post_init__()
        if "none" in self.wide_svm and len(self.wide_svm) > 1:
            raise ConfigError(f"--wide-svm: 'none' excludes task names, got {self.wide_svm}")

    @property
    def wide_svm_named(self) -> bool:
        """Whether ``--wide-svm`` names tasks (or ``all``), rather than leaving each task's own
        setting (not given) or turning the SVM off (``none``)."""
        return self.wide_svm not in ([], ["none"])

    def wide_svm_tasks(self, tasks: Mapping[str, Task]) -> list[str]:
        """The tasks whose wide part gains a linear SVM after training, in the order of ``tasks``
        (name -> task): those ``--wide-svm`` names or, without it, those whose :class:`Task` sets
        ``wide_svm``; none without a wide part.

        Raises:
            ConfigError: a name that is not one of ``tasks`` (nor ``all``).
        """
        chosen = chosen_tasks("--wide-svm", self.wide_svm, tasks, [name for name, task in tasks.items() if task.wide_svm])
        wide = self.wide_task_names(tasks)
        lacking = [name for name in chosen if name not in wide and name in self.wide_svm]  # named; 'all' and defaults skip them
        if lacking:
            raise ConfigError(f"--wide-svm fits a task's wide part, and {lacking} have none (--wide-tasks, --wide-buckets)")
        return [name for name in chosen if name in wide]

    def wide_task_names(self, tasks: Mapping[str, Task]) -> list[str]:
        """The tasks that get a wide part, in the order of ``tasks`` (name -> task): those
        ``--wide-tasks`` names or, without it, those whose :class:`Task` sets ``wide``; none without
        ``--wide-buckets``.

        Raises:
            ConfigError: a name that is not one of ``tasks`` (nor ``all``/``none``).
        """
        chosen = chosen_tasks("--wide-tasks", self.wide_tasks, tasks, [name for name, task in tasks.items() if task.wide])
        return chosen if self.wide_buckets else []

    def calibration_choice(self, tasks: Mapping[str, Task]) -> tuple[dict[str, str], list[str], list[str]]:
        """:func:`~mtl_text.inference.calibration.calibrated_tasks`'s arguments for ``tasks`` (name ->
        task): their problem types, ``--calibrate``, and the tasks whose :class:`Task` sets ``calibrate``."""
        return {n: t.problem_type for n, t in tasks.items()}, self.calibrate, [n for n, t in tasks.items() if t.calibrate]

    def class_weight_overrides(self) -> dict[str, str | list[float] | None]:
        """``--class-weights`` as task name -> ``"balanced"``, a list of weights, or ``None``.

        Raises:
            ConfigError: an item that is not ``TASK=balanced``, ``TASK=none`` or ``TASK=W1,W2,...``
                with positive weights, or a task named twice.
        """
        return self.task_values("class_weights")


@dataclass
class OptimizationArguments(Arguments):
    """Training length, batches, learning rates and task sampling."""

    _argument_group_name = "optimisation"

    seed: Seed = seed_option()
    num_epochs: PositiveFloat = field(default=3.0, metadata={
        "help": "training length; one epoch = (sum of the tasks' training examples) / (global batch size) steps"})
    max_steps: PositiveInt | None = field(default=None, metadata={
        "help": "training length in optimizer steps; overrides --num-epochs"})
    batch_size: PositiveInt = field(default=32, metadata={"help": "examples per batch and process"})
    group_by_length: bool = field(default=False, metadata={
        "help": "batches of texts of similar length (within shuffled mega-batches of 50 batches; transformers' "
                "group_by_length), so less padding is computed; the order stays random and set by --seed"})
    gradient_accumulation_steps: PositiveInt = field(default=1, metadata={"help": "batches per optimizer step"})
    learning_rate: PositiveFloat | None = field(default=None, metadata={
        "help": "peak learning rate (AdamW) of the encoder (of its top layer with --layer-lr-decay); default 1e-2 with word vectors, "
                "5e-5 with a transformer"})
    head_learning_rate: PositiveFloat | None = field(default=None, metadata={
        "help": "peak learning rate of the poolings and heads; default: --learning-rate with word vectors, 1e-3 with a transformer"})
    weight_decay: NonNegativeFloat | None = field(default=None, metadata={
        "help": "AdamW's decoupled weight decay (Loshchilov & Hutter 2019) of every weight matrix but the word vectors and token "
                "embeddings (biases are not decayed either); with word vectors it regularises the heads and wide parts, as a linear "
                "SVM's L2 penalty does. Default 0.1 with word vectors, 0 with a transformer"})
    warmup_ratio: Probability | None = field(default=None, metadata={
        "help": "fraction of steps with linear warm-up, then linear decay to 0; default 0 with word vectors, 0.06 with a transformer"})
    max_grad_norm: NonNegativeFloat = field(default=1.0, metadata={"help": "gradient clipping (0 to turn off)"})
    lazy_updates: bool | None = field(default=None, metadata={
        "help": "sparse gradients for the lookup tables (word vectors, wide parts' n-gram tables): each step updates AdamW's "
                "moments and weights of the rows its batch uses only (lazy Adam, as TensorFlow Addons' LazyAdam and torch's "
                "SparseAdam), not every row; the other parameters train with AdamW as before. Default true with word vectors in "
                "one process without --sampling all or fp16 (elsewhere it is turned off, with a log line), false with a transformer; "
                "true where it cannot apply is refused"})
    lr_scheduler: Literal["linear", "cosine", "constant", "plateau"] = field(default="linear", metadata={
        "help": "learning-rate schedule after the warm-up: linear or cosine decay to 0, constant, or plateau (multiply every rate by "
                "--plateau-factor when the validation score has not improved for --plateau-patience validations; "
                "torch's ReduceLROnPlateau)"})
    plateau_factor: Fraction = field(default=0.5, metadata={
        "help": "--lr-scheduler plateau: factor applied to the learning rates on a plateau"})
    plateau_patience: NonNegativeInt = field(default=1, metadata={
        "help": "--lr-scheduler plateau: validations without improvement before the rates are cut"})
    weight_averaging: Literal[AVERAGING_MODES] = field(default="none", metadata={
        "help": "validate, select and save a running average of the weights instead of the last step's: ema (exponential moving "
                "average with --ema-decay; Polyak & Juditsky 1992) or swa (the uniform mean of every step's weights; Izmailov et al. "
                "2018), from --averaging-start of the steps on; none: the weights as trained"})
    ema_decay: Fraction = field(default=0.999, metadata={
        "help": "--weight-averaging ema: the decay per optimizer step (about 1 / (1 - decay) recent steps carry most of the weight)"})
    averaging_start: Probability = field(default=0.75, metadata={
        "help": "--weight-averaging: the fraction of the training steps (of --max-steps or the epochs' steps) after which the average "
                "starts"})
    sampling: Literal[STRATEGIES] = field(default="temperature", metadata={
        "help": "task sampling strategy: which task each step draws its batch from; 'all': every step draws one batch of every task "
                "(needed by --task-balancing pcgrad, upgrad)"})
    temperature: PositiveFloat = field(default=2.0, metadata={
        "help": "T of temperature sampling, p_i ~ N_i^(1/T)"})
    task_balancing: Literal[BALANCING] = field(default="static", metadata={
        "help": "how the tasks' losses combine: static (each loss times its --task-weights weight), uncertainty (learned per-task "
                "log-variances, Kendall et al. 2018; saved with the model), or, with --sampling all, gradient aggregation over the "
                "tasks' gradients of the shared encoder: pcgrad (Yu et al. 2020), upgrad (Quinton & Rey 2024), mgda (Sener & Koltun "
                "2018), the last two through torchjd"})
    task_weights: Annotated[list[str], TaskValues("TASK=W with a number W >= 0", number_in(Range(min=0)))] = field(default_factory=list, metadata={
        "metavar": "TASK=W", "help": "static loss weight of a task (default 1); with --task-balancing static only"})

    def __post_init__(self):
        super().__post_init__()
        if self.task_balancing in GRADIENT_BALANCING and self.sampling != "all":
            raise ConfigError(f"--task-balancing {self.task_balancing} combines the gradients of several tasks in each step: it needs "
                              "--sampling all (one batch of every task per step)")
        if self.task_weights and self.task_balancing != "static":
            raise ConfigError("--task-weights apply to --task-balancing static only")

    def task_weight_overrides(self) -> dict[str, float]:
        """``--task-weights`` as task name -> weight.

        Raises:
            ConfigError: an item that is not ``TASK=W`` with ``W >= 0``, or a task named twice.
        """
        return self.task_values("task_weights")


@dataclass
class AdaptationArguments(Arguments):
    """Domain adaptation: align a task's pooled vectors with unlabelled text of another domain."""

    _argument_group_name = "domain adaptation"

    adapt: Annotated[list[str], TaskValues("TASK=TARGET (a file or a task name)", non_empty)] = field(default_factory=list, metadata={
        "metavar": "TASK=TARGET",
        "help": "domain adaptation with MMD: each step of TASK adds --mmd-weight x MMD^2 between its batch's pooled vectors and those "
                "of a batch of unlabelled target text. TARGET: a file (.jsonl with a 'text' field, .csv with a 'text' column, else "
                "one text per line; .gz: decompressed) or a registered task whose training texts are used without their labels. With word vectors the "
                "target texts also join the vocabulary and the Word2Vec corpus"})
    mmd_weight: NonNegativeFloat = field(default=1.0, metadata={
        "help": "λ, the weight of the MMD^2 term (multi-kernel Gaussian, median-heuristic bandwidths; 0 keeps the target text in "
                "the vocabulary but adds no MMD loss)"})

    def targets(self) -> dict[str, str]:
        """``--adapt`` as task name -> target (a file or a task name).

        Raises:
            ConfigError: an item that is not ``TASK=TARGET``, or a task named twice.
        """
        return self.task_values("adapt")


@dataclass
class DistillationArguments(Arguments):
    """Knowledge distillation: a saved model (the teacher) scores the training texts; the model
    learns from its logits as well as from the labels."""

    _argument_group_name = "knowledge distillation"

    distill_from: str | None = field(default=None, metadata={
        "metavar": "MODEL_DIR",
        "help": "a saved mtl-text model (a folder, or a Hub id OWNER/NAME[@REVISION]; the teacher, e.g. a fine-tuned "
                "transformer) that scores the training texts of every "
                "trained task it has a classification head for, with the same labels in the same order; each such task's loss "
                "becomes (1 - --distill-weight) x its loss on the labels + --distill-weight x its head's distillation loss on the "
                "teacher's logits (Hinton et al. 2015). The teacher's logits are cached in --cache-dir"})
    distill_tasks: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK",
        "help": "the tasks to distil (default: every trained task the teacher has a head for); the others train on their labels "
                "alone. The teacher scores every training text of each, once (a transformer on long documents takes a while)"})
    distill_texts: Annotated[list[str], TaskValues("TASK=SOURCE (a file or a task name)", non_empty, several=True)] = field(default_factory=list, metadata={
        "metavar": "TASK=SOURCE",
        "help": "a transfer set (Tang et al. 2019): unlabelled texts that the teacher labels (its decoded label and its logits) "
                "and that join TASK's training split (never validation or test). SOURCE: a file (.jsonl with a 'text' field, "
                ".csv with a 'text' column, else one text per line; .gz: decompressed) or a registered task whose training texts are used without "
                "their labels; repeat for several sources. Single-text tasks only. With word vectors the texts also join the vocabulary and Word2Vec"})
    distill_weight: Annotated[float, Range(min=0, max=1)] = field(default=0.5, metadata={
        "help": "α, the weight of the distillation loss (1: the teacher's logits alone; 0: the labels alone, the transfer set "
                "still labelled by the teacher)"})
    distill_temperature: PositiveFloat = field(default=2.0, metadata={
        "help": "T, the temperature that softens both models' distributions in the distillation loss (Hinton et al. 2015)"})
    transfer_set_in_mix: bool = field(default=True, metadata={
        "help": "count --distill-texts' transfer set in its task's size where the task mix follows the sizes (--sampling "
                "proportional, temperature, annealed), as every other training example counts (the default). "
                "--no-transfer-set-in-mix computes the mix from the training splits before the transfer sets join them, so a "
                "large transfer set does not take steps from the other tasks; an epoch still counts every example"})

    def transfer_sources(self) -> dict[str, list[str]]:
        """``--distill-texts`` as task name -> its sources, in order.

        Raises:
            ConfigError: an item that is not ``TASK=SOURCE``.
        """
        return self.task_values("distill_texts")

    def __post_init__(self):
        super().__post_init__()
        if (self.transfer_sources() or self.distill_tasks) and not self.distill_from:
            raise ConfigError("--distill-texts and --distill-tasks need --distill-from: the teacher that labels the texts")
        lacking = sorted(set(self.transfer_sources()) - set(self.distill_tasks)) if self.distill_tasks else []
        if lacking:
            raise ConfigError(f"--distill-texts names task(s) {lacking} that --distill-tasks {self.distill_tasks} leaves out")
        if not self.transfer_set_in_mix and not self.transfer_sources():
            raise ConfigError("--no-transfer-set-in-mix changes the task mix only with a transfer set: add --distill-texts")


@dataclass
class EvaluationArguments(Arguments):
    """Validation, model selection, early stopping and logging."""

    _argument_group_name = "evaluation, early stopping and logging"

    eval_every: PositiveInt | None = field(default=None, metadata={
        "help": "validate every N optimizer steps (default: twice per epoch)"})
    eval_batch_size: PositiveInt = field(default=128, metadata={"help": "examples per evaluation batch and process"})
    metric_for_best: str = field(default="primary", metadata={
        "help": "validation metric averaged over tasks for model selection and early stopping (higher is better): 'primary', each "
                "head's primary metric (accuracy for single-label, macro_f1 for multi-label classification, pearson for regression), "
                "or a metric every task's head reports"})
    selection_tasks: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK",
        "help": "the tasks whose validation metric is averaged for model selection, early stopping and --lr-scheduler plateau "
                "(default: every task in --tasks). The others are auxiliary tasks: trained, validated, logged and tested, but "
                "the best model is the best for these tasks"})
    patience: NonNegativeInt = field(default=4, metadata={"help": "stop after this many validations without improvement (0: never)"})
    log_every: PositiveInt = field(default=50, metadata={"help": "log the training loss every N steps"})
    task_affinity_every: NonNegativeInt = field(default=0, metadata={
        "metavar": "N",
        "help": "every N optimizer steps, measure the inter-task affinity (TAG, Fifty et al. 2021): how much a gradient step on one "
                "task's loss alone lowers each other task's loss, on a fixed validation batch per task, without changing the run; "
                "the mean over the run goes to OUTPUT_DIR/task_affinity.json and the log (0: never)"})
    report_to: list[str] = field(default_factory=lambda: ["none"], metadata={
        "help": f"experiment trackers, through Accelerate: {', '.join(TRACKERS[1:])} (each needs its package installed), or none; "
                "logs go to OUTPUT_DIR"})

    def __post_init__(self):
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        super().__post_init__()
        unknown = [t for t in self.report_to if t not in TRACKERS]
        if unknown:
            raise ConfigError(f"--report-to: unknown tracker(s) {unknown}; expected some of {', '.join(TRACKERS)}")
        if "none" in self.report_to and len(self.report_to) > 1:
            raise ConfigError("--report-to: 'none' excludes the other trackers")


@dataclass
class CheckpointArguments(Arguments):
    """Where the model goes, checkpoints and resuming."""

    _argument_group_name = "output, checkpoints and resuming"

    output_dir: str = field(default="runs/mtl-text", metadata={
        "help": "where the best model, metrics.jsonl, checkpoints and the test table go"})
    overwrite_output_dir: bool = field(default=False, metadata={
        "help": "train into an output folder that already holds a model, replacing its model, checkpoints and results (without "
                "this, such a folder is refused)"})
    save_every: NonNegativeInt = field(default=0, metadata={
        "metavar": "N", "help": "also write a checkpoint every N optimizer steps (one is always written at each validation)"})
    save_total_limit: NonNegativeInt = field(default=2, metadata={
        "metavar": "K", "help": "keep the K newest checkpoints, and the best one, in OUTPUT_DIR/checkpoints (0: write none)"})
    resume_from_checkpoint: str | None = field(default=None, metadata={
        "metavar": "DIR|latest",
        "help": "continue a run from a checkpoint folder, or from the newest one in --output-dir; with the same options, the result "
                "equals that of an uninterrupted run"})
    push_to_hub: str | None = field(default=None, metadata={
        "metavar": "OWNER/NAME[@BRANCH]",
        "help": "after training, upload the model folder (model card included, checkpoints left out) to this Hugging Face Hub "
                "repository, as `mtl-text push-to-hub` does; with your `hf auth login` or $HF_TOKEN. The repository is created (or "
                "found) before training starts; if the upload fails, the model stays in --output-dir and the error says how to upload it"})
    hub_private: bool = field(default=False, metadata={"help": "create the --push-to-hub repository private (when it does not exist yet)"})
    hub_license: str | None = field(default=None, metadata={
        "help": "the --push-to-hub model's license in its card, as the Hub names licenses (apache-2.0, mit, cc-by-4.0, other, ...)"})

    def __post_init__(self):
        super().__post_init__()
        if self.push_to_hub is not None:
            upload_target(self.push_to_hub)
        check_license(self.hub_license)
        if (self.hub_license or self.hub_private) and not self.push_to_hub:
            raise ConfigError("--hub-private and --hub-license describe the --push-to-hub upload: give --push-to-hub OWNER/NAME, or "
                              "upload later with mtl-text push-to-hub (--private, --license)")


GROUPS: dict[str, type[Arguments]] = {
    "data": DataArguments,
    "encoder": EncoderArguments,
    "heads": HeadArguments,
    "optimization": OptimizationArguments,
    "evaluation": EvaluationArguments,
    "checkpoints": CheckpointArguments,
    "adaptation": AdaptationArguments,
    "distillation": DistillationArguments,
}
OPTION_GROUP: dict[str, str] = {f.name: group for group, c in GROUPS.items() for f in dataclasses.fields(c)}  # option -> its group


@dataclass
class TrainingConfig:
    """Everything a training run needs, in option groups (see the module's text).

    On construction the defaults that depend on the encoder are filled in (``learning_rate``,
    ``head_learning_rate``, ``warmup_ratio``, ``weight_decay``, ``word_dropout``, ``wide_buckets``)
    and the options that refer to tasks are checked against ``data.tasks``.

    Raises:
        ConfigError: options that exclude each other, or ``--max-length``/``--pooling`` naming a task
            that is not trained.
    """

    data: DataArguments = field(default_factory=DataArguments)
    encoder: EncoderArguments = field(default_factory=EncoderArguments)
    heads: HeadArguments = field(default_factory=HeadArguments)
    optimization: OptimizationArguments = field(default_factory=OptimizationArguments)
    evaluation: EvaluationArguments = field(default_factory=EvaluationArguments)
    checkpoints: CheckpointArguments = field(default_factory=CheckpointArguments)
    adaptation: AdaptationArguments = field(default_factory=AdaptationArguments)
    distillation: DistillationArguments = field(default_factory=DistillationArguments)

    def __post_init__(self):
        for name, cls in GROUPS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"TrainingConfig.{name} must be a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        transformer = self.encoder.encoder == "transformer"
        defaults = [(self.heads, "word_dropout", 0.3, 0.0), (self.heads, "wide_buckets", DEFAULT_WIDE_BUCKETS, 0),
                    (self.optimization, "learning_rate", 1e-2, 5e-4 if self.encoder.lora_r else 5e-5),
                    (self.optimization, "warmup_ratio", 0.0, 0.06),
                    (self.optimization, "weight_decay", 0.1, 0.0)]
        for group, name, word_vectors, transformer_default in defaults:
            if getattr(group, name) is None:
                setattr(group, name, transformer_default if transformer else word_vectors)
        if self.optimization.head_learning_rate is None:
            self.optimization.head_learning_rate = 1e-3 if transformer else self.optimization.learning_rate
        if self.heads.wide_svm_named and not self.heads.wide_buckets:
            raise ConfigError(f"--wide-svm fits each task's wide part: give it one with --wide-buckets N (e.g. {DEFAULT_WIDE_BUCKETS})")
        named = {"--max-length": self.data.max_length_overrides(), "--pooling": set(self.encoder.pooling_modes()) - {"*"},
                 "--class-weights": self.heads.class_weight_overrides(), "--task-weights": self.optimization.task_weight_overrides(),
                 "--adapt": self.adaptation.targets(), "--distill-tasks": self.distillation.distill_tasks,
                 "--distill-texts": self.distillation.transfer_sources(), "--selection-tasks": self.evaluation.selection_tasks}
        check_named_tasks(named, self.data.tasks)
        if self.checkpoints.push_to_hub and self.data.cv_folds is not None and self.data.fold is None:
            raise ConfigError("--push-to-hub uploads one model; --cv-folds trains one per fold: upload the one you want with "
                              "`mtl-text push-to-hub`")
        if self.optimization.task_balancing in GRADIENT_BALANCING and len(self.data.tasks) < 2:
            raise ConfigError(f"--task-balancing {self.optimization.task_balancing} needs at least two tasks")
        if self.optimization.sampling == "all" and self.optimization.gradient_accumulation_steps > 1:
            raise ConfigError("--sampling all takes one batch of every task per step; it excludes --gradient-accumulation-steps > 1")
        if self.adaptation.adapt and transformer and self.encoder.freeze_encoder:
            raise ConfigError("--adapt aligns the encoder's pooled vectors; a frozen transformer's are fixed: drop --freeze-encoder")
        if self.distillation.distill_from and transformer and self.encoder.freeze_encoder:
            raise ConfigError("--distill-from trains on each text's teacher logits, which the cached pooled vectors of a frozen "
                              "transformer (feature extraction) do not carry: drop --freeze-encoder")
        if self.optimization.sampling == "all" and self.adaptation.adapt:
            raise ConfigError("--adapt combines with the sampled modes only (not --sampling all)")
        if self.evaluation.task_affinity_every and (len(self.data.tasks) < 2 or self.encoder.freeze_encoder):
            raise ConfigError("--task-affinity-every measures how a step on one task's loss moves the others' through the shared "
                              "encoder: it needs two or more tasks and an encoder that trains (not --freeze-encoder)")
        if self.heads.r_drop and (self.optimization.sampling == "all" or self.adaptation.adapt):
            raise ConfigError("--r-drop doubles each sampled task's batch: it excludes --sampling all and --adapt")

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> TrainingConfig:
        """Build from a JSON options file (:func:`read_options_file`: a recipe, or a saved model to
        train again), with ``options`` (flat names, as in :meth:`from_options`) overriding the file's.

        Example: ``TrainingConfig.from_file("runs/minilm", seed=43, output_dir="runs/minilm-s43")``; a
        Hub id (``"OWNER/NAME"``, or ``"OWNER/NAME@REVISION"``) reads the pushed model's recipe.

        Raises:
            ConfigError: what :func:`read_options_file` and :meth:`from_options` raise.
        """
        return cls.from_options(**{**read_options_file(path), **options})

    @classmethod
    def from_options(cls, **options: Any) -> TrainingConfig:
        """Build from flat option names, as on the command line (``batch_size=16``, ``tasks=[...]``).

        Raises:
            ConfigError: an unknown option name, or a value out of range.
        """
        grouped: dict[str, dict] = {name: {} for name in GROUPS}
        for key, value in options.items():
            if key not in OPTION_GROUP:
                raise ConfigError(f"unknown option {key!r} ({option_name(key)}); see `mtl-text train --help`")
            grouped[OPTION_GROUP[key]][key] = value
        return cls(**{group: GROUPS[group](**values) for group, values in grouped.items()})

    def to_dict(self) -> dict[str, dict]:
        """The configuration as nested JSON-able dicts, one per group (saved in the model's config.json)."""
        return {name: getattr(self, name).to_dict() for name in GROUPS}

    @property
    def output_dir(self) -> Path:
        return Path(self.checkpoints.output_dir)

    @property
    def selection_tasks(self) -> list[str]:
        """The tasks whose validation mean selects the best model: ``--selection-tasks``, else every task."""
        return self.evaluation.selection_tasks or list(self.data.tasks)


# where a run uploads its model: not in the training command of its model card (someone else's repository to whoever copies it)
UPLOAD_OPTIONS = ("push_to_hub", "hub_private", "hub_license")
# the options that say where a saved run wrote, not what it trained: not taken from its config.json
RUN_LOCATION_OPTIONS = ("output_dir", "overwrite_output_dir", "resume_from_checkpoint", "cache_dir", *UPLOAD_OPTIONS)


def read_options_file(path: str | Path) -> dict[str, Any]:
    """Training options from a JSON file, as flat option names (those of
    :meth:`TrainingConfig.from_options`; ``mtl-text train --config FILE``).

    The file holds one JSON object in one of three forms:

    * flat option names, a recipe: ``{"tasks": ["sst2", "trec"], "batch_size": 16}``;
    * the option groups, as :meth:`TrainingConfig.to_dict` writes them:
      ``{"data": {"tasks": [...]}, "optimization": {"batch_size": 16}}``;
    * a saved model's ``config.json``, its folder, or its Hub id (``OWNER/NAME`` or
      ``OWNER/NAME@REVISION``, where no such path exists here; only ``config.json`` is
      downloaded): the run's options as it resolved them (its ``training_config``), except those
      that say where it wrote (``--output-dir``, ``--overwrite-output-dir``,
      ``--resume-from-checkpoint``, ``--cache-dir``, ``--push-to-hub``, ``--hub-private``,
      ``--hub-license``), which keep their defaults. Options added to
      mtl-text after that run take today's defaults (a warning lists them); an option removed since
      is an error.

    Paths inside the file (``data_dir``, ``vectors``, ``task_file``, ...) are read as on the command
    line, from the working directory. An option the file leaves out keeps its default.

    Raises:
        ConfigError: a file that cannot be read (or downloaded) or is not one JSON object, an unknown
            option, or a value of the wrong type or out of its range; the message names the file and
            the option.
    """
    file = resolve_config(path)
    shown = f"{path}/{file.name} (Hugging Face Hub)" if is_hub_id(path) else file  # the name messages give
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{shown}: cannot read the options file ({e})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a JSON object of options, got {type(data).__name__}")
    saved_run = "training_config" in data
    if saved_run:
        version, data = data.get("mtl_text_version", "(unknown version)"), data["training_config"]
        if not isinstance(data, dict):
            raise ConfigError(f"{shown}: 'training_config' must be an object of option groups")
    hints = {group: typing.get_type_hints(c) for group, c in GROUPS.items()}
    ranges = {group: field_ranges(c) for group, c in GROUPS.items()}
    grouped = bool(data) and set(data) <= set(GROUPS) and all(isinstance(v, dict) for v in data.values())
    if grouped:
        items = [(group, name, value) for group, values in data.items() for name, value in values.items()]
    else:
        items = [(OPTION_GROUP.get(name), name, value) for name, value in data.items()]
    options = {}
    for group, name, value in items:
        if grouped and name in OPTION_GROUP and OPTION_GROUP[name] != group:
            raise ConfigError(f"{shown}: option {name!r} belongs to group {OPTION_GROUP[name]!r}, not {group!r}")
        if name not in OPTION_GROUP and saved_run:
            raise ConfigError(f"{shown}: this run of mtl-text {version} has option {name!r}, which mtl-text {__version__} does not have; "
                              "its recipe cannot be repeated as it was (train with the version that saved it, or write the options "
                              "in a file of your own without it)")
        if name not in OPTION_GROUP:
            raise ConfigError(f"{shown}: unknown option {name!r}; options are named as in `mtl-text train --help` with underscores "
                              "(batch_size), flat or in the groups of TrainingConfig.to_dict()")
        expected = option_error(hints[group][name], ranges[group].get(name), value)
        if expected is not None:
            raise ConfigError(f"{shown}: option {name!r} ({option_name(name)}) must be {expected}, got {value!r}")
        options[name] = value
    if saved_run:
        for name in RUN_LOCATION_OPTIONS:
            options.pop(name, None)
        new = sorted(set(OPTION_GROUP) - set(RUN_LOCATION_OPTIONS) - set(options))
        if new:
            logger.warning("%s: a run of mtl-text %s, without option(s) %s, which take today's defaults", shown, version,
                           ", ".join(map(option_name, new)))
    return options
