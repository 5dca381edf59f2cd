"""Encoders: token ids -> one vector per token, shared by every task. Every encoder has the same
interface:

* ``forward(input_ids, attention_mask, token_type_ids=None)``: ``(batch, seq_len)`` ints,
  ``(batch, seq_len)`` 0/1 and, for sentence pairs, ``(batch, seq_len)`` segment ids (0 first text,
  1 second) -> ``(batch, seq_len, hidden_size)`` floats (pooling happens after the encoder, per
  task: see :class:`mtl_text.modeling.MultiTaskModel`);
* ``pairs_jointly``: whether the encoder reads the two texts of a pair together (a transformer's
  cross-attention: pool the whole sequence) or each alone (word vectors: the model pools each text
  and combines the two vectors);
* ``hidden_size``: the size of each token vector;
* ``config_dict()``: a JSON-able description from which :func:`build_encoder` rebuilds the same
  architecture (the weights travel separately, in ``model.safetensors``);
* ``frozen``: true when the encoder is used as a fixed feature extractor (then its output for a
  given input never changes, and training may cache it);
* ``layer_groups()``: its trainable parameters from the bottom (embeddings) to the top, for
  layer-wise learning-rate decay;
* ``max_length``: the longest input it accepts, in tokens (``None``: no limit; a transformer reading
  long documents as windows has none for single texts, see :class:`TransformerEncoder`);
* ``default_pooling``: the pooling used when neither the user nor the task chooses one;
* ``context_free``: whether a token's vector depends on its id alone (equal ids, equal vectors: word
  vectors without convolution or bigrams), so that per-token work after the encoder can be done
  once per distinct id (:class:`mtl_text.modeling.pooling.AttentionPooling`).

so heads, sampling, training, saving and prediction do not care which encoder is in use.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ModelLoadError
from .options import LORA_DROPOUT, check_peft, check_window_stride
from .pooling import convolve

logger = logging.getLogger(__name__)


class WordVectorEncoder(nn.Module):
    """Word embeddings: each token id becomes its (trainable or frozen) word vector, optionally read by
    a convolutional layer (a CNN over word vectors, Kim 2014, "Convolutional neural networks for
    sentence classification").

    The embedding matrix is initialised from Word2Vec vectors trained on the tasks' training text or
    from pretrained vectors (see :mod:`mtl_text.modeling.vectors`), or randomly when ``embeddings`` is None.
    Row 0 is ``[PAD]`` (kept at zero), row 1 ``[UNK]``.

    With ``conv_filters > 0``, each width ``w`` of ``conv_widths`` adds ``conv_filters`` filters that
    read ``w`` consecutive word vectors ("same" padding, so one output per token; padding and the
    other text of a pair count as zero vectors), followed by a ReLU; the token vector is the
    concatenation over widths, of size ``conv_filters * len(conv_widths)``. Max pooling over it is
    Kim's max-over-time pooling; the other poolings apply as well. Zhang & Wallace 2015 ("A
    sensitivity analysis of ... CNNs for sentence classification") for the settings: widths near 3-5,
    100-600 filters each.

    With ``bigram_buckets > 0``, each token's vector also adds the vector of the bigram it ends
    (the previous token and itself), looked up in a table of ``bigram_buckets`` rows by a hash of
    the two ids: fastText's hashed n-gram features (Joulin et al. 2017, "Bag of tricks for
    efficient text classification"), which let mean pooling see word order (e.g. "not good").
    The first token of a text, and padding, add nothing. The bigram table starts at zero.

    Args:
        vocab_size: rows of the embedding matrix.
        embedding_dim: size of each word vector.
        freeze: keep the encoder fixed (feature extraction): the embeddings and the convolution.
        embeddings: optional initial matrix ``(vocab_size, embedding_dim)``.
        conv_filters: filters per width (0: no convolution, the word vectors are the token vectors).
        conv_widths: filter widths, in tokens.
        bigram_buckets: rows of the hashed bigram table (0: no bigrams).

    Raises:
        ValueError: ``embeddings`` has the wrong shape, ``conv_filters`` or ``bigram_buckets`` is
            negative, or a width is below 1.
    """

    type_name = "word_vectors"

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        freeze: bool = False,
        embeddings: np.ndarray | torch.Tensor | None = None,
        conv_filters: int = 0,
        conv_widths: tuple[int, ...] | list[int] = (3, 4, 5),
        bigram_buckets: int = 0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        if bigram_buckets < 0:
            raise ValueError(f"bigram_buckets must be >= 0, got {bigram_buckets}")
        self.bigram_buckets = int(bigram_buckets)
        # row 0: "no bigram" (a text's first token, padding), kept at zero
        self.bigrams = nn.Embedding(bigram_buckets + 1, embedding_dim, padding_idx=0) if bigram_buckets else None
        if self.bigrams is not None:
            nn.init.zeros_(self.bigrams.weight)
        if embeddings is not None:
            weights = torch.as_tensor(embeddings, dtype=torch.float32)
            if tuple(weights.shape) != (vocab_size, embedding_dim):
                raise ValueError(f"embeddings have shape {tuple(weights.shape)}, expected {(vocab_size, embedding_dim)}")
            with torch.no_grad():
                self.embedding.weight.copy_(weights)
                self.embedding.weight[0].zero_()
        if conv_filters < 0 or (conv_filters and (not conv_widths or min(conv_widths) < 1)):
            raise ValueError(f"conv_filters must be >= 0 and conv_widths positive, got {conv_filters} and {list(conv_widths)}")
        self.conv_filters, self.conv_widths = int(conv_filters), [int(w) for w in conv_widths] if conv_filters else []
        self.convolutions = nn.ModuleList(nn.Conv1d(embedding_dim, conv_filters, w) for w in self.conv_widths)
        self.requires_grad_(not freeze)
        self.frozen = freeze
        self.hidden_size = conv_filters * len(self.conv_widths) if conv_filters else embedding_dim

    max_length = None
    pairs_jointly = False  # a token's vector depends on its own text only

    @property
    def context_free(self) -> bool:
        """A token's vector is its word vector alone: no convolution, no bigrams."""
        return not self.conv_filters and self.bigrams is None

    @property
    def default_pooling(self) -> str:
        """``max`` over a convolution's feature maps (max-over-time), else ``mean``."""
        return "max" if self.conv_filters else "mean"

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, seq_len)``, ``(batch, seq_len)`` (and for pairs the segment ids ``(batch, seq_len)``)
        -> ``(batch, seq_len, hidden_size)``. Without a convolution, padding positions hold the zero
        ``[PAD]`` vector (poolings mask them anyway); with one, each text of a pair is convolved alone."""
        vectors = self.embedding(input_ids)
        if self.bigrams is not None:
            vectors = vectors + self.bigrams(self.bigram_ids(input_ids, attention_mask, token_type_ids))
        if not self.conv_filters:
            return vectors
        if token_type_ids is None:  # (no data-dependent test here: the graph must export with torch.export)
            return convolve(vectors, self.convolutions)
        second = (token_type_ids != 0).unsqueeze(-1)
        return torch.where(second, convolve(vectors * second, self.convolutions), convolve(vectors * ~second, self.convolutions))

    def bigram_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Row of the bigram table for each token, ``(batch, seq_len)``: ``1 + hash(previous id, id) mod
        bigram_buckets``, or 0 where there is no previous token of the same text (or for padding)."""
        previous = torch.nn.functional.pad(input_ids[:, :-1], (1, 0))
        has_previous = torch.nn.functional.pad(attention_mask[:, :-1], (1, 0)).bool() & attention_mask.bool()
        if token_type_ids is not None:
            has_previous &= torch.nn.functional.pad(token_type_ids[:, :-1], (1, 0), value=-1) == token_type_ids
        hashed = (previous * 1_000_003 + input_ids) % self.bigram_buckets + 1
        return torch.where(has_previous, hashed, torch.zeros_like(hashed))

    def config_dict(self) -> dict:
        return {
            "type": self.type_name,
            "vocab_size": self.embedding.num_embeddings,
            "embedding_dim": self.embedding.embedding_dim,
            "freeze": self.frozen,
            **({"conv_filters": self.conv_filters, "conv_widths": self.conv_widths} if self.conv_filters else {}),
            **({"bigram_buckets": self.bigram_buckets} if self.bigram_buckets else {}),
        }

    @classmethod
    def from_config(cls, config: dict) -> WordVectorEncoder:
        return cls(config["vocab_size"], config["embedding_dim"], config.get("freeze", False),
                   conv_filters=config.get("conv_filters", 0), conv_widths=config.get("conv_widths", (3, 4, 5)),
                   bigram_buckets=config.get("bigram_buckets", 0))

    def layer_groups(self) -> list[list[tuple[str, nn.Parameter]]]:
        """Trainable parameters bottom to top: the embedding matrix, then the convolution (if any)."""
        embedding = [(n, p) for n, p in self.named_parameters() if p.requires_grad and n.startswith(("embedding.", "bigrams."))]
        convolution = [(n, p) for n, p in self.named_parameters() if p.requires_grad and n.startswith("convolutions.")]
        return [embedding, convolution] if self.conv_filters else [embedding]


