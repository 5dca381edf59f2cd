"""The multi-task training loop (:func:`fit`), top to bottom:

* resume, when asked: the task streams positioned first, then weights, optimizer, scheduler,
  generators and the early-stopping state;
* each step: the task of the step from the schedule (a pure function of the seed and the step, so
  every process runs the same head in the same step: task-homogeneous batches, correct under data
  parallel training), its next batch, forward through the shared encoder and that task's head, the
  head's own loss (times its static weight, or uncertainty-weighted inside the model), plus
  ``λ · MMD²`` towards unlabelled target text for ``--adapt`` tasks, mixed with the head's
  distillation loss on the teacher's logits for ``--distill-from`` tasks; with ``--r-drop``, the
  batch passes twice (one forward of both copies) and the head's consistency loss between the two
  passes is added (Liang et al. 2021); backward, step (gradient accumulation and clipping through
  Accelerate);
* with ``--sampling all``, each step takes one batch of every task instead, and the tasks'
  gradients are combined by :func:`~mtl_text.training.balancing.aggregated_backward` (weighted sum,
  or PCGrad / UPGrad / MGDA through torchjd);
* every ``--log-every`` steps: the mean training loss per task to the run's log (each step's loss is
  kept, detached, on the device until the log: no per-step synchronisation and no per-step tensor
  operation);
* with ``--weight-averaging``, each step's weights folded into a running average
  (:mod:`~mtl_text.training.averaging`), which validation scores and the best model saves once it
  has started;
* every ``--eval-every`` steps: per-task validation metrics, the mean of ``--metric-for-best`` over
  tasks, the best model saved, early stopping;
* every ``--task-affinity-every`` steps: the inter-task affinity measured
  (:mod:`~mtl_text.transfer.affinity`) on a fixed validation batch per task, the run unchanged;
* checkpoints at each validation and every ``--save-every`` steps.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..errors import CheckpointError
from ..inference.evaluation import evaluate, model_inputs
from ..transfer.affinity import AffinityAverage, AffinityMonitor
from ..transfer.distillation import distilled_loss
from ..transfer.mmd import mmd2
from ..utils.files import load_safetensors_into
from .averaging import WeightAveraging
from .balancing import aggregated_backward, make_aggregator
from .build import TrainingSetup
from .checkpointing import AVERAGED_NAME, load_checkpoint, save_checkpoint
from .config import GRADIENT_BALANCING, TrainingConfig
from .early_stopping import BestModelTracker
from .optimization import clip_grad_norm
from .outputs import RunLog

logger = logging.getLogger("mtl_text.train")


def resume(run: TrainingSetup, checkpoint: tuple[Path, dict], tracker: BestModelTracker, running: dict,
           averaging: WeightAveraging | None = None, affinity: AffinityAverage | None = None) -> int:
    """Restore a run from a checkpoint (its folder and verified state, from
    :func:`~mtl_text.training.checkpointing.read_checkpoint_state`): the task streams, weights,
    optimizer, scheduler, generators, early-stopping state, the losses since the last log (into
    ``running``), the averaged weights (into ``averaging``) and the affinity measurements (into
    ``affinity``); returns the step to continue from.

    Raises:
        CheckpointError: a checkpoint of other tasks or processes, one that does not fit the model,
            or one without the averaged weights that ``--weight-averaging`` needs by its step.
    """
    path, state = checkpoint
    saved = state["trainer"]
    if set(saved["streams"]) != set(run.tasks):
        raise CheckpointError(f"{path}: a checkpoint of tasks {sorted(saved['streams'])}, not {sorted(run.tasks)}")
    for name, stream_state in saved["streams"].items():  # creating iterators draws from the generators: before they are restored
        run.train_streams[name].restore(stream_state)
    for name, stream_state in saved.get("adaptation_streams", {}).items():
        run.adaptation[name].stream.restore(stream_state)
    load_checkpoint(run.accelerator, path, run.model, run.optimizer, run.lr_scheduler, state)
    tracker.load_state_dict(saved)
    if averaging is not None and (path / AVERAGED_NAME).is_file():
        load_safetensors_into(averaging.averaged, path / AVERAGED_NAME, CheckpointError)
    elif averaging is not None and int(saved["step"]) >= averaging.start_step:
        raise CheckpointError(f"{path}: no {AVERAGED_NAME}, but --weight-averaging {averaging.mode} averages from step "
                              f"{averaging.start_step} and the checkpoint is at step {saved['step']}; resume with the run's own "
                              "--weight-averaging and --averaging-start")
    elif averaging is None and (path / AVERAGED_NAME).is_file():
        logger.warning("%s holds averaged weights, which this run (without --weight-averaging) does not use", path)
    if run.plateau is not None and "plateau" in saved:
        run.plateau.load_state_dict(saved["plateau"])
    if affinity is not None:
        affinity.values = saved.get("affinity", {})
    device = run.accelerator.device
    for name, values in saved.get("losses_since_log", {}).items():
        running[name] = [torch.tensor(v, dtype=torch.float32, device=device) for v in values]
    for name, (total, count) in saved.get("running_loss", {}).items():  # checkpoints of mtl-text <= 0.2.0: the sum and count
        running[name] = [torch.tensor(total / count, dtype=torch.float32, device=device)] * int(count)
    logger.info("resumed from %s at step %d (best mean validation %s at step %s)", path, saved["step"], saved["best_score"],
                saved["best_step"])
    return int(saved["step"])


def joined_inputs(batch: dict, target: dict, pad_id: int) -> dict:
    """A task's batch and a batch of target-domain text as one batch (rows of ``batch`` first), padded
    to the longer of the two: one forward pass encodes both domains."""
    length = max(batch["input_ids"].shape[1], target["input_ids"].shape[1])

    def padded(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, length - t.shape[1]), value=value)

    return {"input_ids": torch.cat([padded(batch["input_ids"], pad_id), padded(target["input_ids"], pad_id)]),
            "attention_mask": torch.cat([padded(batch["attention_mask"], 0), padded(target["attention_mask"], 0)])}


@torch.no_grad()
def domain_mmd(run: TrainingSetup) -> dict[str, float]:
    """Per ``--adapt`` task, MMD² between the pooled vectors of (up to 1,000) of its validation texts
    and of (up to 1,000) target texts, in eval mode (the figure logged before and after training)."""
    accelerator = run.accelerator
    model = accelerator.unwrap_model(run.model)
    was_training = model.training
    model.eval()
    result = {}
    for name, item in (run.adaptation or {}).items():
        pooled = []
        for dl in (item.measure_source, item.measure_target):
            vectors = [accelerator.gather_for_metrics(model.pooled_features(b["input_ids"], b["attention_mask"], name)) for b in dl]
            pooled.append(torch.cat(vectors).float().cpu())
        result[name] = float(mmd2(*pooled))
    model.train(was_training)
    return result


def validation_score(results: dict[str, dict[str, float]], metric: str, primary: dict[str, str], tasks: list[str]) -> float:
    """The mean of ``metric`` (``"primary"``: each task's head's primary metric) over ``tasks``
    (:attr:`TrainingConfig.selection_tasks`); auxiliary tasks' results are left out."""
    return sum(results[name][primary[name] if metric == "primary" else metric] for name in tasks) / len(tasks)


