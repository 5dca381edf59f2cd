"""Paired bootstrap and McNemar's test against hand-computed cases; the MMD on known distributions."""

import math

import numpy as np
import pytest
import torch

from mtl_text.transfer.mmd import mmd2
from mtl_text.transfer.significance import is_negative, mcnemar, mean_interval, paired_bootstrap, seed_spread

REFS = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
A = np.array([0, 1, 1, 0, 1, 0, 1, 0, 0, 0])  # 9 right: wrong only on example 7
B = np.array([0, 1, 0, 0, 0, 0, 1, 0, 1, 0])  # 6 right: wrong on 2, 4, 7, 8


def test_mcnemar_matches_the_hand_computed_binomial_test():
    """A alone is right on 3 examples (2, 4, 8), B alone on none: n10 = 3, n01 = 0. Under the null
    each discordant example is A's with probability 1/2: p = 2 * 0.5^3 = 0.25. Clopper-Pearson 95%
    interval of 3/3: [0.025^(1/3), 1]; as an accuracy difference (2 s - 1) * 3 / 10."""
    d = mcnemar(A, B, REFS)
    assert d.delta == pytest.approx(0.3)
    assert d.p_value == pytest.approx(0.25)
    assert d.low == pytest.approx((2 * 0.025 ** (1 / 3) - 1) * 0.3, abs=1e-6)
    assert d.high == pytest.approx(0.3)
    assert not d.significant and not is_negative(d)
    reversed_ = mcnemar(B, A, REFS)
    assert reversed_.delta == pytest.approx(-0.3) and reversed_.p_value == pytest.approx(0.25)


def test_mcnemar_without_discordant_examples_is_no_difference():
    d = mcnemar(A, A, REFS)
    assert (d.delta, d.low, d.high, d.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_of_two_examples_matches_the_exact_resampling_distribution():
    """Two examples, A right on the first only, B on the second only: per-example differences +1 and
    -1. A resample's mean difference is -1, 0 or +1 with probabilities 1/4, 1/2, 1/4, so the 2.5% and
    97.5% quantiles are -1 and +1: the interval [-1, 1] contains 0 and nothing is flagged."""
    d = paired_bootstrap([0, 0], [1, 1], [0, 1], n_resamples=4000, seed=1)
    assert d.delta == 0.0 and d.low == -1.0 and d.high == 1.0
    assert not d.significant and not is_negative(d)


def test_bootstrap_of_a_uniform_loss_is_a_point_interval_and_negative():
    refs = np.arange(50) % 3
    d = paired_bootstrap(refs + 1, refs, refs)  # A always wrong, B always right
    assert (d.delta, d.low, d.high) == (-1.0, -1.0, -1.0)
    assert d.significant and is_negative(d) and d.p_value == 0.0


def test_bootstrap_with_a_metric_function_and_several_runs():
    macro = paired_bootstrap(A, B, REFS, metric=lambda p, r: float((p == r).mean()), seed=3)
    fast = paired_bootstrap(A, B, REFS, seed=3)
    assert macro.delta == pytest.approx(0.3) and fast.delta == pytest.approx(0.3)
    assert (macro.low, macro.high) == pytest.approx((fast.low, fast.high))
    two_runs = paired_bootstrap([A, A], [B, B], REFS, runs=True, seed=3)
    assert (two_runs.delta, two_runs.low, two_runs.high) == pytest.approx((fast.delta, fast.low, fast.high))
    with pytest.raises(ValueError, match="same non-empty test set"):
        paired_bootstrap(A[:5], B, REFS)


def test_seed_spread_and_t_interval():
    assert seed_spread([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    low, high = mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * std / sqrt(n)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert all(math.isnan(v) for v in mean_interval([1.0]))


def test_mmd_is_zero_for_identical_samples_and_grows_with_the_shift():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=generator)
    y = torch.randn(200, 8, generator=generator)
    assert mmd2(x, x).item() == 0.0
    same, small, large = mmd2(x, y).item(), mmd2(x, y + 0.5).item(), mmd2(x, y + 2.0).item()
    assert 0 <= same < 0.02 < small < large  # same distribution: near 0; shifted: positive, larger for a larger shift
    assert mmd2(x, y * 3).item() > 0.02  # another variance


def test_mmd_is_differentiable_and_rejects_bad_shapes():
    x = torch.randn(16, 4, requires_grad=True)
    y = torch.randn(16, 4) + 1
    mmd2(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mmd2 takes"):
        mmd2(torch.randn(4, 3), torch.randn(4, 2))
