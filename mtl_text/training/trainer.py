"""One training job from a configuration: :func:`train`, the library's entry point (``mtl-text train``
and ``scripts/train.py`` are thin wrappers around it)::

    result = mtl_text.train(TrainingConfig.from_options(tasks=["sst2", "trec"], output_dir="runs/demo"))

1. run-time set-up (:mod:`.runtime`): processes, devices, logging, malloc settings, seeds, trackers;
2. the output folder checked and locked (:mod:`.outputs`);
3. building (:mod:`.build`): data, tokenizer, encoder, model, dataloaders, optimizer;
4. the loop (:mod:`.loop`);
5. the best model restored (with ``--wide-svm``, a linear SVM added to each wide part, weighted on
   validation: :mod:`.wide_fit`; with ``--tune-thresholds``, its multi-label thresholds tuned on
   validation; saved) and scored on every task's test split; ``test_results.{json,md}`` (the
   JSON with each classification task's per-class figures and confusion matrix) and every
   example's prediction in ``test_predictions.json`` (for paired significance tests);
   with ``--adapt``, the MMD between the domains measured again;
6. with ``--push-to-hub``, the model folder uploaded to the Hub (the token and the repository checked at step 2).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, HubUploadError
from ..inference.calibration import calibrate, calibrated_tasks
from ..inference.evaluation import collect_logits, evaluate
from ..modeling.hub import check_adapter_base, prepare_upload, push_to_hub, upload_target
from ..transfer.affinity import format_affinity
from ..utils.files import WEIGHTS_NAME, atomic_write_text
from .build import build_training
from .checkpointing import read_checkpoint_state, resolve_checkpoint
from .config import TrainingConfig
from .loop import domain_mmd, fit, saved_config
from .outputs import AFFINITY_JSON, OutputLock, RunLog, check_output_dir, clear_previous_run, write_test_results
from .runtime import make_accelerator, tracker_config

logger = logging.getLogger("mtl_text.train")

TRACKING_PROJECT = "mtl-text"


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes:
        metrics: task name -> test metrics of the best validation model (the head's metrics,
            ``loss``, ``examples``).
        output_dir: the model folder (load it with :meth:`mtl_text.Predictor.from_pretrained`).
        steps: optimizer steps done.
        best_step: the step of the saved model.
        train_seconds: wall time of the loop (validation and checkpoints included).
        train_samples_per_second: examples per second of the training steps alone.
        num_processes: processes that trained.
        validation_metrics: with ``--fold``, the best model's metrics on the held-out fold.
        hub_url: with ``--push-to-hub``, the URL of the upload's commit (its last part is the
            commit hash).
        class_reports: task name -> the best model's per-class test figures
            (:meth:`mtl_text.Head.class_report`: ``per_class`` precision, recall, F1 and support;
            ``confusion_matrix`` for single-label tasks), for each classification task; also in
            ``test_results.json``.
        task_affinity: with ``--task-affinity-every``, the mean inter-task affinity over the run
            (:meth:`mtl_text.transfer.affinity.AffinityAverage.summary`); also in
            ``task_affinity.json``.
    """

    metrics: dict[str, dict[str, float]]
    output_dir: Path
    steps: int
    best_step: int | None
    train_seconds: float
    train_samples_per_second: float
    num_processes: int
    validation_metrics: dict[str, dict[str, float]] | None = None
    hub_url: str | None = None
    class_reports: dict[str, dict] | None = None
    task_affinity: dict | None = None


def tune_thresholds(run, accelerator, model) -> None:
    """``--tune-thresholds``: each multi-label head's per-label thresholds, tuned on its validation split."""
    for name, dl in run.val_dataloaders.items():
        head = model.head(name)
        if hasattr(head, "tune_thresholds"):
            logits, refs, _ = collect_logits(run.model, dl, name, accelerator)
            thresholds = head.tune_thresholds(logits, refs)
            logger.info("task %s: thresholds tuned on validation: %s", name, dict(zip(head.labels, thresholds)))


