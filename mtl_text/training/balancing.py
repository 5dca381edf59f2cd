"""Task balancing: how the tasks' losses or gradients combine into one update.

* ``static``: each task's loss times a fixed weight (``--task-weights``, default 1);
* ``uncertainty``: learned per-task log-variances weigh the losses (Kendall et al. 2018;
  :class:`~mtl_text.modeling.weighting.UncertaintyWeighting`, part of the model);
* gradient aggregation, with ``--sampling all`` (one batch of every task per step): the gradient of
  each task's loss with respect to every trainable parameter is computed separately (one row of the
  Jacobian each); on the shared encoder's parameters the rows are combined by an aggregator of
  `torchjd <https://github.com/TorchJD/torchjd>`_: ``pcgrad`` (projecting conflicting gradients,
  Yu et al. 2020, "Gradient surgery for multi-task learning"), ``upgrad`` (Quinton & Rey 2024,
  "Jacobian descent for multi-objective optimization"), ``mgda`` (Sener & Koltun 2018, "Multi-task
  learning as multi-objective optimization"); on task-specific parameters (poolings, heads), whose
  rows are zero for the other tasks, the rows are summed.

Data-parallel training (several processes): the task-wise gradients are computed outside
DistributedDataParallel's gradient hooks (the forward passes run under ``no_sync``, the gradients
through ``torch.autograd.grad``), then the whole Jacobian is averaged across processes with one
all-reduce *before* aggregation. Every process then aggregates the same matrix, the gradient of the
global batch of each task, and takes the same step: ``N`` processes with batch ``B`` train as one
process with batch ``N x B`` (tested).
"""

from __future__ import annotations

import torch

from .config import GRADIENT_BALANCING


def make_aggregator(name: str):
    """The torchjd aggregator of a gradient-balancing mode.

    Raises:
        ImportError: torchjd is not installed (``pip install 'mtl-text[balancing]'``).
        ValueError: not one of :data:`GRADIENT_BALANCING`.
    """
    if name not in GRADIENT_BALANCING:
        raise ValueError(f"unknown gradient aggregation {name!r}; expected one of {GRADIENT_BALANCING}")
    try:
        from torchjd import aggregation
    except ImportError as e:
        raise ImportError(f"--task-balancing {name} needs torchjd: pip install 'mtl-text[balancing]'") from e
    return {"pcgrad": aggregation.PCGrad, "upgrad": aggregation.UPGrad, "mgda": aggregation.MGDA}[name]()


def task_jacobian(losses: list[torch.Tensor], params: list[torch.nn.Parameter]) -> torch.Tensor:
    """``(tasks, parameters)``: row ``i`` is the gradient of ``losses[i]`` with respect to every
    parameter, flattened (zeros where a parameter does not reach the loss)."""
    rows = []
    for i, loss in enumerate(losses):
        grads = torch.autograd.grad(loss, params, retain_graph=i < len(losses) - 1, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]))
    return torch.stack(rows)


def aggregated_backward(losses: list[torch.Tensor], shared: list[torch.nn.Parameter], specific: list[torch.nn.Parameter], aggregator,
                        accelerator=None, weights: list[float] | None = None) -> None:
    """Set ``.grad`` of every parameter from several tasks' losses (see the module's text).

    Args:
        losses: one scalar loss per task, each of that task's (per-process) batch.
        shared: the shared encoder's trainable parameters (aggregated with ``aggregator``).
        specific: the task-specific trainable parameters (rows summed).
        aggregator: a torchjd aggregator (``matrix -> vector``), or ``None`` for the weighted sum of
            the rows with ``weights`` (static weights; uncertainty weighting is already in the losses).
        accelerator: with several processes, the Jacobian is averaged across them first.
        weights: per-task weights of the sum when ``aggregator`` is ``None`` (default 1).
    """
    params = shared + specific
    jacobian = task_jacobian(losses, params)
    if accelerator is not None and accelerator.num_processes > 1:
        jacobian = accelerator.reduce(jacobian, reduction="mean")
    n_shared = sum(p.numel() for p in shared)
    w = jacobian.new_tensor(weights if weights is not None else [1.0] * len(losses))
    combined = (w[:, None] * jacobian).sum(0)
    if aggregator is not None and n_shared:
        combined[:n_shared] = aggregator(jacobian[:, :n_shared])
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = combined[offset: offset + n].view_as(p).to(p.dtype).clone()
        offset += n
