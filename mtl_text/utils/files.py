"""Files: the weights file's name, atomic writes, hashes, and loading safetensors with one mapping
of its errors.

Atomic writes follow one rule: write in full into a temporary name in the same folder, then
:func:`os.replace` it into place (a rename, atomic on POSIX file systems). A reader, or a run killed
at any moment, sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


@contextlib.contextmanager
def staging_dir(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A fresh temporary folder inside ``parent`` (created if needed), removed on exit with what is
    left in it. Move its files (or the folder itself) into place with :func:`os.replace`."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, then a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_safetensors(path: str | os.PathLike, error: type[Exception]) -> dict[str, torch.Tensor]:
    """Read a safetensors file into CPU tensors.

    Raises:
        error: the file is missing, truncated or not a safetensors file (the message names it).
    """
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise error(f"{path}: not a readable safetensors file, truncated or corrupted ({e})") from None


def load_safetensors_into(module: torch.nn.Module, path: str | os.PathLike, error: type[Exception]) -> None:
    """Load a safetensors file into ``module``, strictly (every key present, every shape equal).

    Raises:
        error: the file is unreadable (as :func:`load_safetensors`), or its tensors do not match the
            module's parameters.
    """
    try:
        load_model(module, str(path), strict=True)
    except (SafetensorError, OSError, ValueError) as e:
        raise error(f"{path}: not a readable safetensors file, truncated or corrupted ({e})") from None
    except RuntimeError as e:
        raise error(f"{path}: weights do not match the model ({e})") from None
