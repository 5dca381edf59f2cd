"""Knowledge distillation from a saved model (the teacher) into the model being trained (the student).

The teacher, typically a fine-tuned transformer, scores each distilled task's training texts once,
before training; each training step of that task then takes

    ``(1 - α) · the head's loss on the labels + α · the head's distillation loss on the teacher's logits``

(:meth:`~mtl_text.modeling.heads.Head.distillation_loss`; Hinton, Vinyals & Dean 2015, "Distilling
the Knowledge in a Neural Network"). A *transfer set* of unlabelled texts labelled by the teacher
(its decoded label and its logits) can join a task's training split: Tang et al. 2019, "Distilling
Task-Specific Knowledge from BERT into Simple Neural Networks", found the size of that set to
matter most for a small student. Distillation is for classification heads (single- and
multi-label), whose logits two models with the same labels share.

:func:`load_teacher` checks the teacher against the tasks, :func:`teacher_logits` scores texts
(cached on disk), :func:`with_transfer_set` appends the teacher-labelled texts to a training split
and :func:`distilled_loss` mixes the two losses in a step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError

logger = logging.getLogger("mtl_text.train")

DISTILLABLE = ("single_label_classification", "multi_label_classification")


def load_teacher(directory: str, tasks: dict, batch_size: int = 128, device: str | torch.device = "cpu", name: str | None = None):
    """The teacher as a :class:`~mtl_text.inference.prediction.Predictor`, and the names of the
    ``tasks`` (name -> :class:`~mtl_text.data.tasks.Task`) it distils: those it has a head for.
    ``name``: what messages call the teacher (default ``directory``; e.g. the Hub id a downloaded
    folder came from).

    Raises:
        ModelLoadError: ``directory`` is not a loadable saved model.
        ConfigError: the teacher shares no task with ``tasks``, or a shared task's head has other
            labels (or another order), or a problem type without a distillation loss (regression).
    """
    from ..inference.prediction import Predictor

    teacher = Predictor.from_pretrained(directory, batch_size=batch_size, device=device)
    directory = name or directory
    shared = [name for name in tasks if name in teacher.tasks]
    if not shared:
        raise ConfigError(f"--distill-from {directory}: the teacher has heads for {teacher.tasks}, none of the trained tasks "
                          f"{list(tasks)}")
    for name in shared:
        head, task = teacher.model.heads[name], tasks[name]
        if head.problem_type != task.problem_type or head.problem_type not in DISTILLABLE:
            raise ConfigError(f"--distill-from {directory}: task {name} is {task.problem_type} here and {head.problem_type} in the "
                              f"teacher; distillation takes classification heads of the same type ({', '.join(DISTILLABLE)})")
        if list(head.labels) != list(task.labels):
            raise ConfigError(f"--distill-from {directory}: the teacher's labels of {name} are {list(head.labels)}, the task's "
                              f"{list(task.labels)}: the logits must mean the same labels in the same order")
    return teacher, shared


def teacher_identity(directory: str | Path) -> list:
    """What names a teacher in the cache key: its ``config.json`` and its weight files' names, sizes
    and modification times (a retrained teacher gets new logits)."""
    directory = Path(directory)
    weights = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in directory.glob("*.safetensors"))
    return [(directory / "config.json").read_text(encoding="utf-8"), weights]


def teacher_logits(teacher, directory: str, task: str, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                   cache_dir: str | Path | None = None, desc: str = "", chunk: int = 4096) -> np.ndarray:
    """The teacher's logits of ``task`` for ``texts`` (and ``text_pairs``): ``(len(texts), num_outputs)``
    float32, in the order of ``texts``. With ``cache_dir`` they are kept in
    ``<cache_dir>/teacher-logits-<hash>.npy``, the hash over the teacher (:func:`teacher_identity`),
    the task and the texts, and read back by a later run. ``chunk``: texts per call of the teacher
    (the progress bar moves per chunk).

    Raises:
        ConfigError: a cached file that does not hold one row per text (it is not used).
    """
    path = None
    if cache_dir is not None:
        from datasets.fingerprint import Hasher

        key = Hasher.hash([teacher_identity(directory), task, list(texts), None if text_pairs is None else list(text_pairs)])
        path = Path(cache_dir) / f"teacher-logits-{key}.npy"
        if path.is_file():
            logits = np.load(path)
            if logits.shape[0] != len(texts):
                raise ConfigError(f"{path}: {logits.shape[0]} rows of teacher logits for {len(texts)} texts; delete the file")
            logger.info("task %s: the teacher's logits of %d %s read from %s", task, len(texts), desc or "texts", path)
            return logits
    from tqdm.auto import tqdm

    t0 = time.time()
    parts = []
    with tqdm(total=len(texts), desc=f"Teacher ({task}{', ' + desc if desc else ''})", unit="text", dynamic_ncols=True) as progress:
        for start in range(0, len(texts), chunk):  # chunks, for the progress bar; the predictor batches within each
            pairs = None if text_pairs is None else list(text_pairs[start:start + chunk])
            parts.append(teacher.predict_logits(list(texts[start:start + chunk]), tasks=[task], text_pairs=pairs)[task].numpy())
            progress.update(len(parts[-1]))
    logits = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, teacher.model.heads[task].num_outputs), np.float32)
    logger.info("task %s: the teacher scored %d %s in %.1fs", task, len(texts), desc or "texts", time.time() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, logits)
        tmp.replace(path)
    return logits


def with_transfer_set(train, texts: Sequence[str], logits: np.ndarray, head):
    """``train`` (a ``datasets.Dataset`` of single texts: ``text`` and ``label``) followed by ``texts``,
    each labelled with the teacher's decoded label (``head.decode`` of its ``logits``,
    ``(len(texts), num_outputs)``)."""
    import datasets

    labels = head.decode(torch.from_numpy(logits)).tolist()
    extra = datasets.Dataset.from_dict({"text": list(texts), "label": labels}, features=train.features)
    return datasets.concatenate_datasets([train, extra])


def summary(name: str, directory: str, logits: np.ndarray, labels: Sequence, head, transfer: int) -> str:
    """One log line: how often the teacher's decoded labels (of ``logits``, one row per label) agree
    with the training ``labels``."""
    decoded = head.decode(torch.from_numpy(logits))
    agree = (decoded == torch.as_tensor(labels, dtype=decoded.dtype)).float()
    agreement = agree.mean().item() if agree.dim() == 1 else agree.all(-1).float().mean().item()
    return (f"task {name}: distilled from {directory}; the teacher's label agrees with {100 * agreement:.1f}% of the training "
            f"labels" + (f"; {transfer} transfer texts labelled by it join the training split" if transfer else ""))


def distilled_loss(head, loss: torch.Tensor, logits: torch.Tensor, teacher: torch.Tensor, weight: float,
                   temperature: float) -> torch.Tensor:
    """``(1 - weight) · loss + weight · head.distillation_loss(logits, teacher, temperature)``:
    ``loss`` the step's loss on the labels, ``logits`` and ``teacher`` ``(batch, num_outputs)``."""
    soft = head.distillation_loss(logits, teacher.to(logits.device), temperature)
    return (1.0 - weight) * loss + weight * soft

