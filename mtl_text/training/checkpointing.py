"""Training checkpoints that survive a kill, and load without pickle.

A checkpoint is a folder ``<output_dir>/checkpoints/step-<step:08d>/`` holding:

* ``model.safetensors``: every weight of the model;
* ``optimizer.safetensors``: the optimizer's tensors (AdamW's moments and step counts);
* ``averaged.safetensors``, with ``--weight-averaging``: the running average of the weights;
* ``rng-<rank>.safetensors``: each process's torch generator states (CPU, and CUDA where used);
* ``trainer_state.json``: everything else, as JSON: the step, the task streams' positions, the
  early-stopping state, the optimizer's hyper-parameters, the learning-rate scheduler's state, the
  Python and NumPy generator states, and the size and SHA-256 of every other file.

Writing is atomic: the files go into a temporary folder (``.tmp-step-...-<random>``, unique to the
run) that is renamed into place once complete, ``trainer_state.json`` written last; a kill at any moment leaves either no
checkpoint or a complete one (a leftover ``.tmp-*`` folder is never taken for a checkpoint).
Loading reads JSON and safetensors only, checks every file's size and hash first, and raises
:class:`CheckpointError` naming the file at fault.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import broadcast_object_list
from safetensors.torch import save_file, save_model

from ..errors import CheckpointError
from ..utils.files import WEIGHTS_NAME, file_record, load_safetensors, load_safetensors_into, verify_files

STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.safetensors"
AVERAGED_NAME = "averaged.safetensors"
CHECKPOINT_DIR = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def checkpoint_dir(output_dir: str | os.PathLike, step: int) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR / f"step-{step:08d}"


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under ``output_dir`` (those with a state file), oldest first."""
    root = Path(output_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_NAME).is_file()]
    return sorted(found, key=lambda p: p.name)


def resolve_checkpoint(spec: str, output_dir: str | os.PathLike) -> Path:
    """``latest`` -> the newest complete checkpoint in ``output_dir``; otherwise ``spec`` as a folder.

    Raises:
        CheckpointError: ``latest`` with no checkpoint, or a folder that does not exist.
    """
    if spec == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise CheckpointError(f"--resume-from-checkpoint latest: no checkpoint in {Path(output_dir) / CHECKPOINT_DIR}")
        return found[-1]
    path = Path(spec)
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    return path


# --- optimizer and generator states <-> tensors + JSON ------------------------------------------


