"""Maximum mean discrepancy (MMD) between two samples of vectors, with a multi-kernel Gaussian.

For samples ``X = {x_i}`` (source) and ``Y = {y_j}`` (target) and a kernel ``k``,

    MMD²(X, Y) = mean_ij k(x_i, x_j) + mean_ij k(y_i, y_j) - 2 mean_ij k(x_i, y_j)

(the biased "V-statistic" estimate of Gretton et al. 2012, "A kernel two-sample test", eq. 5): it
is never negative and exactly zero for identical samples. The kernel is the mean of Gaussian kernels
``exp(-||a - b||² / (2 s σ²))`` over the bandwidth scales ``s`` in :data:`DEFAULT_SCALES`, where ``σ²``
is the median heuristic: half the median squared distance between the vectors of the joint sample
(computed without gradient; Gretton et al. 2012, section 8). Several bandwidths around the median
are the multi-kernel MMD of Long et al. 2015, "Learning transferable features with deep adaptation
networks" (DAN), which adds ``λ · MMD²`` between source and target features to the task loss so that
the encoder learns features on which the two domains look alike.

In mtl-text the aligned features are the pooled vectors a task's head reads (``(batch, hidden)``),
with ``λ`` set by ``--mmd-weight``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

DEFAULT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def median_bandwidth(squared_distances: torch.Tensor) -> torch.Tensor:
    """The median heuristic ``σ²``: half the median of the off-diagonal squared distances (a scalar,
    no gradient); 1 when every distance is zero."""
    n = squared_distances.shape[0]
    off = squared_distances.detach()[~torch.eye(n, dtype=torch.bool, device=squared_distances.device)]
    median = off.median() if off.numel() else squared_distances.new_tensor(0.0)
    return torch.where(median > 0, median / 2, torch.ones_like(median))


def mmd2(source: torch.Tensor, target: torch.Tensor, scales: Sequence[float] = DEFAULT_SCALES) -> torch.Tensor:
    """The squared MMD between two samples, multi-kernel Gaussian, median-heuristic bandwidth.

    Args:
        source: ``(n, dim)`` vectors of the source domain.
        target: ``(m, dim)`` vectors of the target domain.
        scales: multipliers of the median-heuristic ``σ²``, one Gaussian kernel each (averaged).

    Returns:
        a scalar tensor ``>= 0`` (differentiable in both inputs; 0 for identical samples).

    Raises:
        ValueError: inputs that are not 2-D with the same ``dim``, an empty sample, or no scale.
    """
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"mmd2 takes (n, dim) and (m, dim) tensors, got {tuple(source.shape)} and {tuple(target.shape)}")
    if not len(source) or not len(target) or not scales:
        raise ValueError("mmd2 needs non-empty samples and at least one bandwidth scale")
    joint = torch.cat([source, target]).float()
    d2 = torch.cdist(joint, joint).pow(2)
    sigma2 = median_bandwidth(d2)
    kernel = sum(torch.exp(-d2 / (2 * s * sigma2)) for s in scales) / len(scales)
    n = len(source)
    value = kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
    return value.clamp_min(0.0)
