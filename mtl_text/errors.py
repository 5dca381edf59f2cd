"""The errors mtl-text raises on bad input. Every one derives from :class:`MtlTextError`, so a caller
can catch them all; each also derives from the built-in class a Python user would expect
(``ValueError``, ``KeyError``, ``OSError``, ...). Only the command line (:mod:`mtl_text.cli`) turns
them into one ``error:`` line and exit status 2. Messages name the option, file, line or field at
fault and what was expected.
"""

from __future__ import annotations


class MtlTextError(Exception):
    """Base class of every error mtl-text raises on bad input."""


class ConfigError(MtlTextError, ValueError):
    """An option or configuration value out of its range or inconsistent with another; the message
    names the option (``--batch-size``) and its valid range."""


class DataError(MtlTextError):
    """A task's data cannot be used."""


class DataFormatError(DataError, ValueError):
    """A data file does not have the expected format. The message names the file and the line."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A task's data could be found neither locally nor at its download source."""


class TaskError(MtlTextError):
    """A task definition that cannot be used."""


class UnknownTaskError(TaskError, KeyError):
    """A task name that is not registered. The message lists the known tasks."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


class TaskFileError(TaskError, ImportError):
    """A task file (``--task-file``) is missing, has a syntax error or raises when imported; the
    message names the file."""


class ModelLoadError(MtlTextError, OSError):
    """A folder is not a loadable mtl-text model. The message names the folder or file at fault."""


class ModelOutputError(MtlTextError, ArithmeticError):
    """A model gave outputs that are not numbers (NaN or infinite): its weights are damaged."""


class UnknownHeadError(MtlTextError, KeyError):
    """A task the model has no head for; the message lists the model's tasks."""

    def __str__(self) -> str:
        return str(self.args[0])


class CheckpointError(MtlTextError, OSError):
    """A checkpoint that cannot be used: missing, truncated, tampered with, or from another model.
    The message names the file at fault."""


class OutputDirError(MtlTextError, OSError):
    """An output folder that a run must not write into: it holds a model or a run in progress."""


class HubUploadError(MtlTextError, OSError):
    """An upload to the Hugging Face Hub failed; the message names the repository, the Hub's error,
    and where the model to upload lies."""


class InputError(MtlTextError, ValueError):
    """Prediction input that cannot be read. The message names the source and line."""
