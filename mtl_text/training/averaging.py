"""Weight averaging during training (``--weight-averaging ema|swa``): validate, select and save a
running average of the weights instead of the weights of the last step.

* ``ema``: an exponential moving average, ``avg <- decay * avg + (1 - decay) * weights`` after every
  optimizer step (Polyak & Juditsky 1992; the EMA of timm and of diffusers' ``EMAModel``);
* ``swa``: the uniform mean of the weights after every step (stochastic weight averaging,
  Izmailov et al. 2018; for fine-tuned language models, Lu et al. 2022).

Both start after ``--averaging-start`` of the training steps (the first average is the weights of
that step) and are computed by torch's :class:`torch.optim.swa_utils.AveragedModel`; buffers are
not averaged but kept equal to the model's. Once averaging has started, each validation scores the
averaged weights, which are swapped into the (prepared) model for it and for saving the best model
(the store / copy / restore of diffusers' ``EMAModel``), so evaluation keeps the run's mixed
precision and processes; the saved model has the architecture and format of any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, get_swa_multi_avg_fn


class WeightAveraging:
    """The running average of ``model``'s parameters from step ``start_step`` on.

    Args:
        model: the unwrapped :class:`~mtl_text.modeling.model.MultiTaskModel` being trained.
        mode: ``"ema"`` or ``"swa"``.
        start_step: the first optimizer step whose weights enter the average (1-based).
        decay: the EMA's decay (``ema`` only), in ``(0, 1)``; about ``1 / (1 - decay)`` recent
            steps carry most of the weight.

    Raises:
        ValueError: an unknown mode or a decay outside ``(0, 1)``.
    """

    def __init__(self, model: nn.Module, mode: str, start_step: int, decay: float = 0.999):
        if mode not in ("ema", "swa"):
            raise ValueError(f"weight averaging mode: expected 'ema' or 'swa', got {mode!r}")
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay: expected a number in (0, 1), got {decay}")
        self.mode, self.start_step, self.decay = mode, start_step, decay
        self.model = model
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay) if mode == "ema" else get_swa_multi_avg_fn())
        self.averaged.requires_grad_(False)

    @property
    def count(self) -> int:
        """How many steps' weights the average holds (0 before ``start_step``)."""
        return int(self.averaged.n_averaged)

    def update(self, step: int) -> None:
        """Fold the model's weights after optimizer step ``step`` into the average (from
        ``start_step`` on; earlier steps are ignored)."""
        if step >= self.start_step:
            self.averaged.update_parameters(self.model)

    @contextlib.contextmanager
    def applied(self) -> Iterator[bool]:
        """Inside the block, the model holds the averaged weights (and yields True); the trained
        weights come back on exit. Before any step was averaged, the model is left as it is (and
        yields False)."""
        if not self.count:
            yield False
            return
        live = list(self.model.parameters())
        stored = [p.detach().clone() for p in live]
        with torch.no_grad():
            for p, a in zip(live, self.averaged.module.parameters(), strict=True):
                p.copy_(a)
        try:
            yield True
        finally:
            with torch.no_grad():
                for p, s in zip(live, stored, strict=True):
                    p.copy_(s)
