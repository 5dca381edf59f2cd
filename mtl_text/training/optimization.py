"""Optimizer parameter groups: discriminative learning rates for transfer learning.

* The task-specific parts (poolings and heads) train at ``head_learning_rate``: they start from
  random weights and need larger steps than a pretrained encoder.
* The encoder trains at ``learning_rate`` at its top, decayed by ``layer_decay`` per layer towards the
  bottom: layer ``i`` of ``L`` (embeddings ``i = 0``) gets ``learning_rate * layer_decay ** (L + 1 - i)``
  (layer-wise learning-rate decay: Howard & Ruder 2018, "Universal Language Model Fine-tuning";
  Sun et al. 2019, "How to Fine-Tune BERT for Text Classification"; Clark et al. 2020, ELECTRA).
  ``layer_decay = 1`` gives every layer the same rate.
* Weight decay applies to matrices only: not to biases, normalisation weights or embeddings.
"""

from __future__ import annotations

from torch import nn


def _no_decay(name: str, p: nn.Parameter) -> bool:
    return p.ndim < 2 or "embedding" in name.lower()


def parameter_groups(model: nn.Module, learning_rate: float, head_learning_rate: float, layer_decay: float = 1.0,
                     weight_decay: float = 0.0) -> list[dict]:
    """Parameter groups for ``torch.optim.AdamW`` over a :class:`~mtl_text.modeling.MultiTaskModel`.

    Args:
        model: the model; its encoder provides ``layer_groups()`` (bottom to top).
        learning_rate: the rate of the encoder's top group.
        head_learning_rate: the rate of every pooling and head.
        layer_decay: factor per layer going down the encoder, in ``(0, 1]``.
        weight_decay: AdamW decoupled weight decay of matrices.

    Returns:
        non-empty groups, each with ``params``, ``lr``, ``weight_decay`` and a ``name`` for logs.

    Raises:
        ValueError: ``layer_decay`` outside ``(0, 1]``.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
    named = []
    encoder_groups = model.encoder.layer_groups()
    depth = len(encoder_groups) - 1
    for i, group in enumerate(encoder_groups):
        named.append((f"encoder.{i}", group, learning_rate * layer_decay ** (depth - i)))
    task_params = [(n, p) for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    named.append(("heads", task_params, head_learning_rate))
    groups = []
    for name, params, lr in named:
        for decay in (True, False):
            chosen = [p for n, p in params if _no_decay(n, p) != decay]
            if chosen:
                groups.append({"params": chosen, "lr": lr, "weight_decay": weight_decay if decay else 0.0,
                               "name": f"{name}{'' if decay else '.no_decay'}"})
    return groups