def check_push_to_hub(config: TrainingConfig) -> None:
    """``--push-to-hub``, checked before training rather than after it: a Hugging Face token, the Hub
    not switched off, and the repository (and branch) created or found with that token
    (:func:`~mtl_text.modeling.hub.prepare_upload`).

    Raises:
        ConfigError: no token (``hf auth login``, or ``$HF_TOKEN``), ``HF_HUB_OFFLINE`` set, the
            repository cannot be created or reached (the Hub's error named), or ``--lora-save adapters``
            on a base model that is a local folder.
    """
    if config.checkpoints.push_to_hub:
        from huggingface_hub import constants, get_token

        try:
            check_adapter_base(config.encoder.model_name_or_path if config.encoder.lora_save == "adapters" else None,
                               "--push-to-hub with --lora-save adapters")
        except ConfigError as e:
            raise ConfigError(f"{e} (nothing was trained)") from None

        if constants.HF_HUB_OFFLINE:
            raise ConfigError(f"--push-to-hub {config.checkpoints.push_to_hub}: HF_HUB_OFFLINE is set, so nothing can be uploaded; "
                              "unset it, or drop --push-to-hub and upload later with mtl-text push-to-hub (nothing was trained)")
        if get_token() is None:
            raise ConfigError(f"--push-to-hub {config.checkpoints.push_to_hub} needs a Hugging Face token to upload with: run "
                              "`hf auth login` or set $HF_TOKEN (nothing was trained)")
        repo_id, branch = upload_target(config.checkpoints.push_to_hub)
        try:  # in every process of a launch (idempotent): one that failed alone would leave the others waiting for it
            prepare_upload(repo_id, branch, config.checkpoints.hub_private)
        except Exception as e:
            raise ConfigError(f"--push-to-hub {config.checkpoints.push_to_hub}: the repository cannot be created or reached with "
                              f"this token ({type(e).__name__}: {e}) (nothing was trained)") from e


def push_trained_model(output_dir: Path, ckpt) -> str:
    """``--push-to-hub``: upload the saved model folder (:func:`~mtl_text.modeling.hub.push_to_hub`);
    returns the commit's URL.

    Raises:
        HubUploadError: the upload failed; the message gives the command that uploads the saved
            folder later.
    """
    try:
        return push_to_hub(output_dir, ckpt.push_to_hub, private=ckpt.hub_private, license=ckpt.hub_license,
                           commit_message=f"Upload mtl-text model ({output_dir.name})")
    except Exception as e:
        raise HubUploadError(f"--push-to-hub {ckpt.push_to_hub}: the upload failed ({type(e).__name__}: {e}); the model is saved in "
                             f"{output_dir}: upload it with `mtl-text push-to-hub --model {output_dir} --repo-id {ckpt.push_to_hub}`") from e


