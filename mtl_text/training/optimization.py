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


class PlateauSchedule:
    """Learning-rate factor for ``--lr-scheduler plateau``: a linear warm-up over ``warmup_steps``, then
    a factor that is multiplied by ``factor`` each time the validation score has not improved for
    ``patience`` validations in a row (the rule of torch's ``ReduceLROnPlateau`` in ``max`` mode,
    with threshold 0, kept as a multiplier of a ``LambdaLR`` so that warm-up and checkpoints work as
    with the other schedules).

    Call it with a step for the factor (``LambdaLR``'s lambda); :meth:`update` after each validation.
    """

    def __init__(self, warmup_steps: int, factor: float = 0.5, patience: int = 1):
        if not 0 < factor < 1 or patience < 0:
            raise ValueError(f"factor must be in (0, 1) and patience >= 0, got {factor}, {patience}")
        self.warmup_steps, self.factor, self.patience = warmup_steps, factor, patience
        self.scale, self.best, self.bad = 1.0, None, 0

    def __call__(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0
        return warm * self.scale

    def update(self, score: float) -> bool:
        """Record a validation score (higher is better); True when the rates were just cut."""
        if self.best is None or score > self.best:
            self.best, self.bad = score, 0
            return False
        self.bad += 1
        if self.bad > self.patience:
            self.scale *= self.factor
            self.bad = 0
            return True
        return False

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.scale, self.best, self.bad = float(state["scale"]), state["best"], int(state["bad"])
