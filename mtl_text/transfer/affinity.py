"""Inter-task affinity during joint training: does a step on task *i* lower task *j*'s loss?

TAG's lookahead measure (Fifty et al. 2021, "Efficiently Identifying Task Groupings for Multi-Task
Learning", NeurIPS): with the shared parameters ``θ_s`` and each task's own ``θ_j``,

    Z_{i→j} = 1 − L_j(θ_s − η ∇_{θ_s} L_i, θ_j) / L_j(θ_s, θ_j)

positive where a gradient step on task *i*'s loss alone (``η``: each shared parameter's current
learning rate) also lowers task *j*'s loss, negative where it raises it. ``Z_{j→j}``, a task's own
step, is the reference: ``Z_{i→j} / Z_{j→j}`` says how much of its own step's gain a step on *i*
gives *j*. Averaged over training, low or negative affinities into a task point at tasks that
should not share its encoder (the paper groups tasks by them); the retraining comparisons
(``mtl-text compare``) remain the evidence of whether sharing helped. On six GLUE / GoEmotions /
SST-2 tasks with word vectors they did not predict which partner spares GoEmotions
(docs/transfer-workflows.md).

Here every task is scored on its own batch (the tasks have separate data), in eval mode (no dropout,
no random numbers drawn), and the shared parameters are put back exactly after each lookahead: the
measurement does not change the run. Each process measures on its own batches; the processes'
affinities are averaged.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

import torch


@torch.no_grad()
def _losses(loss_of: Callable[[str], torch.Tensor], tasks: Sequence[str]) -> dict[str, float]:
    return {task: loss_of(task).item() for task in tasks}


def lookahead_affinity(loss_of: Callable[[str], torch.Tensor], tasks: Sequence[str], shared: Sequence[torch.nn.Parameter],
                       learning_rates: Sequence[float]) -> dict[str, dict[str, float]]:
    """One measurement of ``Z_{i→j}`` for every ordered pair of ``tasks`` (see the module's text).

    Args:
        loss_of: ``loss_of(task)`` -> that task's loss (a 0-d tensor) on its batch, computed with
            the current parameters (the same batch at every call).
        tasks: the tasks, at least two.
        shared: the shared (encoder) parameters that the lookahead moves; the others stay.
        learning_rates: each shared parameter's step size ``η``.

    Returns:
        ``{i: {j: Z_{i→j}}}``, ``i`` the task whose gradient is followed, ``j`` the task whose loss
        is read; 0 where ``j``'s loss is 0 before the step.

    Raises:
        ValueError: fewer than two tasks, no shared parameter, or one learning rate per parameter
            missing.
    """
    if len(tasks) < 2 or not shared or len(learning_rates) != len(shared):
        raise ValueError(f"lookahead_affinity needs two or more tasks, shared parameters and one learning rate each; got "
                         f"{len(tasks)} task(s), {len(shared)} parameter(s), {len(learning_rates)} rate(s)")
    before = _losses(loss_of, tasks)
    saved = [p.detach().clone() for p in shared]
    affinity = {}
    try:
        for i in tasks:
            with torch.enable_grad():
                grads = torch.autograd.grad(loss_of(i), shared, allow_unused=True)
            with torch.no_grad():
                for p, g, lr in zip(shared, grads, learning_rates):
                    if g is not None:
                        p.add_(g, alpha=-lr)  # a sparse gradient (a lookup table's) moves only its rows
            after = _losses(loss_of, tasks)
            with torch.no_grad():
                for p, s in zip(shared, saved):
                    p.copy_(s)
            affinity[i] = {j: 1.0 - after[j] / before[j] if before[j] else 0.0 for j in tasks}
    finally:
        with torch.no_grad():  # exactly as before, whatever happened
            for p, s in zip(shared, saved):
                p.copy_(s)
    return affinity


class AffinityMonitor:
    """The measurements of one training run (``--task-affinity-every``): one fixed validation batch
    per task, drawn once without touching torch's random numbers; each measurement in eval mode
    with each shared parameter's current learning rate (:func:`lookahead_affinity`), averaged
    over processes, kept in :attr:`average`.

    Args:
        model: the (unwrapped) :class:`~mtl_text.modeling.model.MultiTaskModel`; its encoder's
            trainable parameters are the shared ones.
        dataloaders: task -> its (prepared) validation batches; the first batch of each is used.
        optimizer: the run's optimizer, whose parameter groups hold the current learning rates.

    Raises:
        ConfigError: an encoder without trainable parameters (every layer frozen).
    """

    def __init__(self, model, dataloaders: Mapping, optimizer):
        from ..errors import ConfigError

        self.model, self.tasks = model, list(dataloaders)
        self.shared = [p for p in model.encoder.parameters() if p.requires_grad]
        if not self.shared:
            raise ConfigError("--task-affinity-every moves the shared encoder's trainable parameters, and this encoder has none "
                              "(every layer frozen); drop --task-affinity-every or train some layers")
        with torch.random.fork_rng(devices=[]):  # a data loader's iterator draws its base seed from torch's generator: put it back
            self.probes = {t: next(iter(dl)) for t, dl in dataloaders.items()}
        self.optimizer = optimizer
        self.average = AffinityAverage()

    def _loss(self, task: str) -> torch.Tensor:
        from ..inference.evaluation import model_inputs

        batch = self.probes[task]
        return self.model(**model_inputs(batch), task=task, labels=batch["labels"]).head_loss

    def measure(self, accelerator) -> dict[str, dict[str, float]]:
        """One measurement, averaged over the run's processes, added to :attr:`average` and returned."""
        # the groups are looked up now: loading a checkpoint replaces the optimizer's group dictionaries
        rates = {id(p): group["lr"] for group in self.optimizer.param_groups for p in group["params"]}
        training = self.model.training
        self.model.eval()  # no dropout: no random numbers drawn
        try:
            measured = lookahead_affinity(self._loss, self.tasks, self.shared, [rates[id(p)] for p in self.shared])
        finally:
            self.model.train(training)
        if accelerator.num_processes > 1:
            table = torch.tensor([[measured[i][j] for j in self.tasks] for i in self.tasks], device=accelerator.device)
            table = accelerator.reduce(table, "mean")
            measured = {i: {j: table[a, b].item() for b, j in enumerate(self.tasks)} for a, i in enumerate(self.tasks)}
        self.average.add(measured)
        return measured


class AffinityAverage:
    """The running mean (and standard error) of each ``Z_{i→j}`` over a run's measurements."""

    def __init__(self):
        self.values: dict[str, dict[str, list[float]]] = {}

    def add(self, affinity: Mapping[str, Mapping[str, float]]) -> None:
        for i, row in affinity.items():
            for j, z in row.items():
                self.values.setdefault(i, {}).setdefault(j, []).append(float(z))

    @property
    def count(self) -> int:
        return len(next(iter(next(iter(self.values.values())).values()))) if self.values else 0

    def summary(self) -> dict:
        """``{"measurements": n, "mean": {i: {j: mean}}, "standard_error": {i: {j: s / sqrt(n)}},
        "relative": {i: {j: mean_{i→j} / mean_{j→j}}}}`` (``relative`` ``None`` where a task's own
        mean is not positive)."""
        mean = {i: {j: sum(v) / len(v) for j, v in row.items()} for i, row in self.values.items()}
        error = {i: {j: statistics.stdev(v) / math.sqrt(len(v)) if len(v) > 1 else None for j, v in row.items()}
                 for i, row in self.values.items()}
        relative = {i: {j: m / mean[j][j] if mean[j][j] > 0 else None for j, m in row.items()} for i, row in mean.items()}
        return {"measurements": self.count, "mean": mean, "standard_error": error, "relative": relative}


def format_affinity(summary: Mapping) -> str:
    """Markdown table of :meth:`AffinityAverage.summary`: a row per task stepped on (*i*), a column
    per task whose loss is read (*j*); each cell the mean ``Z_{i→j}`` relative to ``Z_{j→j}``, and
    the mean itself with its standard error."""
    tasks = list(summary["mean"])

    def cell(i: str, j: str) -> str:
        relative, mean, error = summary["relative"][i][j], summary["mean"][i][j], summary["standard_error"][i][j]
        shown = f"{relative:+.2f}" if relative is not None else "-"
        return f"{shown} ({mean:+.2e}" + (f" ± {error:.1e})" if error is not None else ")")

    lines = ["| step on ↓ / loss of → | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
    lines += [f"| {i} | " + " | ".join(cell(i, j) for j in tasks) + " |" for i in tasks]
    return "\n".join(lines)