def train(config: TrainingConfig) -> TrainingResult:
    """Run one training job (see the module's text). With ``--cv-folds K`` (and no ``--fold``), run the
    K folds of :func:`~mtl_text.training.crossval.cross_validate` instead and return its
    :class:`~mtl_text.training.crossval.CrossValidationResult`.

    Raises:
        OutputDirError: the output folder holds a model or a run in progress.
        UnknownTaskError, DataNotFoundError, DataFormatError: the tasks' data.
        ConfigError: options that do not fit the tasks or the model.
        ModelLoadError: a transformer that cannot be loaded.
        CheckpointError: a checkpoint to resume from that cannot be used.
        HubUploadError: ``--push-to-hub``'s upload failed (the model is saved; the message says how
            to upload it).
    """
    if config.data.cv_folds is not None and config.data.fold is None:
        from .crossval import cross_validate

        return cross_validate(config)
    output_dir, ckpt = config.output_dir, config.checkpoints
    resuming = bool(ckpt.resume_from_checkpoint)
    check_output_dir(output_dir, ckpt.overwrite_output_dir, resuming)
    check_push_to_hub(config)
    checkpoint = None
    if resuming:  # verified before anything loads
        path = resolve_checkpoint(ckpt.resume_from_checkpoint, output_dir)
        checkpoint = (path, read_checkpoint_state(path))
    accelerator = make_accelerator(config)
    with OutputLock(output_dir) if accelerator.is_main_process else contextlib.nullcontext():
        if accelerator.is_main_process and ckpt.overwrite_output_dir and not resuming:
            clear_previous_run(output_dir)
        if accelerator.log_with:
            accelerator.init_trackers(TRACKING_PROJECT, config=tracker_config(config))  # TensorBoard: OUTPUT_DIR/mtl-text/
        log = RunLog(accelerator, output_dir, resume_step=checkpoint[1]["step"] if checkpoint else None)
        run = build_training(config, accelerator)
        summary = fit(run, config, log, checkpoint)
        affinity = summary.pop("task_affinity", None)

        # --- the best model back, the test table ----------------------------------------------------
        accelerator.wait_for_everyone()
        unwrapped = accelerator.unwrap_model(run.model)
        unwrapped.load_weights(output_dir / WEIGHTS_NAME)
        svm_tasks, fitted = config.heads.wide_svm_tasks(run.tasks), None
        if svm_tasks:
            from .wide_fit import add_svm_to_wide

            fitted = add_svm_to_wide(run.model, {n: run.train_datasets[n] for n in svm_tasks}, run.collator, run.val_dataloaders,
                                     accelerator, C=config.heads.wide_svm_c, seed=config.optimization.seed)
            log.log({"step": summary["steps"], "split": "wide-svm", "tasks": fitted})
        calibrated = None
        if calibrate_tasks := calibrated_tasks(*config.heads.calibration_choice(run.tasks)):
            calibrated = calibrate(run.model, {n: run.val_dataloaders[n] for n in calibrate_tasks}, accelerator)
            log.log({"step": summary["steps"], "split": "calibration", "tasks": calibrated})
        if fitted:
            from .wide_fit import warn_oversure

            warn_oversure(fitted, calibrated or {})
        if config.heads.tune_thresholds:  # on the calibrated probabilities
            tune_thresholds(run, accelerator, unwrapped)
        if (fitted or calibrated or config.heads.tune_thresholds) and accelerator.is_main_process:
            # the wide parts' new weights and their SVMs' weights, the temperatures, the tuned thresholds (config.json)
            unwrapped.save_pretrained(output_dir, run.tokenizer, saved_config(run, config, summary["best_step"], fitted, calibrated))
        if getattr(unwrapped.encoder, "saves_adapters", False):  # the updates into the fixed weights, as a load merges them (a
            unwrapped.encoder.fold_lora()                            # merged save's read-back above has folded them already)
        if run.adaptation:
            after = domain_mmd(run)
            log.log({"step": summary["steps"], "split": "adaptation", "mmd2": after})
            logger.info("MMD² between source and target pooled vectors after training (best model): %s",
                        {n: round(v, 5) for n, v in after.items()})
        predictions: dict = {}
        reports: dict = {}  # per-class figures and confusion matrices, as `mtl-text evaluate --per-class --json` writes them
        metrics = evaluate(run.model, run.test_dataloaders, accelerator, predictions, reports=reports)
        validation = evaluate(run.model, run.val_dataloaders, accelerator) if config.data.fold is not None else None
        log.log({"step": summary["steps"], "split": "test", "metrics": metrics})
        if accelerator.is_main_process:
            table = write_test_results(output_dir, {**summary, "num_processes": accelerator.num_processes, "metrics": metrics,
                                                    "class_reports": reports}, predictions, run.tasks.values())
            print(f"\nTest results (best validation model, {summary['steps']} steps, {summary['train_seconds']:.0f}s of training):\n"
                  f"{table}\nModel saved to {output_dir}", flush=True)
            if affinity is not None:
                atomic_write_text(output_dir / AFFINITY_JSON, json.dumps(affinity, indent=2) + "\n")
                print(f"\nInter-task affinity, mean of {affinity['measurements']} measurements (Z of the row's step on the column's "
                      f"loss relative to the column's own step; in brackets Z ± its standard error; {AFFINITY_JSON}):\n"
                      f"{format_affinity(affinity)}", flush=True)
        hub_url, upload_error = None, None
        if accelerator.is_main_process and ckpt.push_to_hub:
            try:
                hub_url = push_trained_model(output_dir, ckpt)
                print(f"Model pushed to {hub_url}", flush=True)
            except HubUploadError as e:
                upload_error = e  # raised once every process has finished
        accelerator.wait_for_everyone()  # every process tears the process group down together (a rank leaving early can abort)
        accelerator.end_training()
    if upload_error is not None:
        raise upload_error
    return TrainingResult(metrics=metrics, output_dir=output_dir, steps=summary["steps"], best_step=summary["best_step"],
                          train_seconds=summary["train_seconds"], train_samples_per_second=summary["train_samples_per_second"],
                          num_processes=accelerator.num_processes, validation_metrics=validation, hub_url=hub_url,
                          class_reports=reports, task_affinity=affinity)
