"""Files: the weights file's name, atomic writes, hashes, and loading safetensors with one mapping
of its errors.

Atomic writes follow one rule: write in full into a temporary name in the same folder, then
:func:`os.replace` it into place (a rename, atomic on POSIX file systems). A reader, or a run killed
at any moment, sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from safetensors import SafetensorError

if TYPE_CHECKING:  # torch only for the annotations: the file names and atomic writes import without it
    import torch

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
ONNX_CONFIG_NAME = "onnx.json"  # an ONNX export's manifest (mtl_text.inference.onnx)
RESULTS_NAME = "test_results.json"  # the test results that training writes beside the model (read by the model card)


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


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, compress: bool = False) -> Iterator[TextIO]:
    """A text stream (UTF-8, ``\\n`` line ends; gzip-compressed with ``compress``) whose contents
    become ``path`` atomically on a clean exit: written into a temporary file beside it, flushed to
    disk, then renamed into place. On an error or an interrupt the temporary file is removed and
    ``path`` stays as it was (absent, or its old contents).

    Raises:
        FileNotFoundError, PermissionError, OSError: the folder is missing or cannot be written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            # the name inside a gzip header is the file's own (gunzip -N), without its .gz; level 6 as the gzip command's
            # default, not Python's 9: 67,349 predictions as CSV written in 9.5 s instead of 11.8 s, 1% larger (docs/tasks.md)
            binary = gzip.GzipFile(filename=path.name.removesuffix(".gz"), mode="wb", compresslevel=6, fileobj=raw) if compress else raw
            f = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
            try:
                yield f
                f.flush()
            finally:
                f.detach()  # raw stays open for fsync; nothing is closed twice
                if compress:
                    binary.close()  # the gzip trailer
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file beside it, then a rename
    (:func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(text)


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
    from safetensors.torch import load_file

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
    from safetensors.torch import load_model

    try:
        load_model(module, str(path), strict=True)
    except (SafetensorError, OSError, ValueError) as e:
        raise error(f"{path}: not a readable safetensors file, truncated or corrupted ({e})") from None
    except RuntimeError as e:
        raise error(f"{path}: weights do not match the model ({e})") from None


# --- file manifests: the size and SHA-256 of each file of a folder, checked on load --------------------


def file_record(path: str | os.PathLike) -> dict:
    """``{"bytes": size, "sha256": hex}`` of a file, as model folders and checkpoints record them."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256_file(path)}


def member_path(directory: str | os.PathLike, name: str, error: type[Exception]) -> Path:
    """``directory / name`` for a file name read from a folder's own metadata, which must stay inside it.

    Raises:
        error: ``name`` is not a plain relative path (absolute, with ``..``, empty), or it resolves
            outside ``directory`` (a symbolic link out).
    """
    directory = Path(directory)
    parts = Path(name).parts if isinstance(name, str) else ()
    if not parts or Path(name).is_absolute() or any(p in ("..", "") for p in parts) or "\\" in name:
        raise error(f"{directory}: the file name {name!r} in its metadata is not a plain name inside the folder")
    path = directory / name
    try:
        inside = path.resolve().is_relative_to(directory.resolve())
    except OSError:
        inside = False
    if not inside:
        raise error(f"{path}: resolves outside {directory} (a symbolic link out of the folder); refused")
    return path


def verify_files(directory: str | os.PathLike, files, error: type[Exception], check_hashes: bool = True, recorded_in: str = "") -> None:
    """Check that every file a folder's metadata lists is there, inside the folder, with the recorded
    size and (``check_hashes``) SHA-256.

    Args:
        directory: the folder.
        files: name -> ``{"bytes": int, "sha256": str}``.
        error: the exception class to raise.
        check_hashes: also hash every file (off: sizes only, for very large files).
        recorded_in: the metadata file, for messages.

    Raises:
        error: a malformed listing, a name outside the folder, a missing file, another size or hash.
    """
    if not isinstance(files, dict):
        raise error(f"{recorded_in or directory}: 'files' must be an object of file name -> size and hash")
    for name, info in files.items():
        path = member_path(directory, name, error)
        if not isinstance(info, dict) or not isinstance(info.get("bytes"), int) or not isinstance(info.get("sha256"), str):
            raise error(f"{recorded_in or directory}: the entry of {name!r} in 'files' needs an integer 'bytes' and a string 'sha256'")
        if not path.is_file():
            raise error(f"{path}: missing (listed in {recorded_in or 'the folder metadata'})")
        size = path.stat().st_size
        if size != info["bytes"]:
            raise error(f"{path}: {size} bytes, expected {info['bytes']} (truncated or altered)")
        if check_hashes and sha256_file(path) != info["sha256"]:
            raise error(f"{path}: contents differ from those recorded in {recorded_in or 'the folder metadata'} (altered or corrupted)")
