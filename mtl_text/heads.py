"""Classification heads: pooled vector ``(batch, input_dim)`` -> logits ``(batch, num_labels)``."""

from __future__ import annotations

import torch
from torch import nn


class ClassificationHead(nn.Module):
    """A single-label (softmax) classification head.

    ``dropout -> Linear(input_dim, hidden_size) -> tanh -> dropout -> Linear(hidden_size, num_labels)``,
    the head BERT-style models put on a pooled vector; with ``hidden_size=0`` it is
    ``dropout -> Linear(input_dim, num_labels)`` (a linear probe).

    Args:
        input_dim: size of the pooled vector.
        num_labels: number of classes.
        hidden_size: width of the hidden layer, 0 for none.
        dropout: dropout probability before each linear layer.
    """

    def __init__(self, input_dim: int, num_labels: int, hidden_size: int = 256, dropout: float = 0.1):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_size > 0:
            layers += [nn.Linear(input_dim, hidden_size), nn.Tanh(), nn.Dropout(dropout)]
            input_dim = hidden_size
        layers.append(nn.Linear(input_dim, num_labels))
        self.layers = nn.Sequential(*layers)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """``(batch, input_dim)`` -> logits ``(batch, num_labels)``."""
        return self.layers(pooled)
