"""Is a difference between two models real? Paired tests over the same test examples.

* :func:`paired_bootstrap`: the difference of any metric (model A minus model B) with a percentile
  interval from resampling the test examples with replacement, both models' predictions resampled
  together (Efron & Tibshirani 1993; for NLP, Berg-Kirkpatrick et al. 2012, "An empirical
  investigation of statistical significance in NLP"; Koehn 2004);
* :func:`mcnemar`: McNemar's exact test for two classifiers' accuracies on the same examples (the
  binomial test on the discordant pairs; Dietterich 1998, "Approximate statistical tests for
  comparing supervised classification learning algorithms");
* :func:`seed_spread`: mean and sample standard deviation across seeds;
* :func:`compare_runs`: several paired runs (seeds) of two models, any head metric;
* :func:`verdict`: gain, loss or tie.

A difference is called ``significant`` when its 95% interval excludes zero; a comparison is flagged
as negative transfer only then (:func:`is_negative`), and as a loss (:func:`verdict`) only where
every pair of runs lost too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Difference:
    """A paired difference ``a - b`` of one metric on the same examples.

    Attributes:
        delta: the metric of A minus that of B on the whole test set.
        low, high: the ``confidence`` percentile interval of the difference.
        confidence: e.g. 0.95.
        p_value: two-sided: twice the smaller share of resampled differences on either side of zero
            (bootstrap), or McNemar's exact p-value.
        method: ``"paired bootstrap (n resamples)"`` or ``"McNemar exact"``.
    """

    delta: float
    low: float
    high: float
    confidence: float
    p_value: float
    method: str

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}

    def __str__(self) -> str:
        return f"{self.delta:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired_bootstrap(a: Sequence, b: Sequence, references: Sequence, metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
                     n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0, runs: bool = False) -> Difference:
    """Paired bootstrap of ``metric(A) - metric(B)`` over the test examples.

    Args:
        a, b: the two models' predictions, one per example (class ids, multi-hot rows or values);
            with ``runs``, one such sequence per run (seed) of each model: ``(runs, examples, ...)``,
            run ``r`` of A paired with run ``r`` of B.
        references: the true labels, one per example.
        metric: ``metric(predictions, references) -> float``, higher is better; default accuracy
            (an example is right when its whole row matches; computed vectorised).
        n_resamples: bootstrap resamples.
        confidence: coverage of the percentile interval, in (0, 1).
        seed: the resampling generator's seed (the result is a function of it).
        runs: ``a`` and ``b`` hold several runs; each resample draws test examples once and the
            difference is the mean over runs (so the interval covers the test set's sampling, the
            runs' spread enters through the mean).

    Returns:
        a :class:`Difference` (``method`` names the number of resamples).

    Raises:
        ValueError: predictions and references of different lengths, an empty test set, different
            numbers of runs, ``confidence`` outside (0, 1) or ``n_resamples < 1``.
    """
    refs = np.asarray(references)
    a, b = (np.asarray(a), np.asarray(b)) if runs else (np.asarray(a)[None], np.asarray(b)[None])
    n = len(refs)
    if a.shape[:2] != b.shape[:2] or a.shape[1] != n or n == 0 or len(a) == 0:
        raise ValueError(f"paired_bootstrap needs predictions of both models (same number of runs) for the same non-empty test set, got "
                         f"shapes {a.shape} and {b.shape} for {n} references")
    if not 0 < confidence < 1 or n_resamples < 1:
        raise ValueError(f"confidence must be in (0, 1) and n_resamples >= 1, got {confidence}, {n_resamples}")
    rng = np.random.default_rng(seed)
    if metric is None:  # accuracy, vectorised: the mean of per-example correctness differences (mean over runs)
        right = [(x == refs).reshape(len(x), n, -1).all(2).astype(float).mean(0) for x in (a, b)]
        diff = right[0] - right[1]
        delta = float(diff.mean())
        samples = np.array([diff[rng.integers(0, n, n)].mean() for _ in range(n_resamples)])
    else:
        def mean_difference(idx):
            return float(np.mean([metric(x[idx], refs[idx]) - metric(y[idx], refs[idx]) for x, y in zip(a, b)]))

        delta = mean_difference(np.arange(n))
        samples = np.array([mean_difference(rng.integers(0, n, n)) for _ in range(n_resamples)])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    p = min(1.0, 2 * min((samples <= 0).mean(), (samples >= 0).mean()))
    return Difference(delta, float(low), float(high), confidence, float(p), f"paired bootstrap ({n_resamples} resamples)")


def mcnemar(a: Sequence, b: Sequence, references: Sequence, confidence: float = 0.95) -> Difference:
    """McNemar's exact test of two classifiers' accuracies on the same examples.

    With ``n01`` the examples only B gets right and ``n10`` those only A gets right, the accuracy
    difference is ``(n10 - n01) / n``; under the null each discordant example is A's with
    probability 1/2, so the p-value is the two-sided binomial test of ``n10`` in ``n10 + n01``
    (scipy's ``binomtest``). The interval is the Clopper-Pearson interval of the share ``n10 / (n10 +
    n01)`` turned into an accuracy difference: ``(2 s - 1) (n10 + n01) / n``.

    Raises:
        ValueError: as :func:`paired_bootstrap`.
    """
    from scipy.stats import binomtest

    a, b, refs = np.asarray(a), np.asarray(b), np.asarray(references)
    if not len(a) == len(b) == len(refs) or len(refs) == 0:
        raise ValueError(f"mcnemar needs predictions of both models for the same non-empty test set, got {len(a)}, {len(b)} and {len(refs)}")
    n = len(refs)
    right_a, right_b = (a == refs).reshape(n, -1).all(1), (b == refs).reshape(n, -1).all(1)
    n10, n01 = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    delta = (n10 - n01) / n
    if n10 + n01 == 0:
        return Difference(0.0, 0.0, 0.0, confidence, 1.0, "McNemar exact")
    test = binomtest(n10, n10 + n01, 0.5)
    ci = test.proportion_ci(confidence_level=confidence, method="exact")
    scale = (n10 + n01) / n
    return Difference(delta, (2 * ci.low - 1) * scale, (2 * ci.high - 1) * scale, confidence, float(test.pvalue), "McNemar exact")


def seed_spread(values: Sequence[float]) -> dict[str, float]:
    """``{"mean", "std", "n"}`` of per-seed values (sample standard deviation, ``ddof=1``; 0 for one seed)."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}


def metric_function(task, metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """``metric(predictions, references)`` for one of a task's head metrics (``task``: a registered
    task's name, or a :class:`~mtl_text.data.tasks.Task`), computed by the head type itself (the one
    definition of each metric: scikit-learn / scipy inside the head).

    Raises:
        ValueError: no task given for a metric other than accuracy, or a metric the head does not report.
        UnknownTaskError: a task that is not registered.
    """
    import torch

    from ..data.tasks import get_task
    from ..modeling.heads import head_type

    if task is None:
        raise ValueError(f"the {metric} of a bootstrap needs the task whose head computes it")
    t = get_task(task) if isinstance(task, str) else task
    head = head_type(t.problem_type)(1, t.labels)
    if metric not in head.metric_names:
        raise ValueError(f"task {task}'s head reports {head.metric_names}, not {metric!r}")
    return lambda p, r: head.compute_metrics(torch.as_tensor(p), torch.as_tensor(r))[metric]


def compare_runs(a_runs: Sequence[dict], b_runs: Sequence[dict], metric: str = "accuracy", seed: int = 0, task=None,
                 n_resamples: int = 1000, confidence: float = 0.95) -> tuple[Difference, list[float]]:
    """A against B over paired runs (run ``r`` of each, e.g. with the same seed), each run a dict with
    ``predictions`` and ``references`` (one per test example) and its metric value under ``score``.

    Returns:
        the :func:`paired_bootstrap` difference over the test examples (``metric`` computed by
        ``task``'s head, :func:`metric_function`: a task name or a ``Task``; or vectorised for
        accuracy; the mean over runs
        in each resample), and each pair's difference of ``score``.

    Raises:
        ValueError: runs scored on different test examples (their references differ), or as
            :func:`paired_bootstrap` and :func:`metric_function`.
    """
    refs = np.asarray(a_runs[0]["references"])
    for r in [*a_runs, *b_runs]:
        if np.asarray(r["references"]).shape != refs.shape or not np.array_equal(np.asarray(r["references"]), refs):
            raise ValueError("compare: runs scored on different test examples")
    fn = None if metric == "accuracy" else metric_function(task, metric)
    difference = paired_bootstrap([r["predictions"] for r in a_runs], [r["predictions"] for r in b_runs], refs, metric=fn,
                                  n_resamples=n_resamples, confidence=confidence, seed=seed, runs=True)
    return difference, [x["score"] - y["score"] for x, y in zip(a_runs, b_runs)]


def verdict(low: float, high: float, per_run: Sequence[float] = (), higher_is_better: bool = True) -> str:
    """What a difference A - B shows, from its interval ``[low, high]`` (e.g. a :class:`Difference`'s)
    and each pair of runs' difference (``per_run``, e.g. per seed):

    * ``"gain"``: the whole interval lies on the better side of zero and every pair of runs gained;
    * ``"loss"``: the mirror image (for transfer, negative transfer the data supports);
    * ``"tie"``: the interval contains zero;
    * ``"runs disagree"``: the interval lies on one side of zero but some pair of runs does not
      show it: the bootstrap covers the sampling of test examples, not the spread between training
      runs, so this is not evidence either way.

    ``higher_is_better``: false for an error such as MSE, whose gain is a negative difference."""
    sign = 1 if higher_is_better else -1
    low, high = sorted((sign * low, sign * high))
    if low <= 0 <= high:
        return "tie"
    side = 1 if low > 0 else -1  # where the interval lies, in the better direction: +1 a gain, -1 a loss
    if all(side * sign * d > 0 for d in per_run):
        return "gain" if side > 0 else "loss"
    return "runs disagree"


def is_negative(difference: Difference) -> bool:
    """Negative transfer: the whole interval lies below zero (a loss the data supports)."""
    return difference.high < 0


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A Student-t interval of the mean of per-seed (or per-pair) differences; ``(nan, nan)`` for one value."""
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.nan, math.nan
    half = t.ppf(0.5 + confidence / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
    return float(v.mean() - half), float(v.mean() + half)