class TransformerEncoder(nn.Module):
    """A pretrained Hugging Face transformer (any ``AutoModel``): token ids -> its last hidden states.

    Three ways of transferring (Howard & Ruder 2018; Sun et al. 2019, "How to fine-tune BERT for
    text classification"):

    * full fine-tuning (the default): every weight trains;
    * partial freezing, ``freeze_layers=K``: the embeddings and the bottom ``K`` layers stay fixed, the
      layers above train (``K=0`` freezes the embeddings only);
    * feature extraction, ``freeze=True``: nothing in the encoder trains; it runs in eval mode (no
      dropout) under ``torch.no_grad``, so its output for a given input is fixed and can be cached;
    * low-rank adaptation, :meth:`add_lora`: the transformer's weights stay fixed and a trained
      low-rank update is added to some of its linear layers (Hu et al. 2022), merged into the weights
      when the model is saved, or saved apart from them (``save_adapters``).

    Any of them can train with gradient checkpointing (:meth:`enable_gradient_checkpointing`), which
    trades compute for activation memory.

    Long documents (``window_length=N``): a single text longer than ``N`` tokens is read as
    overlapping windows of ``N`` tokens, each a sequence of its own with the text's start and end
    special tokens (BERT's ``[CLS] ... [SEP]``); consecutive windows share ``window_stride`` tokens, as
    the tokenizer's ``stride`` with ``return_overflowing_tokens``. Every window of the batch goes
    through the model in one call; each token's vector is then put back at its place in the document
    (the mean of its windows' vectors where windows overlap; the start and end tokens get the mean
    over all windows), so the output is ``(batch, seq_len, hidden_size)`` as without windows and the
    task's pooling pools the whole document: mean pooling is the mean over the windows' tokens,
    attention pooling weighs tokens across windows. Sentence pairs are not windowed. The sliding
    window of BERT's SQuAD recipe (Devlin et al. 2019), pooled per document as in Pappagari et al.
    2019 ("Hierarchical transformers for long document classification").

    Args:
        model: a ``transformers.PreTrainedModel`` whose output has ``last_hidden_state``.
        freeze: feature extraction.
        freeze_layers: freeze the embeddings and this many bottom layers (``None``: none).
        source: where the weights came from (a hub id or folder), kept in the config for the record.
        window_length: read single texts longer than this as windows of this many tokens, special
            tokens included (``None``: no windows; longer inputs are the caller's error).
        window_stride: tokens shared by consecutive windows (``None``: a quarter of ``window_length``).

    Raises:
        ConfigError: ``freeze_layers`` is negative or above the number of layers, the layer stack
            cannot be found for partial freezing, ``window_length`` is below 3 or above the model's
            position embeddings, or ``window_stride`` leaves a window no new token
            (``window_stride > window_length - 3``).
    """

    type_name = "transformer"
    default_pooling = "mean"
    pairs_jointly = True  # a pair is one sequence; attention runs across both texts (a cross-encoder)
    context_free = False  # self-attention: a token's vector depends on its neighbours

    def __init__(self, model: nn.Module, freeze: bool = False, freeze_layers: int | None = None, source: str | None = None,
                 window_length: int | None = None, window_stride: int | None = None):
        super().__init__()
        self.model = model
        self.frozen = freeze
        self.freeze_layers = freeze_layers
        self.source = source
        self.lora: dict | None = None  # add_lora's settings while the adapters are in the model
        self._lora_layers: list[str] = []  # the names (in self.model) of the linear layers with an adapter
        self.random_weights: list[str] = []  # weights the pretrained files lacked, initialised at random (from_pretrained)
        positions = getattr(model.config, "max_position_embeddings", None)
        if window_length is not None:
            window_stride = check_window_stride(window_length, window_stride)
            if not 3 <= window_length <= (positions or window_length):
                raise ConfigError(f"--window-length must be between 3 and the model's {positions} position embeddings, got {window_length}")
        self.window_length, self.window_stride = window_length, window_stride
        self.hidden_size = model.config.hidden_size
        parameters = inspect.signature(model.forward).parameters
        self._takes_token_types = "token_type_ids" in parameters
        self._no_cache = {"use_cache": False} if "use_cache" in parameters else {}  # whole texts: nothing to cache (nor to warn of)
        self._groups = _layer_groups(model)
        if freeze:
            self.model.requires_grad_(False)
            self.model.eval()
        elif freeze_layers is not None:
            if self._groups is None:
                raise ConfigError(f"cannot find the layer stack of {type(model).__name__} (a ModuleList of config.num_hidden_layers "
                                 "layers), so --freeze-layers cannot tell which layers are the bottom ones")
            n_layers = len(self._groups) - 2
            if not 0 <= freeze_layers <= n_layers:
                raise ConfigError(f"--freeze-layers must be between 0 and the model's {n_layers} layers, got {freeze_layers}")
            for group in self._groups[: freeze_layers + 1]:  # the embeddings, then the bottom layers
                for _, p in group:
                    p.requires_grad_(False)

    def add_lora(self, r: int, alpha: float | None = None, dropout: float = LORA_DROPOUT, target_modules: list[str] | str | None = None,
                 save_adapters: bool = False) -> None:
        """Low-rank adaptation (LoRA; Hu et al. 2022, "LoRA: Low-rank adaptation of large language
        models"): every weight of the transformer is fixed, and each target linear layer computes
        ``W x + (alpha / r) B A dropout(x)``, with ``A`` ``(r, in_features)`` (random) and ``B``
        ``(out_features, r)`` (zero at first, so training starts from the pretrained function)
        trained. The adapters are injected by peft (``peft.inject_adapter_in_model``); the model
        keeps its class and its layer stack, so layer-wise learning-rate decay applies to the
        adapters. Call it after the pretrained weights are loaded.

        A saved model holds the updates merged into the weights (:meth:`merged_state_dict`): it is a
        plain transformer again, loaded and run without peft and without the adapters' extra work.
        With ``save_adapters`` it holds the adapters alone (:meth:`adapter_state_dict`), and its
        config names the base model and the SHA-256 of its weights (:meth:`config_dict`'s ``lora``),
        from which :meth:`from_config` rebuilds the encoder.

        Args:
            r: the rank of each update (e.g. 8).
            alpha: the scale numerator (default ``2 * r``, as TRL's ``ModelConfig``).
            dropout: dropout on the adapters' input, in training.
            target_modules: names (or ending names) of the linear layers to adapt, or ``"all-linear"``;
                default: peft's choice for the architecture (BERT's ``query`` and ``value``).
            save_adapters: save the adapters apart from the transformer's weights instead of merged.

        Raises:
            ConfigError: peft is not installed, the encoder is frozen or partly frozen, it has adapters
                already, ``r`` is below 1, or no target layer is found or given for the architecture;
                ``save_adapters`` for an encoder whose weights came from no named model (``source``),
                or some of whose weights were initialised at random (not in the pretrained files).
        """
        check_peft()
        from peft import LoraConfig, inject_adapter_in_model
        from peft.tuners.lora import LoraLayer

        if self.frozen or self.freeze_layers is not None:
            raise ConfigError("LoRA trains adapters on a fixed transformer: it excludes --freeze-encoder and --freeze-layers")
        if self.lora is not None:
            raise ConfigError("this encoder has LoRA adapters already")
        if r < 1:
            raise ConfigError(f"--lora-r must be at least 1, got {r}")
        alpha = 2 * r if alpha is None else alpha
        base = self.base_record() if save_adapters else None  # of the weights as loaded, before the adapters go in
        targets = "all-linear" if target_modules == ["all-linear"] else target_modules  # peft takes it as a string
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
        try:
            inject_adapter_in_model(config, self.model)
        except ValueError as e:  # peft: no default targets for this model type, or none of the names found
            linear = sorted({name.rsplit(".", 1)[-1] for name, m in self.model.named_modules() if isinstance(m, nn.Linear)})
            raise ConfigError(f"--lora-target-modules: {e} The {type(self.model).__name__}'s linear layers end in: "
                              f"{' '.join(linear)}") from None
        self._lora_layers = [name for name, m in self.model.named_modules() if isinstance(m, LoraLayer)]
        self.lora = {"r": r, "alpha": alpha, "dropout": dropout,
                     "target_modules": sorted({name.rsplit(".", 1)[-1] for name in self._lora_layers}), "layers": len(self._lora_layers),
                     **(base or {})}
        self._groups = _layer_groups(self.model)

    @property
    def saves_adapters(self) -> bool:
        """Whether a save holds the LoRA adapters alone (``add_lora(save_adapters=True)``) rather than
        merged into the weights."""
        return bool(self.lora) and "base_model" in self.lora

    def base_record(self) -> dict:
        """What an adapters-only save records of the transformer the adapters sit on: ``base_model``,
        where its weights load from (a Hub id as given, ``NAME@REVISION`` included; a local folder as
        an absolute path), and ``base_weights_sha256`` (:func:`weights_sha256` of its state).

        Raises:
            ConfigError: the weights came from no named model, or some were initialised at random.
        """
        from .hub import is_hub_id

        if not self.source:
            raise ConfigError("--lora-save adapters saves the adapters apart from the transformer they sit on, so the transformer "
                              "must be a named model (--model-name-or-path); this one was built in Python: save it merged")
        if self.random_weights:
            raise ConfigError(f"--lora-save adapters: {self.source} lacks the weights {self.random_weights[:3]}, which transformers "
                              "initialises at random on each load, so adapters alone could not be restored: save them merged")
        base = self.source if is_hub_id(self.source, owner=False) else str(Path(self.source).resolve())
        return {"base_model": base, "base_weights_sha256": weights_sha256(self.model.state_dict())}

    def enable_gradient_checkpointing(self) -> None:
        """Gradient (activation) checkpointing (Chen et al. 2016, "Training deep nets with sublinear
        memory cost"): in training, each transformer layer keeps only its input from the forward pass
        and computes its activations again in the backward pass, so the activations held at once are
        those of one layer instead of the whole stack's (attention probabilities of
        ``(batch, heads, seq_len, seq_len)`` per layer among them), for about one more forward pass of
        compute per step. This is transformers' ``activation_checkpointing_enable``
        (``gradient_checkpointing_enable`` before 5.0), non-reentrant
        (``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``), so layers whose input needs
        no gradient (above frozen embeddings, or with LoRA) still get theirs. The random state is
        replayed, so dropout masks and gradients are those of training without it. Evaluation and
        prediction do not change, and neither does the saved model.

        Raises:
            ConfigError: the encoder is frozen (it keeps no activations for gradients), or the model's
                class does not support gradient checkpointing.
        """
        if self.frozen:
            raise ConfigError("gradient checkpointing saves the activations that gradients need; a frozen encoder (feature "
                              "extraction) computes no gradients: drop --gradient-checkpointing or --freeze-encoder")
        if not getattr(self.model, "supports_gradient_checkpointing", False):
            raise ConfigError(f"--gradient-checkpointing: {type(self.model).__name__} does not support gradient checkpointing "
                              "(transformers' supports_gradient_checkpointing is false)")
        kwargs = {"use_reentrant": False}
        if hasattr(self.model, "activation_checkpointing_enable"):  # transformers 5.x's name
            self.model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def merged_state_dict(self) -> dict[str, torch.Tensor]:
        """This encoder's state under the plain transformer's names, each LoRA update merged into its
        layer's weight (``W + (alpha / r) B A``, peft's ``get_delta_weight``); the adapters' own
        tensors left out. Without adapters, ``state_dict()``. The tensors are new where merged,
        shared with the encoder elsewhere."""
        state = self.state_dict()
        for name in self._lora_layers:
            layer = self.model.get_submodule(name)
            prefix = f"model.{name}."
            for key in [k for k in state if k.startswith(prefix)]:
                value = state.pop(key)
                if key.startswith(prefix + "base_layer."):
                    state[prefix + key[len(prefix + "base_layer."):]] = value
            state[prefix + "weight"] = (layer.get_base_layer().weight + layer.get_delta_weight(layer.active_adapters[0])).detach()
        return state

    def unmerged_state_dict(self, merged: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`merged_state_dict` for loading: a plain transformer's state (e.g. a
        saved model's) under this encoder's names, the merged weights as the fixed weights and every
        update zero (``A`` as it is now, ``B = 0``), so the encoder computes what was saved."""
        own = self.state_dict()
        state = dict(merged)
        for name in self._lora_layers:
            prefix = f"model.{name}."
            for key in [k for k in own if k.startswith(prefix)]:
                if key.startswith(prefix + "base_layer."):
                    plain = prefix + key[len(prefix + "base_layer."):]
                    if plain in state:
                        state[key] = state.pop(plain)
                else:  # the adapter's own: A kept, B zero
                    state[key] = torch.zeros_like(own[key]) if ".lora_B." in key else own[key]
        return state

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """The LoRA adapters' own tensors (``A`` and ``B`` of each adapted layer, under this encoder's
        names): what an adapters-only save holds of the encoder. Empty without adapters."""
        prefixes = tuple(f"model.{name}.lora_" for name in self._lora_layers)
        return {k: v for k, v in self.state_dict().items() if k.startswith(prefixes)} if prefixes else {}

    def fold_lora(self) -> None:
        """Each update folded into its layer's fixed weight and zeroed (``W <- W + (alpha / r) B A``,
        ``B <- 0``; the module structure is kept, so a wrapped model, e.g. DistributedDataParallel's,
        is unaffected): the encoder computes what a model loaded from its save computes, number for
        number. The adapters then no longer sit on the base weights, so save it merged only after."""
        if self.lora is not None:
            self.load_state_dict(self.unmerged_state_dict(self.merged_state_dict()))

    def merge_lora(self) -> None:
        """Merge each update into its layer and remove the adapters (peft's ``merge_and_unload``):
        each adapted layer becomes its base ``nn.Linear`` with weight ``W + (alpha / r) B A``, and the
        encoder is a plain transformer, run without the adapters' extra work. Nothing without adapters."""
        for name in self._lora_layers:
            layer = self.model.get_submodule(name)
            layer.merge()
            parent, _, child = name.rpartition(".")
            setattr(self.model.get_submodule(parent), child, layer.get_base_layer())
        self.lora, self._lora_layers = None, []
        self._groups = _layer_groups(self.model)

    @property
    def max_length(self) -> int | None:
        """The longest sequence one model call takes: the number of position embeddings
        (absolute-position models), else ``None``. With windows, this limits sentence pairs only."""
        n = getattr(self.model.config, "max_position_embeddings", None)
        return int(n) if n else None

    @classmethod
    def from_pretrained(cls, name_or_path: str, freeze: bool = False, freeze_layers: int | None = None,
                        trust_remote_code: bool = False, window_length: int | None = None, window_stride: int | None = None,
                        **kwargs) -> TransformerEncoder:
        """Load pretrained weights with ``AutoModel.from_pretrained`` (a hub id, ``name@revision`` for a
        branch, tag or commit, or a local folder); ``kwargs`` go to it (e.g. ``num_hidden_layers=2``
        keeps the bottom two layers). ``source`` records ``name_or_path`` as given.

        Raises:
            ConfigError: an empty revision after ``@``.
        """
        from transformers import AutoModel

        from .hub import hub_reference

        name, revision = hub_reference(name_or_path, owner=False)
        model, info = AutoModel.from_pretrained(name, trust_remote_code=trust_remote_code, revision=revision, output_loading_info=True,
                                                **kwargs)
        encoder = cls(model, freeze=freeze, freeze_layers=freeze_layers, source=str(name_or_path), window_length=window_length,
                      window_stride=window_stride)
        encoder.random_weights = sorted(info.get("missing_keys", ()))
        return encoder

    def train(self, mode: bool = True) -> TransformerEncoder:
        super().train(mode)
        if self.frozen:
            self.model.eval()  # a feature extractor has no dropout: same input, same features
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, seq_len)`` x2 (x3 with segment ids) -> last hidden states ``(batch, seq_len, hidden_size)``.
        ``token_type_ids`` go to models that take them (BERT's segment embeddings). With
        ``window_length`` set, single texts longer than it are read as windows (see the class).

        Raises:
            ValueError: sentence pairs longer than ``window_length`` (pairs are not windowed).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if self.window_length is None or input_ids.shape[1] <= self.window_length:
                return self._encode(input_ids, attention_mask, token_type_ids)
            if token_type_ids is not None:
                raise ValueError(f"sentence pairs of {input_ids.shape[1]} tokens: pairs are not read as windows, so they must be "
                                 f"cut to --window-length {self.window_length}")
            return self._encode_windows(input_ids, attention_mask)

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None and self._takes_token_types else {}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra, **self._no_cache).last_hidden_state

    def _encode_windows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(batch, seq_len)`` x2, ``seq_len > window_length`` -> ``(batch, seq_len, hidden_size)``.

        Each row is ``start, t_1 .. t_n, end, padding`` (its first and its last real token are the
        tokenizer's special tokens). Window ``k`` of a row is ``start, t_(k*step+1) .. t_(k*step+inner),
        end`` with ``inner = window_length - 2`` and ``step = inner - window_stride``; a row has
        ``1 + ceil(max(n - inner, 0) / step)`` windows, and only those are encoded.
        """
        batch, seq_len = input_ids.shape
        device, width = input_ids.device, self.window_length
        inner = width - 2
        step = inner - self.window_stride
        lengths = attention_mask.sum(1)  # (batch,) real tokens, the two special ones included
        content = (lengths - 2).clamp(min=0)  # (batch,) tokens between them
        n_windows = 1 + ((content - inner).clamp(min=0) + step - 1) // step  # (batch,)
        k = int(n_windows.max())  # windows of the longest row
        offsets = torch.arange(k, device=device)[:, None] * step + torch.arange(inner, device=device)  # (k, inner)
        real = offsets < content[:, None, None]  # (batch, k, inner): the window's slot holds a token of the text
        used = torch.arange(k, device=device) < n_windows[:, None]  # (batch, k)
        positions = (1 + offsets).clamp(max=seq_len - 1)  # (k, inner): where each slot's token sits in the row
        tokens = input_ids[:, positions] * real  # (batch, k, inner)
        n_real = real.sum(-1)  # (batch, k)
        end = input_ids.gather(1, (lengths - 1).clamp(min=0)[:, None])  # (batch, 1)
        windows = torch.cat([input_ids[:, :1, None].expand(-1, k, 1), tokens, torch.zeros_like(tokens[..., :1])], -1)
        windows = windows.scatter(2, (1 + n_real)[..., None], end[:, :, None].expand(-1, k, 1))
        masks = (torch.arange(width, device=device) < (2 + n_real)[..., None]).to(attention_mask.dtype)  # (batch, k, width)
        hidden = self._encode(windows[used], masks[used])  # (windows, width, hidden_size): every row's windows in one call
        rows = used.nonzero()[:, 0]  # (windows,) the row of each window
        slots = real[used]  # (windows, inner)
        # every token back at its place: content tokens from their slots, start and end tokens from every window
        target = torch.cat([(rows[:, None] * seq_len + positions.expand(batch, -1, -1)[used])[slots], rows * seq_len,
                            rows * seq_len + (lengths - 1).clamp(min=0)[rows]])
        vectors = torch.cat([hidden[:, 1:-1][slots], hidden[:, 0], hidden[torch.arange(len(rows), device=device), 1 + n_real[used]]])
        total = vectors.new_zeros(batch * seq_len, vectors.shape[-1]).index_add(0, target, vectors)
        count = vectors.new_zeros(batch * seq_len).index_add(0, target, vectors.new_ones(len(target)))
        return (total / count.clamp(min=1)[:, None]).view(batch, seq_len, -1)

    def config_dict(self) -> dict:
        return {
            "type": self.type_name,
            "config": self.model.config.to_dict(),
            "freeze": self.frozen,
            "freeze_layers": self.freeze_layers,
            "source": self.source,
            **({"window_length": self.window_length, "window_stride": self.window_stride} if self.window_length else {}),
            **({"lora": {k: v for k, v in self.lora.items() if k != "layers"}} if self.saves_adapters else {}),
        }

    @classmethod
    def from_config(cls, config: dict) -> TransformerEncoder:
        """The same architecture, randomly initialised (``AutoConfig.for_model`` + ``AutoModel.from_config``;
        no download, no remote code). A config with ``lora`` (adapters saved apart from their base)
        gives the base model's pretrained weights instead (:meth:`from_lora_config`), with fresh adapters.

        Raises:
            ModelLoadError: as :meth:`from_lora_config`.
        """
        from transformers import AutoConfig, AutoModel

        if config.get("lora"):
            return cls.from_lora_config(config)
        hf_config = dict(config["config"])
        model = AutoModel.from_config(AutoConfig.for_model(hf_config.pop("model_type"), **hf_config))
        return cls(model, freeze=config.get("freeze", False), freeze_layers=config.get("freeze_layers"), source=config.get("source"),
                   window_length=config.get("window_length"), window_stride=config.get("window_stride"))

    @classmethod
    def from_lora_config(cls, config: dict) -> TransformerEncoder:
        """The encoder of an adapters-only save: its base model loaded (``config["lora"]["base_model"]``,
        a Hub id or a local folder; no remote code), its weights checked against the SHA-256 recorded
        at training, then adapters of the recorded rank, scale and layers added (peft's initial values:
        the saved ones are loaded next, :meth:`MultiTaskModel.load_weights`).

        Raises:
            ModelLoadError: peft is not installed; the base model cannot be loaded (missing, offline,
                gated), or its weights are not those the adapters were trained on.
        """
        lora = config["lora"]
        base = lora["base_model"]
        how = "the model folder holds LoRA adapters only (--lora-save adapters) and needs the transformer they were trained on"
        try:
            check_peft()
        except ConfigError:
            raise ModelLoadError("encoder.lora: the model folder holds LoRA adapters, which need peft to load: pip install "
                                 "'mtl-text[peft]'") from None
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a part of loading the model, not a download of its own to follow
        try:
            encoder = cls.from_pretrained(base, window_length=config.get("window_length"), window_stride=config.get("window_stride"))
        except (OSError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ModelLoadError(f"encoder.lora.base_model: cannot load {base} ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                                 f"{how}") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        found = weights_sha256(encoder.model.state_dict())
        if found != lora["base_weights_sha256"]:
            raise ModelLoadError(f"encoder.lora.base_model: the weights of {base} have SHA-256 {found}, not the "
                                 f"{lora['base_weights_sha256']} recorded at training; {how}, unchanged")
        encoder.source = config.get("source")
        encoder.add_lora(lora["r"], lora["alpha"], lora["dropout"], lora["target_modules"])
        return encoder

    def layer_groups(self) -> list[list[tuple[str, nn.Parameter]]]:
        """Trainable ``(name, parameter)`` pairs (names as in this module) bottom to top: the
        embeddings, each layer, then what sits above the layers (e.g. a final norm or BERT's pooler).
        One group when the layer stack cannot be found (then layer-wise decay has nothing to decay)."""
        groups = self._groups if self._groups is not None else [list(self.model.named_parameters())]
        return [[(f"model.{n}", p) for n, p in group if p.requires_grad] for group in groups]


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's tensors: each name, dtype, shape and raw bytes, in name order. The
    same weights give the same digest whatever file format or sharding they were read from."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _layer_groups(model: nn.Module) -> list[list[tuple[str, nn.Parameter]]] | None:
    """Split a transformer's parameters into [below the layers, layer 0, ..., layer L-1, above].

    The layer stack is the ``nn.ModuleList`` with ``config.num_hidden_layers`` entries (BERT's
    ``encoder.layer``, DistilBERT's ``transformer.layer``, ...). Parameters registered before it
    (embeddings) form the bottom group, the rest the top one. ``None`` when there is no such list.
    """
    n_layers = getattr(model.config, "num_hidden_layers", None)
    stack = next((name for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers), None)
    if stack is None:
        logger.warning("cannot find the layer stack of %s: layer-wise learning-rate decay and --freeze-layers are unavailable",
                       type(model).__name__)
        return None
    below, layers, above = [], [[] for _ in range(n_layers)], []
    for name, p in model.named_parameters():
        if name.startswith(stack + "."):
            layers[int(name[len(stack) + 1:].split(".")[0])].append((name, p))
        elif not any(layers):
            below.append((name, p))
        else:
            above.append((name, p))
    return [below, *layers, above]


ENCODER_TYPES: dict[str, type[nn.Module]] = {
    WordVectorEncoder.type_name: WordVectorEncoder,
    TransformerEncoder.type_name: TransformerEncoder,
}


def build_encoder(config: dict) -> nn.Module:
    """Rebuild an encoder (randomly initialised) from its ``config_dict()``.

    Raises:
        ValueError: the config names no known encoder type.
    """
    kind = config.get("type")
    if kind not in ENCODER_TYPES:
        raise ValueError(f"unknown encoder type {kind!r}; expected one of {sorted(ENCODER_TYPES)}")
    return ENCODER_TYPES[kind].from_config(config)
