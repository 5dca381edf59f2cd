"""Learned task weights: homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018, "Multi-task
learning using uncertainty to weigh losses for scene geometry and semantics").

Each task ``i`` has a learned log-variance ``s_i = log σ_i²`` (initialised at 0: weight 1/2 on every
loss) and its loss becomes

    L_i / (2 exp(s_i)) + s_i / 2

(the form of LibMTL's ``UW``, Lin & Zhang 2023): a task whose loss stays high learns a large
variance and weighs less, the ``s_i / 2`` term keeps the variance from growing without bound. The
log-variances are parameters of the model, saved in ``model.safetensors`` with the other weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class UncertaintyWeighting(nn.Module):
    """One learned log-variance per task (see the module's text).

    Args:
        tasks: the task names.
    """

    def __init__(self, tasks: Iterable[str]):
        super().__init__()
        self.log_variances = nn.ParameterDict({name: nn.Parameter(torch.zeros(())) for name in tasks})

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        """The weighted loss of ``task``: a scalar from its scalar ``loss``."""
        s = self.log_variances[task]
        return loss / (2 * s.exp()) + s / 2

    def weights(self) -> dict[str, float]:
        """Each task's current loss weight ``1 / (2 σ_i²)``, for logs."""
        return {name: float(0.5 * torch.exp(-s.detach())) for name, s in self.log_variances.items()}
