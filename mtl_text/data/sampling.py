"""Task sampling: which task each training step draws its batch from.

Two separate questions, answered by two separate pieces (as in AllenNLP's multi-task loader):

* *what* to sample, the task mix: :func:`task_probabilities` turns the tasks' training-set sizes
  into sampling probabilities, following one strategy;
* *in which order*: :class:`TaskSchedule` draws the task of each step from that mix.

Strategies, with ``N_i`` the number of training examples of task ``i``:

* ``proportional``: ``p_i = N_i / sum_j N_j`` (every example equally likely);
* ``uniform``: ``p_i = 1 / K`` (every task equally likely);
* ``temperature``: ``p_i ∝ N_i^(1/T)`` (Arivazhagan et al. 2019, "Massively Multilingual NMT");
  ``T = 1`` is proportional, ``T -> ∞`` uniform;
* ``annealed``: ``p_i ∝ N_i^α`` with ``α = 1 - 0.8 (e - 1) / (E - 1)`` in epoch ``e`` of ``E``
  (Stickland & Murray 2019, "BERT and PALs", section 4): proportional in the first epoch, moving
  towards uniform (``α = 0.2``) in the last;
* ``all``: no sampling: every step takes one batch of every task (:meth:`TaskSchedule.tasks_at`), as
  gradient-aggregation methods (PCGrad, UPGrad) need; its mix is uniform.

Distributed training: the schedule is a pure function of ``(seed, step)``. Every process computes
the same task for the same step without communicating, so all ranks of a step run the same head
(no rank waits in an all-reduce for a head it never used), and a resumed run continues the exact
sequence from any step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

STRATEGIES = ("proportional", "uniform", "temperature", "annealed", "all")


def task_probabilities(
    sizes: Mapping[str, int],
    strategy: str = "temperature",
    temperature: float = 2.0,
    epoch: int = 1,
    num_epochs: int = 1,
) -> dict[str, float]:
    """Sampling probability of each task.

    Args:
        sizes: task name -> number of training examples (> 0).
        strategy: one of :data:`STRATEGIES`.
        temperature: ``T`` of the ``temperature`` strategy (> 0).
        epoch: the current epoch, from 1 (``annealed`` only).
        num_epochs: the number of epochs ``E`` (``annealed`` only).

    Returns:
        task name -> probability; the values sum to 1.

    Raises:
        ValueError: an unknown strategy, a non-positive size or temperature, or an epoch outside
            ``1..num_epochs``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; expected one of {STRATEGIES}")
    if not sizes or any(n <= 0 for n in sizes.values()):
        raise ValueError(f"every task needs at least one training example, got sizes {dict(sizes)}")
    n = np.array([float(sizes[name]) for name in sizes])
    if strategy == "proportional":
        exponent = 1.0
    elif strategy in ("uniform", "all"):
        exponent = 0.0
    elif strategy == "temperature":
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        exponent = 1.0 / temperature
    else:
        if not 1 <= epoch <= max(num_epochs, 1):
            raise ValueError(f"epoch must be in 1..{num_epochs}, got {epoch}")
        exponent = 1.0 - 0.8 * (epoch - 1) / (num_epochs - 1) if num_epochs > 1 else 1.0
    weights = n**exponent
    probs = weights / weights.sum()
    return {name: float(p) for name, p in zip(sizes, probs)}


class TaskSchedule:
    """The task of every training step, drawn from :func:`task_probabilities`.

    Args:
        sizes: task name -> number of training examples.
        seed: the run's seed.
        steps_per_epoch: steps that make one epoch (used by ``annealed`` to know the epoch).
        num_epochs: epochs in the run (``annealed`` only).
        strategy, temperature: as in :func:`task_probabilities`.
    """

    def __init__(
        self,
        sizes: Mapping[str, int],
        seed: int,
        steps_per_epoch: int,
        num_epochs: int = 1,
        strategy: str = "temperature",
        temperature: float = 2.0,
    ):
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.tasks = list(sizes)
        self.sizes = dict(sizes)
        self.seed = seed
        self.steps_per_epoch = steps_per_epoch
        self.num_epochs = max(num_epochs, 1)
        self.strategy = strategy
        self.temperature = temperature
        self._cache: dict[int, np.ndarray] = {}
        self.probabilities(0)  # validate the arguments now

    def epoch_of(self, step: int) -> int:
        """The epoch (from 1, capped at ``num_epochs``) that step ``step`` (from 0) belongs to."""
        return min(step // self.steps_per_epoch + 1, self.num_epochs)

    def probabilities(self, step: int) -> dict[str, float]:
        """The task mix in force at ``step``."""
        return task_probabilities(self.sizes, self.strategy, self.temperature, self.epoch_of(step), self.num_epochs)

    def tasks_at(self, step: int) -> list[str]:
        """The tasks of step ``step``: every task with the ``all`` strategy, else :meth:`task_at`'s one."""
        return list(self.tasks) if self.strategy == "all" else [self.task_at(step)]

    def task_at(self, step: int) -> str:
        """The task of step ``step`` (from 0): the same on every process and after a resume."""
        epoch = self.epoch_of(step)
        if epoch not in self._cache:
            self._cache[epoch] = np.cumsum([self.probabilities(step)[t] for t in self.tasks])
        u = np.random.default_rng([self.seed, step]).random()
        index = int(np.searchsorted(self._cache[epoch], u, side="right"))
        return self.tasks[min(index, len(self.tasks) - 1)]
