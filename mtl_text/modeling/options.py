"""The modeling options that the configuration checks, without torch: the pooling modes, the
windows' stride and LoRA's defaults and package (``mtl_text.training.config`` reads them, so that
``--help`` and a bad option answer before torch loads)."""

from __future__ import annotations

import importlib.util

from ..errors import ConfigError

POOLING_MODES = ("mean", "max", "mean_max", "hierarchical", "attention", "cnn", "cls")  # mtl_text.modeling.pooling describes each
LORA_DROPOUT = 0.05  # the default dropout on LoRA adapters' input (TRL's ModelConfig)


def check_peft() -> None:
    """LoRA's package, peft, is installed (it is the ``peft`` extra).

    Raises:
        ConfigError: it is not.
    """
    if importlib.util.find_spec("peft") is None:
        raise ConfigError("--lora-r needs peft: pip install 'mtl-text[peft]'")


def check_window_stride(window_length: int, window_stride: int | None) -> int:
    """The overlap of consecutive windows: ``window_stride``, or a quarter of ``window_length`` when ``None``.

    Raises:
        ConfigError: a stride outside ``[0, window_length - 3]`` (each window must read a new token).
    """
    window_stride = window_length // 4 if window_stride is None else window_stride
    if not 0 <= window_stride <= window_length - 3:
        raise ConfigError(f"--window-stride must be between 0 and --window-length - 3 = {window_length - 3} (each window must "
                          f"read at least one new token), got {window_stride}")
    return window_stride
