"""The command line: ``mtl-text train|predict|serve|export-onnx|push-to-hub|evaluate|calibrate|compare|benchmark|env`` (also ``python -m mtl_text`` and the
thin ``scripts/*.py``). Options come from the library's typed dataclasses; errors from the library
(:class:`~mtl_text.errors.MtlTextError`) become one ``error:`` line and exit status 2 here, in
:func:`run_command`, and nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from .. import __version__
from ..errors import MtlTextError

COMMANDS = {
    "train": ("mtl_text.cli.train", "train tasks jointly (under `accelerate launch` for several processes or GPUs)"),
    "predict": ("mtl_text.cli.predict", "score text with every head of a saved model"),
    "serve": ("mtl_text.cli.serve", "serve a saved model over HTTP with dynamic batching (needs the serve extra)"),
    "export-onnx": ("mtl_text.cli.export", "export a saved model to ONNX, every head an output (needs the onnx extra)"),
    "push-to-hub": ("mtl_text.cli.hub", "upload a saved model folder to the Hugging Face Hub (model card included)"),
    "evaluate": ("mtl_text.cli.evaluate", "score a saved model on its tasks' test or validation splits"),
    "calibrate": ("mtl_text.cli.calibrate", "temperature scaling of a saved model's heads on its validation split"),
    "compare": ("mtl_text.cli.compare", "is one model better than another? paired differences with intervals on each task"),
    "benchmark": ("mtl_text.cli.benchmark", "the benchmark: baselines, single- vs multi-task, transfer (needs the bench extra)"),
    "env": ("mtl_text.cli.env", "versions, hardware and settings to paste into a bug report"),
}


INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C: 128 + SIGINT


def run_command(command: Callable[..., int | None], argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run a command's ``main(argv, prog)`` and return its exit status: 0, or 2 with one ``error:``
    line on standard error for bad input (a typed error of the library, or an operating-system error
    such as a missing or unwritable file), or 141 without a word when the reader of standard output
    went away (``mtl-text predict ... | head``): the status a shell reports for a filter stopped by a
    closed pipe (128 + SIGPIPE), as Python's documentation advises for ``BrokenPipeError``; or
    :data:`INTERRUPTED` (130, 128 + SIGINT), without a traceback, when interrupted (Ctrl-C)."""
    try:
        status = command(argv, prog) or 0
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return status
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere at exit
        return 141
    except KeyboardInterrupt:  # Ctrl-C, e.g. to leave predict answering typed lines; the command's own cleanup has run
        return INTERRUPTED
    except (MtlTextError, OSError) as e:
        logging.getLogger("mtl_text.cli").debug("bad input", exc_info=True)
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2


def exit_with(command: Callable[..., int | None], argv: list[str] | None = None, prog: str | None = None) -> None:
    """``sys.exit(run_command(...))``: for ``if __name__ == "__main__"`` blocks and console scripts.
    An interrupted command ends the process by SIGINT itself, as Python does after an uncaught
    ``KeyboardInterrupt``, so that a shell script running it stops too (a shell reports 130)."""
    status = run_command(command, argv, prog)
    if status == INTERRUPTED and os.name == "posix":
        for stream in (sys.stdout, sys.stderr):  # the results already written reach the reader; a signal skips Python's exit
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(status)


def _overview(argv: list[str], prog: str | None = None) -> int:
    """``mtl-text --help`` (status 0), or the same with no command (status 2)."""
    width = max(map(len, COMMANDS))
    print("usage: mtl-text {" + ",".join(COMMANDS) + "} [OPTIONS]\n\nMulti-task text classification with one shared encoder "
          "and one head per task.\n\ncommands:\n" + "\n".join(f"  {n:{width}}  {h}" for n, (_, h) in COMMANDS.items())
          + "\n\n`mtl-text COMMAND --help` explains each command's options. Several processes or GPUs: "
          "`accelerate launch -m mtl_text train ...`.")
    return 0 if argv else 2


def _version(argv: list[str], prog: str | None = None) -> int:
    """``mtl-text --version``."""
    print(f"mtl-text {__version__}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """``mtl-text COMMAND [OPTIONS]``: the console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        exit_with(_overview, argv)
    if argv[0] == "--version":
        exit_with(_version, argv)
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; expected one of {', '.join(COMMANDS)} (see mtl-text --help)", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[argv[0]][0])
    exit_with(module.main, argv[1:], f"mtl-text {argv[0]}")
