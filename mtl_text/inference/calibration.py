"""Temperature scaling: calibrated probabilities for a trained model's heads.

A network trained with cross-entropy is often over-confident: its top probability exceeds how often
it is right (Guo et al. 2017, "On Calibration of Modern Neural Networks"). Temperature scaling
divides a head's logits by one number ``T``, fitted on held-out data (the validation split) by the
head's loss without label smoothing. ``argmax`` decoding, and so accuracy, is unchanged; the
probabilities, the loss and the expected calibration error (ECE) change. The temperature is a head
option, saved in ``config.json`` and applied by the model itself
(:meth:`~mtl_text.modeling.heads.Head.calibrated`), so prediction, serving, ONNX export and
ensembles all see calibrated logits.

Used by training (``--calibrate``) and by ``mtl-text calibrate`` for a saved model. The split a
temperature is fitted on must not be the one it is judged on: the fit reads the validation split
only, and the test split is scored after it, to judge the calibrated model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from accelerate import Accelerator
from torch.utils.data import DataLoader

from ..arguments import chosen_tasks
from ..data.tasks import REGRESSION
from ..errors import ConfigError
from .evaluation import collect_logits

logger = logging.getLogger("mtl_text.calibrate")


def calibrated_tasks(problem_types: dict[str, str], chosen: list[str], asked: Iterable[str] = ()) -> list[str]:
    """The tasks whose heads get a temperature: ``chosen`` names them, ``all`` every classification
    task of ``problem_types`` (task name -> its problem type), ``none`` none; nothing chosen, the
    tasks that ask for it (``asked``: those whose :class:`~mtl_text.data.tasks.Task` sets
    ``calibrate``); in the order of ``problem_types``.

    Raises:
        ConfigError: as :func:`~mtl_text.arguments.chosen_tasks`, or a regression task named (its
            outputs are values, not probabilities).
    """
    regression = [name for name in chosen if problem_types.get(name) == REGRESSION]
    if regression:
        raise ConfigError(f"--calibrate fits a temperature to probabilities: the regression task(s) {regression} have none; "
                          f"name the classification tasks instead")
    picked = chosen_tasks("--calibrate", chosen, problem_types, asked)
    return [name for name in picked if problem_types[name] != REGRESSION]  # 'all': the classification tasks

def calibrate(model, dataloaders: dict[str, DataLoader], accelerator) -> dict[str, dict[str, float]]:
    """Fit each task's temperature on its (prepared) held-out ``dataloaders`` (task -> batches with
    ``labels``), in ``model`` (prepared or not), in place; the same on every process (the logits of
    the whole split are gathered on each, and the fit is deterministic).

    Returns:
        task -> ``temperature`` (the head's new one), and the split's ``loss`` (the head's loss
        without label smoothing, per example) and ``ece`` (:meth:`~mtl_text.modeling.heads.Head.calibration_error`)
        ``_before`` and ``_after``.

    Raises:
        NotImplementedError: a head without probabilities (regression).
    """
    unwrapped = accelerator.unwrap_model(model)
    report = {}
    for name, dataloader in dataloaders.items():
        head = unwrapped.head(name)
        logits, references, _ = collect_logits(model, dataloader, name, accelerator)
        old = head.temperature
        before = {"loss_before": float(head.calibration_loss(logits, references)), "ece_before": head.calibration_error(logits, references)}
        new = head.fit_temperature(logits, references)
        scaled = logits * (old / new)  # what the model now outputs for the split
        report[name] = {"temperature": new, **before, "loss_after": float(head.calibration_loss(scaled, references)),
                        "ece_after": head.calibration_error(scaled, references)}
        logger.info("task %s: temperature %.4f fitted on %d held-out examples; their loss %.4f -> %.4f, ECE %.4f -> %.4f", name, new,
                    len(references), report[name]["loss_before"], report[name]["loss_after"], report[name]["ece_before"],
                    report[name]["ece_after"])
    return report


def calibrate_model(model_dir: str | os.PathLike, output_dir: str | os.PathLike | None, tasks: list[str] | None = None,
                    data_dir: str | None = None, batch_size: int = 128, accelerator: Accelerator | None = None,
                    verify_hashes: bool = True, token: str | None = None, overwrite: bool = False,
                    metrics: dict | None = None) -> dict[str, dict[str, float]]:
    """Temperature scaling of a saved model (``mtl-text calibrate``): fit the heads of ``tasks``
    (default: every classification task; ``all`` and ``none`` as :func:`calibrated_tasks` reads them)
    on the validation split the model was trained with (carved from train with its recorded seed and
    size) and save the calibrated model to ``output_dir``, a complete model folder as training writes
    one:

    * the model's files copied as they are (weights, tokenizer; LoRA adapters stay adapters);
    * its ``config.json`` with the temperatures in the heads' options and the report under ``calibration``;
    * the calibrated model scored on every task's test split (which the fit never reads):
      ``test_results.{json,md}``, ``test_predictions.json`` and the model card (``README.md``), as
      training writes them; ``test_results.json`` keeps the summary of the model's training run.

    With ``output_dir=None`` the temperatures are fitted and reported, and nothing is written or scored.

    Args:
        metrics: if given (and ``output_dir`` is), filled with the calibrated model's test metrics,
            task -> as :func:`~mtl_text.inference.evaluation.evaluate` returns them.

    Returns:
        :func:`calibrate`'s report: task -> its new ``temperature`` and the validation split's loss
        and ECE before and after.

    Raises:
        ModelLoadError: the folder is not a saved model, or one saved before mtl-text 0.2.0 (no file records).
        ConfigError: ``tasks`` as :func:`calibrated_tasks` refuses them; ``output_dir`` is
            ``model_dir`` (its test results were measured without the temperatures).
        OutputDirError: ``output_dir`` is in use by another run, or holds a model or checkpoints and
            ``overwrite`` is false (with it, they and the earlier results are removed, as training does).
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the tasks' data.
    """
    from .. import __version__
    from ..modeling.hub import resolve_model
    from ..modeling.model import MultiTaskModel, copy_model_folder
    from ..training.outputs import OutputLock, check_output_dir, clear_previous_run, write_test_results
    from ..utils.files import RESULTS_NAME
    from .evaluation import evaluate, split_dataloaders, tasks_and_heads, trained_with
    from .prediction import load_tokenizer

    accelerator = accelerator or Accelerator()
    model_dir = Path(resolve_model(model_dir, token=token))
    output_dir = Path(output_dir) if output_dir is not None else None
    if output_dir is not None:
        if output_dir.resolve() == model_dir.resolve():
            raise ConfigError(f"--output-dir {output_dir} is the model's own folder; write the calibrated model to another one "
                              "(the model's test results there were measured without the temperatures)")
        check_output_dir(output_dir, overwrite, resume=False, resumable=False)
    config = MultiTaskModel.read_config(model_dir)
    model = MultiTaskModel.from_pretrained(model_dir, verify_hashes)
    tokenizer = load_tokenizer(model_dir)
    chosen = calibrated_tasks({n: info["problem_type"] for n, info in model.tasks.items()}, ["all"] if tasks is None else tasks)
    if not chosen:
        raise ConfigError(f"--tasks {tasks}: no classification task to calibrate among the model's {list(model.tasks)}")
    trained = trained_with(config)
    validation = split_dataloaders(model, tokenizer, tasks_and_heads({t: t for t in chosen}, model.check_tasks), "validation",
                                   data_dir, trained, None, None, batch_size, accelerator)
    scored = tasks_and_heads({t: t for t in model.tasks}, model.check_tasks) if output_dir is not None else []
    test = split_dataloaders(model, tokenizer, scored, "test", data_dir, trained, None, None, batch_size, accelerator)
    model = accelerator.prepare_model(model, evaluation_mode=True)
    if output_dir is None:
        return calibrate(model, validation, accelerator)
    with OutputLock(output_dir) if accelerator.is_main_process else contextlib.nullcontext():  # every data file read: no run may write here now
        report = calibrate(model, validation, accelerator)
        predictions, reports = {}, {}
        scores = evaluate(model, test, accelerator, predictions, reports=reports)
        if metrics is not None:
            metrics.update(scores)
        if accelerator.is_main_process:  # the weights as they are; config.json with the temperatures; the test results
            unwrapped = accelerator.unwrap_model(model)
            heads = {name: {**info, "head_options": unwrapped.head(name).options()} if name in report else info
                     for name, info in config["tasks"].items()}
            earlier = config.get("calibration", {}).get("tasks", {}) if isinstance(config.get("calibration"), dict) else {}
            if overwrite:  # the earlier model's checkpoints and results go with it, as when training overwrites
                clear_previous_run(output_dir)
            copy_model_folder(model_dir, output_dir, {**config, "mtl_text_version": __version__, "tasks": heads,
                                                      "calibration": {"split": "validation", "tasks": {**earlier, **report}},
                                                      "calibrated_from": str(model_dir)})
            write_test_results(output_dir, {**_training_summary(model_dir / RESULTS_NAME), "metrics": scores, "class_reports": reports},
                               predictions, [task for task, _ in scored])
        accelerator.wait_for_everyone()
    return report


def _training_summary(path: Path) -> dict:
    """The summary of how a model was trained (steps, time, processes) from its ``test_results.json``,
    without the results themselves; ``{}`` when there is none (a model saved from Python) or it is unreadable."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict):
        return {}
    return {key: value for key, value in record.items() if key not in ("metrics", "class_reports", "datasets")}