def _optimizer_to_safetensors(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for index, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _optimizer_from_safetensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _python_numpy_rng() -> dict:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def _restore_python_numpy_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


def _torch_rng() -> dict[str, torch.Tensor]:
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda.{i}"] = s
    return states


def _restore_torch_rng(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["cpu"])
    cuda = [states[k] for k in sorted((k for k in states if k.startswith("cuda.")), key=lambda k: int(k.split(".")[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


# --- saving --------------------------------------------------------------------------------------


def save_checkpoint(accelerator, output_dir: str | os.PathLike, step: int, model, optimizer, lr_scheduler,
                    trainer_state: dict, keep: int, protect: int | None = None,
                    averaged: torch.nn.Module | None = None) -> Path | None:
    """Write the checkpoint of ``step`` (every process must call this; the main one writes the shared
    files, each process its own generator states), then delete old ones.

    Args:
        accelerator: the run's ``Accelerator``.
        output_dir: the run's output folder; checkpoints go in its ``checkpoints/``.
        step: the optimizer step just completed.
        model, optimizer, lr_scheduler: as prepared by the accelerator.
        trainer_state: JSON-able loop state (task stream positions, early stopping, ...).
        keep: how many of the newest checkpoints to keep (at least 1).
        protect: a step whose checkpoint is never deleted (the best one).
        averaged: the running average of the weights (``--weight-averaging``: its
            ``AveragedModel``), saved as ``averaged.safetensors``.

    Returns:
        the checkpoint folder (on the main process; ``None`` on the others).
    """
    final = checkpoint_dir(output_dir, step)
    shared = [None]
    if accelerator.is_main_process:
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(".tmp-*"):  # left by a run killed while writing (one run per folder: the lock)
            shutil.rmtree(stale, ignore_errors=True)
        shared = [tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent)]  # unique to this run
    tmp = Path(broadcast_object_list(shared)[0])
    accelerator.wait_for_everyone()
    save_file(_torch_rng(), str(tmp / f"rng-{accelerator.process_index}.safetensors"))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_model(accelerator.unwrap_model(model), str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        tensors, optimizer_meta = _optimizer_to_safetensors(optimizer.state_dict())
        save_file(tensors, str(tmp / OPTIMIZER_NAME))
        if averaged is not None:
            save_model(averaged, str(tmp / AVERAGED_NAME), metadata={"format": "pt"})
        files = {f.name: file_record(f) for f in sorted(tmp.iterdir())}
        state = {"step": step, "num_processes": accelerator.num_processes, "trainer": trainer_state, "optimizer": optimizer_meta,
                 "lr_scheduler": lr_scheduler.state_dict(), "rng": _python_numpy_rng(), "files": files}
        with open(tmp / STATE_NAME, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(output_dir)[: -max(keep, 1)]:
            if protect is None or old.name != checkpoint_dir(output_dir, protect).name:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final if accelerator.is_main_process else None


# --- loading -------------------------------------------------------------------------------------


def read_checkpoint_state(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint's ``trainer_state.json`` and the files it lists (size, SHA-256).

    Every path it lists must be a plain file name inside the checkpoint folder (no absolute path,
    no ``..``, no symbolic link out): a crafted state file cannot make the loader read other files.

    Raises:
        CheckpointError: the state file is missing or not valid JSON, a listed file is outside the
            folder, missing, truncated or altered.
    """
    path = Path(path)
    state_file = path / STATE_NAME
    if not state_file.is_file():
        raise CheckpointError(f"{path}: not a checkpoint ({STATE_NAME} is missing)")
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        files, step = state["files"], int(state["step"])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{state_file}: not valid JSON ({e})") from None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{state_file}: not a checkpoint state ({type(e).__name__}: {e})") from None
    verify_files(path, files, CheckpointError, recorded_in=str(state_file))
    state["step"] = step
    return state


def load_checkpoint(accelerator, path: str | os.PathLike, model, optimizer, lr_scheduler, state: dict | None = None) -> dict:
    """Restore model, optimizer, scheduler and every generator from a checkpoint; return its state
    (``step``, ``trainer``, ...). Call it after the data streams are positioned: creating their
    iterators draws from the generators, which this then sets to the saved states.

    Args:
        state: the checkpoint's state as :func:`read_checkpoint_state` returned it (read and
            verified here when not given).

    Raises:
        CheckpointError: see :func:`read_checkpoint_state`; also a checkpoint written by a different
            number of processes or for a different model.
    """
    path = Path(path)
    state = state if state is not None else read_checkpoint_state(path)
    if state["num_processes"] != accelerator.num_processes:
        raise CheckpointError(f"{path / STATE_NAME}: written by {state['num_processes']} process(es), "
                              f"resumed with {accelerator.num_processes}; resume with the same number")
    load_safetensors_into(accelerator.unwrap_model(model), path / WEIGHTS_NAME, CheckpointError)
    try:
        optimizer.load_state_dict(_optimizer_from_safetensors(load_safetensors(path / OPTIMIZER_NAME, CheckpointError), state["optimizer"]))
        lr_scheduler.load_state_dict(state["lr_scheduler"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: optimizer or scheduler state does not match this run ({e})") from None
    _restore_torch_rng(load_safetensors(path / f"rng-{accelerator.process_index}.safetensors", CheckpointError))
    _restore_python_numpy_rng(state["rng"])
    return state
