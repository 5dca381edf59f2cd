"""A run's output folder: who may write into it (one run at a time, never over a model by accident),
the run's log (``metrics.jsonl`` and the experiment trackers), and the test results written beside
the model (:func:`write_test_results`).

Rules, checked before anything is loaded:

* a folder that holds a model (``config.json``) or checkpoints is refused, unless
  ``--overwrite-output-dir`` (its model, checkpoints and results are then removed first) or
  ``--resume-from-checkpoint`` (the run continues) says otherwise;
* a folder with a run in progress is refused: the main process holds a lock file
  (``.mtl-text.lock``, created exclusively, holding its host and process id) until the run ends.
  A lock left by a killed process on the same host is taken over with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path

from accelerate import Accelerator

from ..errors import OutputDirError
from ..utils.files import CONFIG_NAME, RESULTS_NAME, WEIGHTS_NAME, atomic_write_text
from .checkpointing import CHECKPOINT_DIR, list_checkpoints

logger = logging.getLogger("mtl_text.train")

LOCK_NAME = ".mtl-text.lock"
METRICS_NAME = "metrics.jsonl"
RESULTS_MD = "test_results.md"
PREDICTIONS_JSON = "test_predictions.json"  # every test example's prediction and reference, per task (for paired tests)
AFFINITY_JSON = "task_affinity.json"  # --task-affinity-every: the mean inter-task affinity of the run
RESULTS_NAMES = (RESULTS_NAME, RESULTS_MD, PREDICTIONS_JSON, AFFINITY_JSON)


def check_output_dir(output_dir: Path, overwrite: bool, resume: bool, resumable: bool = True) -> None:
    """Refuse a folder in use by a live run (always), or one that holds a model or checkpoints
    (unless overwriting or resuming). ``resumable``: whether the refusal may advise resuming (a
    training run; not ``mtl-text calibrate``).

    Raises:
        OutputDirError: the folder is in use, holds a model or checkpoints, or is not a folder.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputDirError(f"--output-dir {output_dir} exists and is not a folder")
    OutputLock(output_dir).check_free()
    if overwrite or resume:
        return
    held = [name for name in (CONFIG_NAME, WEIGHTS_NAME) if (output_dir / name).is_file()]
    if list_checkpoints(output_dir):
        held.append(f"{CHECKPOINT_DIR}/")
    if held:
        resuming = "--resume-from-checkpoint latest to continue its run, " if resumable else ""
        raise OutputDirError(f"--output-dir {output_dir} already holds a model ({', '.join(held)}); pass --overwrite-output-dir to "
                             f"replace it, {resuming}or choose another --output-dir")


def clear_previous_run(output_dir: Path) -> None:
    """``--overwrite-output-dir``: remove the model, checkpoints and results of an earlier run (other files stay)."""
    removed = []
    for name in (CONFIG_NAME, WEIGHTS_NAME, METRICS_NAME, *RESULTS_NAMES):
        if (output_dir / name).is_file():
            (output_dir / name).unlink()
            removed.append(name)
    if (output_dir / CHECKPOINT_DIR).is_dir():
        shutil.rmtree(output_dir / CHECKPOINT_DIR)
        removed.append(f"{CHECKPOINT_DIR}/")
    if removed:
        logger.warning("--overwrite-output-dir: removed the earlier run's %s from %s", ", ".join(removed), output_dir)


def write_test_results(output_dir: Path, record: dict, predictions: dict, tasks) -> str:
    """A model's test results beside it: ``test_results.json`` (``record``: its ``metrics`` and
    ``class_reports``, the summary of how it was trained, and under ``datasets`` the Hub dataset of
    each of the ``tasks``' test splits that has one, for the card's metadata), ``test_results.md``
    (the metrics table, also returned), ``test_predictions.json`` (``predictions``: every example's
    prediction and reference, as :func:`~mtl_text.inference.evaluation.evaluate` fills them) and the
    model card (``README.md``, which shows the table); each written atomically. Used by training and
    ``mtl-text calibrate``.

    Args:
        tasks: the scored :class:`~mtl_text.data.tasks.Task` objects.
    """
    from ..inference.evaluation import format_table
    from ..modeling.hub import write_model_card

    datasets = {task.name: task.hub_dataset.test_reference() for task in tasks if task.hub_dataset is not None}
    table = format_table(record["metrics"])
    atomic_write_text(output_dir / RESULTS_NAME, json.dumps({**record, **({"datasets": datasets} if datasets else {})}, indent=2) + "\n")
    atomic_write_text(output_dir / RESULTS_MD, table + "\n")
    atomic_write_text(output_dir / PREDICTIONS_JSON, json.dumps(predictions) + "\n")
    write_model_card(output_dir)  # README.md: a Hub model card with the test table and the training command
    return table


class OutputLock:
    """The exclusive lock file of a run's output folder (a context manager).

    Raises:
        OutputDirError: another live run holds the folder.
    """

    def __init__(self, output_dir: Path):
        self.path = Path(output_dir) / LOCK_NAME
        self.held = False

    def __enter__(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.check_free()  # raises while a live run holds it
                logger.warning("%s: taking over the lock of process %s, which no longer runs", self.path, owner.get("pid"))
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise OutputDirError(f"{self.path}: could not take the lock")

    def check_free(self) -> dict:
        """The owner of a stale lock (``{}`` when there is no lock); a lock whose process still runs,
        or that was taken on another host, raises.

        Raises:
            OutputDirError: another run holds the folder; the message names its process and host.
        """
        if not self.path.exists():
            return {}
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            owner = None
        if isinstance(owner, dict) and owner.get("host") == socket.gethostname() and not _alive(owner.get("pid")):
            return owner
        who = (f"process {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}" if isinstance(owner, dict)
               else "unreadable lock file")
        raise OutputDirError(f"--output-dir {self.path.parent} is in use by another run ({who}): wait for it to end or "
                             f"choose another --output-dir (remove {self.path} only if no run uses the folder)")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLog:
    """Records of a run: one JSON line each in ``metrics.jsonl``, and the same values sent to the
    experiment trackers (``--report-to``) as scalars named ``train/loss/TASK``, ``train/lr``,
    ``validation/TASK/METRIC``, ``test/TASK/METRIC``. Main process only.

    Args:
        accelerator: the run's ``Accelerator`` (its trackers initialised or none).
        output_dir: where ``metrics.jsonl`` is.
        resume_step: a run resumed from the checkpoint of this step keeps the earlier records up to
            it (those of steps after it are replayed, and logged again); else the file starts empty.
    """

    def __init__(self, accelerator: Accelerator, output_dir: Path, resume_step: int | None = None):
        self.accelerator = accelerator
        self.path = Path(output_dir) / METRICS_NAME
        if not accelerator.is_main_process:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    break  # a line cut by the kill: it and what follows are replayed
                if isinstance(record, dict) and record.get("split") != "test" and record.get("step", resume_step + 1) <= resume_step:
                    kept.append(line + "\n")
        atomic_write_text(self.path, "".join(kept))

    def log(self, record: dict) -> None:
        """Append ``record`` (with ``step`` and ``split``) and send its numbers to the trackers."""
        if self.accelerator.is_main_process:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        if self.accelerator.trackers:
            values = {k: v for k, v in record.items() if k not in ("step", "split", "metrics")}
            values.update(record.get("metrics", {}))  # validation/sst2/accuracy rather than validation/metrics/sst2/accuracy
            scalars = {}
            _flatten(record["split"], values, scalars)
            self.accelerator.log(scalars, step=record["step"])


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}/{k}", v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value
