"""Optimizer parameter groups: discriminative learning rates for transfer learning.

* The task-specific parts (poolings and heads) train at ``head_learning_rate``: they start from
  random weights and need larger steps than a pretrained encoder.
* The encoder trains at ``learning_rate`` at its top, decayed by ``layer_decay`` per layer towards the
  bottom: layer ``i`` of ``L`` (embeddings ``i = 0``) gets ``learning_rate * layer_decay ** (L + 1 - i)``
  (layer-wise learning-rate decay: Howard & Ruder 2018, "Universal Language Model Fine-tuning";
  Sun et al. 2019, "How to Fine-Tune BERT for Text Classification"; Clark et al. 2020, ELECTRA).
  ``layer_decay = 1`` gives every layer the same rate.
* Weight decay applies to matrices only: not to biases, normalisation weights or embeddings.

Lazy updates of lookup tables (:class:`LazyAdamW`, :func:`sparse_lookup_tables`,
:func:`clip_grad_norm`): a word-vector model's embedding matrix and its wide parts' n-gram tables
hold most of its weights (8.3 M and 5.8 M of the default model's 14.2 M), yet a batch reads a few
thousand of their rows. With sparse gradients, AdamW's moments and the weights of those rows alone
are updated (TensorFlow Addons' ``LazyAdam``; PyTorch's ``SparseAdam``), instead of every row at
every step; the other parameters train with torch's fused AdamW as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
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


def sparse_lookup_tables(model: nn.Module) -> list[str]:
    """Make every trainable ``nn.Embedding`` and ``nn.EmbeddingBag`` of ``model`` produce sparse
    gradients (only the rows a batch looks up), for :class:`LazyAdamW`; returns their names. The
    forward pass and the saved weights are unchanged."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and module.weight.requires_grad:
            module.sparse = True
            names.append(name)
    return names


class LazyAdamW(torch.optim.AdamW):
    """AdamW (Loshchilov & Hutter 2019) that also takes sparse gradients, updating them lazily.

    A parameter with a dense gradient gets torch's AdamW step (fused when ``fused=True``). A parameter
    with a sparse gradient ``(rows, dim)`` (a lookup table, :func:`sparse_lookup_tables`) gets the
    same step on the rows present in the gradient only: their first and second moments, and their
    weights; the other rows and their moments stay as they are, as in TensorFlow Addons'
    ``LazyAdam`` and PyTorch's ``SparseAdam``. Bias correction counts the parameter's own steps, as
    AdamW does. Decoupled weight decay, where the group has it, shrinks every row of the table (as
    AdamW would) whenever the table has a gradient. With a gradient on every row at every step, the
    updates equal AdamW's.

    Takes AdamW's arguments; the state has AdamW's keys (``step``, ``exp_avg``, ``exp_avg_sq``), so
    checkpoints load into either optimizer.

    Raises:
        ValueError: ``amsgrad`` or ``maximize`` in a group with a sparse gradient (not implemented).
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lazy = [(group, p, p.grad) for group in self.param_groups for p in group["params"]
                if p.grad is not None and p.grad.is_sparse]
        for _, p, _ in lazy:  # AdamW's own step skips parameters without a gradient
            p.grad = None
        super().step()
        for group, p, grad in lazy:
            p.grad = grad
            self._lazy_step(group, p, grad.coalesce())
        return loss

    def _lazy_step(self, group: dict, p: torch.Tensor, grad: torch.Tensor) -> None:
        if group["amsgrad"] or group["maximize"]:
            raise ValueError("LazyAdamW: amsgrad and maximize are not implemented for sparse gradients")
        state = self.state[p]
        if not state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32, device=p.device)  # as fused AdamW keeps it
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["step"] += 1
        step = state["step"].item()
        lr, (beta1, beta2), eps, decay = float(group["lr"]), group["betas"], group["eps"], group["weight_decay"]
        if decay:
            p.mul_(1 - lr * decay)
        rows, values = grad.indices()[0], grad.values()
        exp_avg = state["exp_avg"].index_select(0, rows).mul_(beta1).add_(values, alpha=1 - beta1)
        exp_avg_sq = state["exp_avg_sq"].index_select(0, rows).mul_(beta2).addcmul_(values, values, value=1 - beta2)
        state["exp_avg"].index_copy_(0, rows, exp_avg)
        state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
        denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** step)).add_(eps)
        p.index_add_(0, rows, exp_avg / denom, alpha=-lr / (1 - beta1 ** step))


@torch.no_grad()
def clip_grad_norm(parameters: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale the gradients of ``parameters``, dense or sparse, so that their global L2 norm is at most
    ``max_norm``; returns the norm before clipping. The rule of ``torch.nn.utils.clip_grad_norm_``
    (factor ``max_norm / (norm + 1e-6)`` when below 1), which does not take sparse gradients; the
    gradients are left untouched when the factor would be 1. Sparse gradients are coalesced (each
    row once) in place."""
    with_grad = [p for p in parameters if p.grad is not None]
    for p in with_grad:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
    norms = [torch.linalg.vector_norm(p.grad.values() if p.grad.is_sparse else p.grad) for p in with_grad]
    if not norms:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack(norms))
    factor = max_norm / (total + 1e-6)
    if factor < 1:
        for p in with_grad:
            if p.grad.is_sparse:
                p.grad = p.grad * factor
            else:
                p.grad.mul_(factor)
    return total