def saved_config(run: TrainingSetup, config: TrainingConfig, best_step: int | None, wide_svm: dict | None = None,
                 calibration: dict | None = None) -> dict:
    """What ``config.json`` records beside the architecture: the training configuration, the best
    step, after ``--init-from`` the model's lineage and, once a linear SVM was added to wide parts
    (``--wide-svm``), ``wide_svm``: task -> its weight and validation metric before and after; after
    ``--calibrate``, ``calibration``: ``{"split": "validation", "tasks": task -> its temperature and
    the split's loss and ECE before and after}`` (:func:`~mtl_text.inference.calibration.calibrate`)."""
    return {"training_config": config.to_dict(), "best_step": best_step, **({"lineage": run.lineage} if run.lineage else {}),
            **({"wide_svm": wide_svm} if wide_svm else {}),
            **({"calibration": {"split": "validation", "tasks": calibration}} if calibration else {})}


def fit(run: TrainingSetup, config: TrainingConfig, log: RunLog, checkpoint: tuple[Path, dict] | None = None) -> dict:
    """Train: task-sampled steps, logging, validation, the best model saved to ``--output-dir``,
    early stopping, checkpoints. ``checkpoint``: the folder and verified state to resume from.

    Returns:
        ``steps`` done, ``train_seconds`` (wall time of the loop), ``validation_seconds`` and
        ``checkpoint_seconds`` (of it), ``train_samples_per_second`` (examples per second of the
        training steps alone, all processes together), ``best_step``; with ``--task-affinity-every``,
        ``affinity_seconds`` (of the wall time) and ``task_affinity``
        (:meth:`~mtl_text.transfer.affinity.AffinityAverage.summary`).
    """
    accelerator, model, optimizer, lr_scheduler, schedule = run.accelerator, run.model, run.optimizer, run.lr_scheduler, run.schedule
    opt, evaluation, ckpt = config.optimization, config.evaluation, config.checkpoints
    unwrapped = accelerator.unwrap_model(model)
    heads = {name: unwrapped.head(name) for name in run.tasks}
    primary = {name: head.primary_metric for name, head in heads.items()}
    metric = evaluation.metric_for_best
    selected = f" of {', '.join(evaluation.selection_tasks)}" if evaluation.selection_tasks else ""
    tracker = BestModelTracker(evaluation.patience)
    running: dict[str, list] = {}  # task -> its batches' losses since the last log (detached 0-d tensors on the device)
    averaging = None
    if opt.weight_averaging != "none":
        averaging = WeightAveraging(unwrapped, opt.weight_averaging, start_step=int(opt.averaging_start * run.max_steps) + 1,
                                    decay=opt.ema_decay)
        logger.info("weight averaging (%s%s) from step %d of %d", opt.weight_averaging,
                    f", decay {opt.ema_decay}" if opt.weight_averaging == "ema" else "", averaging.start_step, run.max_steps)
    affinity = AffinityMonitor(unwrapped, run.val_dataloaders, optimizer) if evaluation.task_affinity_every else None
    step = resume(run, checkpoint, tracker, running, averaging, affinity.average if affinity else None) if checkpoint else 0

    def trainer_state() -> dict:
        return {"step": step, **tracker.state_dict(), "streams": {n: s.state() for n, s in run.train_streams.items()},
                "losses_since_log": {n: torch.stack(values).float().tolist() for n, values in running.items()},
                **({"plateau": run.plateau.state_dict()} if run.plateau else {}),
                "adaptation_streams": {n: a.stream.state() for n, a in (run.adaptation or {}).items()},
                **({"affinity": affinity.average.values} if affinity is not None else {})}

    adaptation, mmd_weight = run.adaptation or {}, config.adaptation.mmd_weight
    pad_id = run.tokenizer.pad_token_id or 0
    aggregator = make_aggregator(opt.task_balancing) if opt.task_balancing in GRADIENT_BALANCING else None
    # the prepared model's parameters, listed once: clipping and zeroing walk this list, not the module
    # tree (two walks per step otherwise; clipping is given the same parameters as model.parameters())
    parameters = list(model.parameters())
    clip = clip_grad_norm if run.lazy_updates else accelerator.clip_grad_norm_  # torch's clipping takes dense gradients only
    shared = [p for p in unwrapped.encoder.parameters() if p.requires_grad]
    specific = [p for n, p in unwrapped.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
    weights = run.task_weights or {}
    distill = config.distillation

    def with_teacher(task: str, out, batch: dict) -> torch.Tensor:
        """The step's loss on the labels, mixed with the head's distillation loss where the batch
        carries the teacher's logits (--distill-from)."""
        if "teacher_logits" not in batch:
            return out.loss
        n = len(batch["labels"])
        return distilled_loss(heads[task], out.loss, out.logits[:n], batch["teacher_logits"], distill.distill_weight,
                              distill.distill_temperature)

    mmd_running: dict[str, list] = {}  # --adapt task -> its steps' MMD² since the last log (detached, on the device)
    r_drop, consistency_running = config.heads.r_drop, {}  # task -> its steps' R-Drop consistency loss since the last log
    if adaptation and not checkpoint:
        before = domain_mmd(run)
        log.log({"step": 0, "split": "adaptation", "mmd2": before})
        logger.info("MMD² between source and target pooled vectors before training: %s", {n: round(v, 5) for n, v in before.items()})

    def weighted(task: str, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` times the task's static weight (--task-balancing static); without one, ``loss``
        itself (no multiplication by 1, and no graph node for it)."""
        return weights[task] * loss if task in weights else loss

    def task_step(task: str, batch: dict) -> torch.Tensor:
        """One task's loss on one batch (times its static weight), plus λ·MMD² for an --adapt task;
        returns the head's own loss for the logs."""
        if task in adaptation:
            n = len(batch["labels"])
            out = model(**joined_inputs(batch, adaptation[task].stream.next(), pad_id), task=task, labels=batch["labels"], return_pooled=True)
            divergence = mmd2(out.pooled[:n], out.pooled[n:])
            loss = weighted(task, with_teacher(task, out, batch)) + mmd_weight * divergence
            mmd_running.setdefault(task, []).append(divergence.detach())
        elif r_drop:  # the batch twice in one pass: independent dropout masks for its two copies
            n = len(batch["labels"])
            twice = {k: torch.cat([v, v]) for k, v in model_inputs(batch).items()}
            out = model(**twice, task=task, labels=torch.cat([batch["labels"], batch["labels"]]))
            consistency = heads[task].consistency_loss(out.logits[:n], out.logits[n:])
            loss = weighted(task, with_teacher(task, out, batch) + r_drop / 2 * consistency)
            consistency_running.setdefault(task, []).append(consistency.detach())
        else:
            out = model(**model_inputs(batch), task=task, labels=batch["labels"])
            loss = weighted(task, with_teacher(task, out, batch))
        accelerator.backward(loss)
        return out.head_loss

    eval_seconds = checkpoint_seconds = affinity_seconds = 0.0
    progress = tqdm(total=run.max_steps, initial=step, desc="Training", disable=not accelerator.is_main_process, dynamic_ncols=True)
    t_start = time.time()
    model.train()
    micro_step, first_step = step * opt.gradient_accumulation_steps, step
    while step < run.max_steps:
        # --- one optimizer step: the scheduled task's batches, its head's loss -------------------
        for _ in range(opt.gradient_accumulation_steps):
            tasks = schedule.tasks_at(micro_step)
            micro_step += 1
            batches = {task: run.train_streams[task].next() for task in tasks}
            if opt.sampling == "all":  # one batch of every task; task-wise gradients combined (see balancing)
                with accelerator.no_sync(model):
                    outputs = {t: model(**model_inputs(b), task=t, labels=b["labels"]) for t, b in batches.items()}
                aggregated_backward([with_teacher(t, o, batches[t]) for t, o in outputs.items()], shared, specific, aggregator, accelerator,
                                    [weights.get(t, 1.0) for t in outputs])
                losses = {t: o.head_loss for t, o in outputs.items()}
            else:
                with accelerator.accumulate(model):
                    losses = {t: task_step(t, b) for t, b in batches.items()}
            if accelerator.sync_gradients:  # the last batch of the accumulation (every batch without accumulation)
                if opt.max_grad_norm > 0:
                    clip(parameters, opt.max_grad_norm)
                optimizer.step()
                lr_scheduler.step()
                # what model.zero_grad(set_to_none=True) does (transformers' Trainer calls it), without walking the
                # modules; the prepared optimizer's zero_grad inspects its signature on every call
                for p in parameters:
                    p.grad = None
            for task, loss in losses.items():  # no tensor operation per step: the mean is taken at the log
                running.setdefault(task, []).append(loss.detach())
        step += 1
        progress.update(1)
        if averaging is not None:
            averaging.update(step)

        # --- training loss -------------------------------------------------------------------------
        if step % evaluation.log_every == 0 or step == run.max_steps:
            losses = {n: torch.stack(values).float().mean().item() for n, values in running.items()}
            progress.set_postfix({n: f"{v:.3f}" for n, v in losses.items()})
            extra = {key: {n: torch.stack(values).float().mean().item() for n, values in kept.items()}
                     for key, kept in (("mmd2", mmd_running), ("consistency", consistency_running)) if kept}
            if unwrapped.uncertainty is not None:
                extra["task_weights"] = unwrapped.uncertainty.weights()
            log.log({"step": step, "split": "train", "epoch": round(step / run.steps_per_epoch, 3), "lr": lr_scheduler.get_last_lr()[0],
                     "loss": losses, **extra})
            running, mmd_running, consistency_running = {}, {}, {}

        # --- inter-task affinity (measured, the run unchanged) ----------------------------------------
        if affinity is not None and step % evaluation.task_affinity_every == 0:
            t_affinity = time.time()
            log.log({"step": step, "split": "affinity", "affinity": affinity.measure(accelerator)})
            affinity_seconds += time.time() - t_affinity

        # --- validation, best model, early stopping -------------------------------------------------
        validated = False
        if step % run.eval_every == 0 or step == run.max_steps:
            validated, t_eval = True, time.time()
            # with --weight-averaging, the averaged weights are validated and saved (once averaging has started)
            with averaging.applied() if averaging is not None else contextlib.nullcontext(False) as averaged:
                results = evaluate(model, run.val_dataloaders, accelerator)
                score = validation_score(results, metric, primary, config.selection_tasks)
                log.log({"step": step, "split": "validation", "epoch": round(step / run.steps_per_epoch, 3),
                         "elapsed_s": round(time.time() - t_start, 1), "metrics": results, f"mean_{metric}": score,
                         **({"averaged_steps": averaging.count} if averaging is not None else {})})
                if tracker.update(score, step) and accelerator.is_main_process:
                    unwrapped.save_pretrained(config.output_dir, run.tokenizer, saved_config(run, config, step))
            if run.plateau is not None and run.plateau.update(score):
                logger.info("validation plateau at step %d: learning rates multiplied by %g (now x%g)", step, run.plateau.factor,
                            run.plateau.scale)
            summary = "; ".join(f"{n} " + " ".join(f"{m} {r[m]:.4f}" for m in heads[n].metric_names) for n, r in results.items())
            of = f" (the average of {averaging.count} steps' weights)" if averaged else ""
            progress.write(f"step {step}: validation{of} {summary}; mean {metric}{selected} {score:.4f} {tracker.describe()}")
            eval_seconds += time.time() - t_eval

        # --- checkpoint: every --save-every steps and at each validation ----------------------------
        if ckpt.save_total_limit and (validated or (ckpt.save_every and step % ckpt.save_every == 0)):
            t_save = time.time()
            save_checkpoint(accelerator, config.output_dir, step, model, optimizer, lr_scheduler, trainer_state(),
                            keep=ckpt.save_total_limit, protect=tracker.best_step,
                            averaged=averaging.averaged if averaging is not None else None)
            checkpoint_seconds += time.time() - t_save
        if validated and tracker.should_stop:
            logger.info("early stopping at step %d", step)
            break
    progress.close()
    train_seconds = time.time() - t_start
    samples_per_second = (step - first_step) * run.global_batch / max(train_seconds - eval_seconds - checkpoint_seconds - affinity_seconds,
                                                                      1e-9)
    return {"steps": step, "train_seconds": round(train_seconds, 1), "validation_seconds": round(eval_seconds, 1),
            "checkpoint_seconds": round(checkpoint_seconds, 1), "train_samples_per_second": round(samples_per_second, 2),
            "best_step": tracker.best_step,
            **({"affinity_seconds": round(affinity_seconds, 1), "task_affinity": affinity.average.summary()}
               if affinity is not None and affinity.average.count else {})}
