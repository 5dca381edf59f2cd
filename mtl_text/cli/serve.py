"""``mtl-text serve`` / ``scripts/serve.py``: serve a saved model over HTTP (FastAPI + uvicorn; the
``serve`` extra): POST /predict answers every head from one encoder pass, concurrent requests batched
together; GET /health and GET /metadata. With --ensemble-with, several models answer as one (the
mean of their logits). The models load before the server starts: a folder that fails to load stops
start-up with one error line."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Annotated, Literal

from ..arguments import Arguments, Backend, PositiveInt, Range, SelectionArguments, backend_option, ensemble_option, token_option
from ..errors import ConfigError
from .parsing import ArgumentParser

# the options of each worker process when --workers > 1 (uvicorn starts them from an import string)
SETTINGS_ENV = "MTL_TEXT_SERVE_SETTINGS"


@dataclass
class ServeArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training, or a Hugging Face Hub id (OWNER/NAME, or OWNER/NAME@REVISION for a branch, tag or commit) where no such folder exists"})
    ensemble_with: list[str] | None = ensemble_option(
        "only the tasks every model has with the same labels are served; GET /metadata lists the members")
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (0.0.0.0: every interface)"})
    port: Annotated[int, Range(min=0, max=65535)] = field(default=8000, metadata={"help": "port to listen on"})
    workers: PositiveInt = field(default=1, metadata={
        "help": "server processes, each with its own copy of the model and its own batching. CPU, word vectors: one per core with "
                "--threads 1 (the time goes to HTTP handling in Python); CPU, transformers: one using every core; GPUs: one per GPU"})
    threads: PositiveInt | None = field(default=None, metadata={
        "help": "PyTorch threads per worker (default: PyTorch's, one per core); with several workers, cores / workers"})
    device: str = field(default="cpu", metadata={"help": "where the model runs: cpu, cuda, cuda:1, ..."})
    backend: Backend = backend_option()
    batch_size: PositiveInt = field(default=64, metadata={"help": "at most this many texts per encoder pass"})
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json at start-up (sizes are always checked)"})
    token: str | None = token_option("read a private or gated Hub model")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = field(default="info", metadata={
        "help": "uvicorn's log level"})


def build_app(args: ServeArguments, limits, batching, selection: SelectionArguments | None = None, names: list[str] | None = None):
    """Load the model (or the ensemble) and build the application (in each worker process).
    ``selection``: the minimum confidences of requests that give none; ``names``: what ``GET
    /metadata`` calls the models (default: ``--model`` and ``--ensemble-with`` as given); the
    metadata is also kept in ``app.state.metadata``."""
    import torch

    from ..inference.ensemble import load_predictor
    from ..serving.app import create_app, ensemble_metadata, model_metadata

    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = load_predictor(args.model, args.ensemble_with, batch_size=args.batch_size, device=args.device,
                               verify_hashes=args.verify_hashes, backend=args.backend, token=args.token)
    names = names or [args.model, *(args.ensemble_with or [])]
    metadata = ensemble_metadata(names, predictor) if args.ensemble_with else model_metadata(names[0], predictor)
    app = create_app(predictor, metadata, limits, batching, (selection or SelectionArguments()).min_confidences())
    app.state.metadata = metadata
    return app


def worker_settings(args: ServeArguments, limits, batching, selection: SelectionArguments, metadata: dict) -> dict:
    """What the parent passes each worker process (``--workers`` > 1) in ``$MTL_TEXT_SERVE_SETTINGS``:
    the options, with every Hub id pinned to the commit the parent downloaded (``OWNER/NAME@COMMIT``,
    from ``metadata``'s ``hub_commit``), so that a push while the workers start cannot make them
    serve different models; ``/metadata`` still names the models as given."""
    from ..modeling.hub import split_revision

    members = metadata["ensemble"]["members"] if "ensemble" in metadata else [metadata]
    pinned = [f"{split_revision(m['model'])[0]}@{m['hub_commit']}" if "hub_commit" in m else m["model"] for m in members]
    return {"serve": {**asdict(args), "model": pinned[0], "ensemble_with": pinned[1:] or None},
            "names": [args.model, *(args.ensemble_with or [])], "limits": asdict(limits), "batching": asdict(batching),
            "selection": asdict(selection)}


def app_from_environment():
    """The application of a worker process started by uvicorn (``--workers`` > 1), from the
    options the parent put in ``$MTL_TEXT_SERVE_SETTINGS`` (:func:`worker_settings`)."""
    from ..serving.app import BatchingArguments, ServerLimits

    settings = json.loads(os.environ[SETTINGS_ENV])
    return build_app(ServeArguments(**settings["serve"]), ServerLimits(**settings["limits"]), BatchingArguments(**settings["batching"]),
                     SelectionArguments(**settings["selection"]), settings["names"])


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    try:
        import uvicorn

        from ..serving.app import BatchingArguments, ServerLimits
    except ImportError as e:
        raise ConfigError(f"mtl-text serve needs the serve extra: pip install 'mtl-text[serve]' ({e})") from None
    from ..utils.allocator import tune_malloc
    from ..utils.log import setup_logging

    parser = ArgumentParser((ServeArguments, ServerLimits, BatchingArguments, SelectionArguments), prog=prog,
                            description=__doc__.split(":", 1)[1].strip())
    (args, limits, batching, selection), _ = parser.parse(argv)
    setup_logging()
    tune_malloc()
    app = build_app(args, limits, batching, selection)  # a model that fails to load (or a minimum it refuses) stops here
    logging.getLogger("mtl_text.serve").info("model %s%s loaded; listening on http://%s:%d (%d worker(s))", args.model,
                                             f" (ensemble with {', '.join(args.ensemble_with)})" if args.ensemble_with else "",
                                             args.host, args.port, args.workers)
    if args.workers == 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=30)
    else:
        os.environ[SETTINGS_ENV] = json.dumps(worker_settings(args, limits, batching, selection, app.state.metadata))
        del app  # each worker loads its own copy
        uvicorn.run("mtl_text.cli.serve:app_from_environment", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
