"""Logging set-up, one format for every command."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(main_process: bool = True) -> None:
    """INFO messages from the main process, warnings only from the others; quieter third-party
    loggers (``datasets`` progress bars, gensim's per-epoch lines)."""
    import datasets

    logging.basicConfig(format=FORMAT, datefmt="%H:%M:%S", level=logging.INFO if main_process else logging.WARNING)
    datasets.disable_progress_bars()  # tokenizing takes seconds; the training bar is the one that matters
    datasets.utils.logging.set_verbosity_warning()
    logging.getLogger("gensim").setLevel(logging.WARNING)
