"""Is model A better than model B? Both scored on the same test examples (``mtl-text compare``).

Each task's test split is scored by every model (:func:`~mtl_text.inference.evaluation.evaluate_model`),
and the difference of a head metric, A minus B, is given with its paired-bootstrap interval over
the test examples (:func:`~mtl_text.transfer.significance.compare_runs`; Efron & Tibshirani 1993,
Koehn 2004, Berg-Kirkpatrick et al. 2012). Several runs of each (``models[r]`` paired with
``baselines[r]``, e.g. by seed) are compared as the benchmark compares seeds: each resample draws
the test examples once and averages the difference over the paired runs, and the per-run
differences are reported beside it. The verdict is a gain or a loss only where the whole interval
lies on one side of zero and every pair of runs agrees; a tie where the interval contains zero; and
"runs disagree" where the interval excludes zero but some pair of runs does not show it
(:func:`~mtl_text.transfer.significance.verdict`).

Typical uses: a multi-task model against single-task models of the same task (does sharing help
this task, or is it negative transfer?), ``--init-from`` against training from scratch, an adapted
model against a source-only one, an int8 ONNX export against its PyTorch weights. With
``split="validation"`` the models are compared on the validation split their training carved (the
same for every run, or refused), to choose between them while the test split stays unread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError, UnknownHeadError
from ..transfer.significance import Difference, compare_runs, mcnemar, seed_spread, verdict

if TYPE_CHECKING:
    from ..data.tasks import Task

logger = logging.getLogger("mtl_text.compare")


@dataclass
class TaskComparison:
    """Models A against baselines B on one task's test (or validation) split.

    Attributes:
        task: the task whose split was scored (a registered task, or a labelled file's name).
        head: the head of every model that scored it (the task's own, or another for cross-domain
            evaluation and labelled files).
        metric: the head metric compared (higher is better, except ``mse``).
        model_scores, baseline_scores: the metric of each run of A and of B, in the order given.
        difference: A minus B (the mean over paired runs), with its paired-bootstrap interval.
        per_run: each pair's difference, run ``r`` of A minus run ``r`` of B.
        verdict: ``"gain"``, ``"loss"``, ``"tie"`` or ``"runs disagree"``
            (:func:`~mtl_text.transfer.significance.verdict`; for ``mse`` a gain is a lower error).
        examples: the test examples scored.
        mcnemar: McNemar's exact test of the accuracies, where the metric is accuracy and each side
            is one run (single-label heads); ``None`` otherwise.
        model_backend, baseline_backend: what ran A's and B's folders, ``"torch"`` or ``"onnx"``.
        split: the split scored, ``"test"`` or ``"validation"``.
        ensemble_with, baseline_ensemble_with: the models averaged with A's run and with B's as one
            ensemble each (none: the run alone).
    """

    task: str
    head: str
    metric: str
    model_scores: list[float]
    baseline_scores: list[float]
    difference: Difference
    per_run: list[float]
    verdict: str
    examples: int
    mcnemar: Difference | None = None
    model_backend: str = "torch"
    baseline_backend: str = "torch"
    split: str = "test"
    ensemble_with: list[str] = field(default_factory=list)
    baseline_ensemble_with: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"task": self.task, "head": self.head, "metric": self.metric, "model_scores": self.model_scores, "baseline_scores": self.baseline_scores,
                "difference": self.difference.to_dict(), "per_run": self.per_run, "verdict": self.verdict, "examples": self.examples,
                "mcnemar": self.mcnemar.to_dict() if self.mcnemar else None, "model_backend": self.model_backend,
                "baseline_backend": self.baseline_backend, "split": self.split,
                "ensemble_with": self.ensemble_with, "baseline_ensemble_with": self.baseline_ensemble_with}


def shared_tasks(configs: dict[str, dict], tasks: Sequence[str] | None) -> list[str]:
    """The tasks every model has a head for, in the first model's order (``tasks``: those, checked).

    Raises:
        UnknownHeadError: a task of ``tasks`` that some model has no head for.
        ConfigError: no task that every model has, or a task whose heads differ in problem type or in
            their labels (names or order), so that their predictions cannot be paired.
    """
    first, *others = configs.values()
    if tasks:
        for name, config in configs.items():
            missing = [t for t in tasks if t not in config["tasks"]]
            if missing:
                raise UnknownHeadError(f"{name} has no head for {missing}; its heads are {sorted(config['tasks'])}")
        chosen = list(tasks)
    else:
        chosen = [t for t in first["tasks"] if all(t in c["tasks"] for c in others)]
        if not chosen:
            heads = "; ".join(f"{name} has {sorted(config['tasks'])}" for name, config in configs.items())
            raise ConfigError(f"the models share no task: {heads}")
    for task in chosen:
        heads = {name: (c["tasks"][task]["problem_type"], list(c["tasks"][task]["labels"])) for name, c in configs.items()}
        if len({repr(h) for h in heads.values()}) > 1:
            shown = "; ".join(f"{name}: {problem}, labels {labels}" for name, (problem, labels) in heads.items())
            raise ConfigError(f"task {task}: the models' heads differ ({shown}); their predictions cannot be paired")
    return chosen


def same_validation_carve(configs: dict[str, dict]) -> None:
    """Check that every model (name -> its ``config.json``) carved its validation split alike
    (:func:`~mtl_text.inference.evaluation.validation_carve`), so that they score the same examples.

    Raises:
        ConfigError: carves that differ (seed, validation size, groups or fold); the message names
            each model's.
    """
    from .evaluation import trained_with, validation_carve

    carves = {name: validation_carve(trained_with(config)) for name, config in configs.items()}
    if len({repr(c) for c in carves.values()}) > 1:
        shown = "; ".join(f"{name}: seed {c['seed']}, validation size {c['validation_size']}, "
                          f"{'by groups' if c['group_validation'] else 'example by example'}"
                          + (f", fold {c['fold'][0]} of {c['fold'][1]}" if c["fold"] else "") for name, c in carves.items())
        raise ConfigError(f"--split validation: the models' validation splits were carved differently ({shown}), so their "
                          "examples cannot be paired; compare them on the test split")


@dataclass(frozen=True)
class Run:
    """One side's run as :func:`compare_models` scores it: a model folder (or Hub id) ``name``, the
    ``backend`` that runs it, and the models averaged with it as one ensemble (``ensemble_with``)."""

    name: str
    backend: str = "torch"
    ensemble_with: tuple[str, ...] = ()

    def __str__(self) -> str:
        members = " + ".join([self.name, *self.ensemble_with])
        return members + (f" [{self.backend}]" if self.backend != "torch" else "")


def compare_models(models: Sequence[str | os.PathLike], baselines: Sequence[str | os.PathLike], tasks: Sequence[str] | None = None,
                   metric: str | Mapping[str, str] | None = None, data_dir: str | None = None, batch_size: int = 128, n_resamples: int = 1000,
                   confidence: float = 0.95, seed: int = 0, verify_hashes: bool = True, token: str | None = None,
                   heads_of: Mapping[str | Task, str] | None = None, backend: str = "torch",
                   baseline_backend: str | None = None, split: str = "test",
                   ensemble_with: Sequence[str | os.PathLike] = (),
                   baseline_ensemble_with: Sequence[str | os.PathLike] = ()) -> dict[str, TaskComparison]:
    """Compare saved models A (``models``) with B (``baselines``) on the test split of each task both
    have a head for, or (``heads_of``) a head of every model on another task or a labelled file.

    Args:
        models, baselines: model folders (or Hub ids), as many of each: run ``r`` of A is paired
            with run ``r`` of B (e.g. the same seed).
        tasks: the tasks to compare (default: every task all the models have a head for).
        metric: the head metric to compare, for every task, or task -> its metric (``"*"``: every
            task not named); default: each head's primary metric, the one model selection uses
            (e.g. accuracy for TREC, MCC for CoLA, macro-F1 for GoEmotions, Pearson for STS-B).
        data_dir: the tasks' data folder, as in :func:`~mtl_text.inference.evaluation.evaluate_model`.
        batch_size: examples per evaluation batch.
        n_resamples, confidence, seed: the paired bootstrap's resamples, interval coverage (in
            (0, 1)) and generator seed.
        verify_hashes, token: as :meth:`~mtl_text.modeling.model.MultiTaskModel.from_pretrained` takes them.
        heads_of: as :func:`~mtl_text.inference.evaluation.evaluate_model`'s: task (a registered
            name, or a :class:`~mtl_text.data.tasks.Task` such as
            :func:`~mtl_text.data.tasks.file_task`'s of a labelled file) -> the head of every model
            that scores it, instead of ``tasks``; e.g. a books sentiment head on kitchen reviews, to
            compare a domain-adapted model with a source-only one on the target domain.
        backend, baseline_backend: what runs A's and B's folders, ``"torch"`` or ``"onnx"`` (their
            ``mtl-text export-onnx`` graphs through ONNX Runtime, in this process), as
            :func:`~mtl_text.inference.evaluation.evaluate_model` takes it; B's defaults to A's. One
            folder may be both sides under two backends, e.g. an int8 export's graphs (A, ``"onnx"``)
            against the PyTorch weights it was exported from (B, ``"torch"``): what quantization costs.
        split: ``"test"``, or ``"validation"``: each task's validation split, carved as the models'
            training carved it, to choose between models without reading the test split; every run
            must have been trained with the same carve
            (:func:`~mtl_text.inference.evaluation.validation_carve`: seed, validation size, groups,
            fold), so that they score the same examples.
        ensemble_with: more models answering with A as one
            :class:`~mtl_text.inference.ensemble.Ensemble` (the mean of their logits, decoded by A's
            heads; in this process), e.g. to see whether an ensemble beats A alone; A is then one run.
        baseline_ensemble_with: the same for B: B is then one run, e.g. an ensemble of three models
            against one of two, or of word-vector models against a transformer.

    Returns:
        task -> its :class:`TaskComparison`, in the tasks' order.

    Raises:
        ConfigError: no model, a different number of models and baselines, a run named twice under
            the same backend, an unknown backend (or ``"onnx"`` or an ensemble under several
            processes), ``ensemble_with`` beside several runs of A (``baseline_ensemble_with``: of B), ``confidence`` outside
            (0, 1), a validation split that the runs carve differently, a metric some head does not report, heads that cannot be paired
            (:func:`shared_tasks`), ``tasks`` beside ``heads_of``, a metric for a task not compared,
            or a head that cannot score the task given to it.
        ModelLoadError, UnknownHeadError: a folder that is not a saved model (or, under ``"onnx"``, holds
            no export), a task without a head.
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the task's data.
    """
    from accelerate import Accelerator

    from ..arguments import check_backend
    from ..modeling.heads import LOWER_IS_BETTER
    from ..modeling.hub import resolve_model
    from ..modeling.model import MultiTaskModel
    from .evaluation import NOT_HEAD_METRICS, check_one_process, evaluate_ensemble, evaluate_model
    from .onnx import EXPORT_FILES, export_config

    if not models or len(models) != len(baselines):
        raise ConfigError(f"--model and --baseline pair runs one to one (e.g. by seed): got {len(models)} model(s) and "
                          f"{len(baselines)} baseline(s)")
    if not 0 < confidence < 1 or n_resamples < 1:
        raise ConfigError(f"--confidence must be in (0, 1) and --resamples >= 1, got {confidence} and {n_resamples}")
    if heads_of and tasks:
        raise ConfigError("tasks and heads_of each name what to score: give one")
    if split not in ("test", "validation"):
        raise ConfigError(f"--split must be test or validation, got {split!r}")
    for option, side, others, given in (("--ensemble-with", "--model", ensemble_with, models),
                                        ("--baseline-ensemble-with", "--baseline", baseline_ensemble_with, baselines)):
        if others and len(given) > 1:
            raise ConfigError(f"{option} makes one ensemble of {side} and them: give one {side} run, not {len(given)}")
    baseline_backend = baseline_backend or backend
    check_backend(backend)
    check_backend(baseline_backend, "--baseline-backend")
    members, baseline_members = tuple(str(m) for m in ensemble_with), tuple(str(m) for m in baseline_ensemble_with)
    sides = [Run(str(m), backend, members) for m in models], [Run(str(m), baseline_backend, baseline_members) for m in baselines]
    runs = [*sides[0], *sides[1]]
    if len(set(runs)) < len(runs):  # one folder may be both sides under two backends, or alone and in an ensemble
        raise ConfigError(f"a model is named twice in --model and --baseline: {[str(run) for run in runs]}; each run is scored once")
    folders = {run: resolve_model(run.name, token=token, also=EXPORT_FILES if run.backend == "onnx" else ()) for run in runs}
    if "onnx" in (backend, baseline_backend) or members or baseline_members:  # refused before any run is scored
        check_one_process()
        for run, folder in folders.items():
            if run.backend == "onnx":  # the run's export, and each ensemble member's
                for export in (folder, *(resolve_model(name, token=token, also=EXPORT_FILES) for name in run.ensemble_with)):
                    export_config(export)
    configs = {str(run): MultiTaskModel.read_config(folder) for run, folder in folders.items()}
    if split == "validation":  # the same examples for every run, or no pairing
        same_validation_carve(configs)
    if heads_of:  # task name -> (what the head's metric is computed for: the file's task, else the head's own; the head)
        shared_tasks(configs, list(dict.fromkeys(heads_of.values())))
        scored = {(t if isinstance(t, str) else t.name): (head if isinstance(t, str) else t, head) for t, head in heads_of.items()}
    else:
        scored = {t: (t, t) for t in shared_tasks(configs, tasks)}
    named = sorted(set(metric) - {"*"} - set(scored)) if isinstance(metric, Mapping) else []
    if named:
        raise ConfigError(f"--metric names task(s) {named} that are not compared; compared: {list(scored)}")
    accelerator = Accelerator()  # under a launcher the processes share each split; every process gets every prediction
    predictions_of, scores, loaded = {}, {}, {}  # loaded: each split read once for every model
    for run, folder in folders.items():
        predictions: dict = {}
        if run.ensemble_with:  # the validation split carved as the first member's training carved it
            scores[run] = evaluate_ensemble([folder, *run.ensemble_with], None if heads_of else list(scored), split, data_dir,
                                            batch_size=batch_size, verify_hashes=verify_hashes, predictions=predictions, token=token,
                                            heads_of=heads_of, backend=run.backend, loaded=loaded)
        else:
            scores[run] = evaluate_model(folder, None if heads_of else list(scored), split, data_dir, batch_size=batch_size,
                                         accelerator=accelerator, verify_hashes=verify_hashes, heads_of=heads_of, predictions=predictions,
                                         loaded=loaded, backend=run.backend)
        predictions_of[run] = predictions
    comparisons = {}
    for task, (metric_task, head) in scored.items():
        reported = [m for m in scores[runs[0]][task] if m not in NOT_HEAD_METRICS]  # the head's own, primary first
        chosen_metric = (metric.get(task, metric.get("*")) if isinstance(metric, Mapping) else metric) or reported[0]
        if chosen_metric not in reported:
            raise ConfigError(f"--metric {chosen_metric}: task {task}'s head reports {reported}")
        a, b = ([{**predictions_of[run][task], "score": scores[run][task][chosen_metric]} for run in side] for side in sides)
        difference, per_run = compare_runs(a, b, chosen_metric, seed=seed, task=metric_task, n_resamples=n_resamples,
                                           confidence=confidence)
        exact = (mcnemar(a[0]["predictions"], b[0]["predictions"], a[0]["references"], confidence)
                 if chosen_metric == "accuracy" and len(a) == 1 else None)
        comparisons[task] = TaskComparison(task, head, chosen_metric, [r["score"] for r in a], [r["score"] for r in b], difference, per_run,
                                           verdict(difference.low, difference.high, per_run, higher_is_better=chosen_metric not in LOWER_IS_BETTER),
                                           len(a[0]["references"]), exact, backend, baseline_backend, split, list(members),
                                           list(baseline_members))
    return comparisons


def format_comparison(comparisons: dict[str, TaskComparison]) -> str:
    """Markdown table: one row per task; scores as the mean (± the standard deviation over runs,
    where there are several), the difference with its interval, the bootstrap's two-sided p-value,
    the verdict and each pair of runs' difference."""
    from .evaluation import DISPLAY_NAMES

    def score(values: list[float]) -> str:
        spread = seed_spread(values)
        return f"{spread['mean']:.4f}" if spread["n"] < 2 else f"{spread['mean']:.4f} ± {spread['std']:.4f}"

    coverage = max((c.difference.confidence for c in comparisons.values()), default=0.95)
    lines = [f"| task | metric | model | baseline | difference [{coverage:.0%} interval] | p | verdict | per run |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for c in comparisons.values():
        per_run = " / ".join(f"{d:+.4f}" for d in c.per_run) if len(c.per_run) > 1 else "-"
        lines.append(f"| {c.task} | {DISPLAY_NAMES.get(c.metric, c.metric)} | {score(c.model_scores)} | {score(c.baseline_scores)} | "
                     f"{c.difference} | {c.difference.p_value:.3f} | {c.verdict} | {per_run} |")
    return "\n".join(lines)
