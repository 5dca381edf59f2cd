"""The HTTP server's application (FastAPI, served by uvicorn; the ``serve`` extra).

Endpoints:

* ``POST /predict``: ``{"texts": [...], "text_pairs": [...] (pair tasks), "tasks": [...] (optional)}``
  -> ``{"predictions": [...]}``, one object per text, the same as a line of ``mtl-text predict``.
  Concurrent requests are scored together (:mod:`mtl_text.serving.batching`).
* ``GET /health``: ``{"status": "ok", ...}`` with counters: requests, texts, batches (predictor
  calls) and encoder passes since start, requests waiting.
* ``GET /metadata``: the model's tasks (problem type, labels, max length, pairs or not), encoder,
  lineage, and the server's limits and batching settings; for an ensemble
  (:class:`~mtl_text.inference.ensemble.Ensemble`), its tasks and each member's metadata.

Bad requests get a 4xx answer ``{"detail": "..."}`` naming the field at fault: 400 for a body that
is not JSON, 413 for a body over the size limit, 422 for a JSON body of the wrong shape (wrong types,
an empty list, too many texts, a text over the length limit, an unknown task, pairs for a
single-text task or the reverse). Texts longer than a head's ``max_length`` in tokens are cut to
their first tokens, as in ``mtl-text predict``; texts over ``max_text_chars`` characters are refused
(422) rather than cut.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..arguments import CONFIDENCE_RANGE, Arguments, NonNegativeFloat, PositiveInt
from ..errors import ModelOutputError, MtlTextError
from .batching import DynamicBatcher

if TYPE_CHECKING:  # torch loads with the model, after the command has set the process up (mtl_text.utils.allocator)
    from ..inference.ensemble import Ensemble
    from ..inference.prediction import HeadOutputs, MinConfidence, Predictor

logger = logging.getLogger("mtl_text.serve")


@dataclass
class ServerLimits(Arguments):
    """What one request may hold (``mtl-text serve`` options; ranges checked on construction:
    :class:`~mtl_text.errors.ConfigError`)."""
    max_body_bytes: PositiveInt = field(default=1 << 20, metadata={
        "help": "largest request body, bytes; a larger one is refused with 413"})
    max_texts: PositiveInt = field(default=256, metadata={"help": "most texts per request; more are refused with 422"})
    max_text_chars: PositiveInt = field(default=100_000, metadata={
        "help": "longest text, characters; a longer one is refused with 422 (tokens beyond a head's max_length are cut to the first "
                "ones, as in predict, not refused)"})


@dataclass
class BatchingArguments(Arguments):
    """Dynamic batching (:class:`~mtl_text.serving.batching.DynamicBatcher`)."""
    max_batch_size: PositiveInt = field(default=64, metadata={
        "help": "a batch of concurrent requests closes once it holds this many texts"})
    max_wait_ms: NonNegativeFloat = field(default=0.0, metadata={
        "help": "... or this many milliseconds after its first request arrived"})


# a minimum confidence, in (0, 1]: the range predict's --min-confidence declares, as pydantic bounds
Minimum = Annotated[float, Field(gt=CONFIDENCE_RANGE.min, le=CONFIDENCE_RANGE.max)]


class PredictRequest(BaseModel):
    """The body of ``POST /predict``."""
    model_config = ConfigDict(extra="forbid", strict=True)

    texts: list[str] = Field(min_length=1, description="the texts to score (the first text of each pair)")
    text_pairs: list[str] | None = Field(default=None, description="the second text of each pair, for sentence-pair tasks")
    tasks: list[str] | None = Field(default=None, min_length=1, description="heads to use; default: every task that takes this kind of input")
    top_k: int | None = Field(default=None, ge=1, description="classification heads: only the top_k most probable labels' "
                                                          "probabilities, the most probable first; default: every label's")
    min_confidence: Minimum | dict[str, Minimum] | None = Field(
        default=None, description="selective prediction: each single-label head's output also says whether it abstains (its label's "
                                  "probability below this); one number for every single-label head, or one per task "
                                  "({\"sst2\": 0.97}, \"*\" for the heads not named)")


def _field(loc: tuple) -> str:
    """``("texts", 2)`` -> ``texts[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


UNION_FIELDS = ("min_confidence",)  # PredictRequest's fields of several types: pydantic tags each error with its branch


def _validation_message(error: ValidationError) -> str:
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # "text" for "texts" explains "texts: missing"
    if first["type"] == "extra_forbidden":
        return f"{_field(tuple(first['loc']))}: unknown field; expected texts, text_pairs (optional), tasks (optional), top_k (optional) and min_confidence (optional)"
    if first["loc"][0] in UNION_FIELDS and len(first["loc"]) > 1:  # one error per type it may take, each tagged after the field's name
        branches = [e for e in errors if e["loc"][0] == first["loc"][0]]
        # the type that fits, with a value it refuses; else a container that fits, with an item of the wrong type
        fitting = [e for e in branches if not e["type"].endswith("_type")] or [e for e in branches if len(e["loc"]) > 2]
        if not fitting:  # no type fits: "Input should be a valid number, or a valid dictionary"
            return f"{first['loc'][0]}: {branches[0]['msg']}" + "".join(f", or {e['msg'].removeprefix('Input should be ')}" for e in branches[1:])
        first = {**fitting[0], "loc": (fitting[0]["loc"][0], *fitting[0]["loc"][2:])}
    return f"{_field(tuple(first['loc']))}: {first['msg']}"


def model_metadata(model: str | Path, predictor: Predictor) -> dict:
    """What ``GET /metadata`` shows of a model: its name as given (a folder or a Hub id), for a Hub
    id the commit it was downloaded from (``hub_commit``), tasks (as the loaded model holds them),
    encoder, lineage, version. ``config.json`` is read from the folder :meth:`Predictor.from_pretrained`
    loaded (``predictor.directory``), else from ``model``."""
    from ..modeling.hub import hub_commit
    from ..modeling.model import MultiTaskModel

    directory = predictor.directory or model
    config = MultiTaskModel.read_config(directory)
    commit = hub_commit(directory)
    tasks = {name: {k: info[k] for k in ("problem_type", "labels", "max_length", "text_pair")} for name, info in predictor.model.tasks.items()}
    encoder = {k: v for k, v in config["encoder"].items() if k not in ("config",)}  # a transformer's full config is in config.json
    return {"model": str(model), **({"hub_commit": commit} if commit else {}), "mtl_text_version": config.get("mtl_text_version"),
            "encoder": encoder, "tasks": tasks, **({"lineage": config["lineage"]} if "lineage" in config else {}),
            "device": str(predictor.device)}


def ensemble_metadata(directories: list[str | Path], ensemble: Ensemble) -> dict:
    """What ``GET /metadata`` shows of an ensemble: its tasks (the first member's heads, which
    decode), how the logits combine, and each member's :func:`model_metadata`."""
    members = [model_metadata(d, m) for d, m in zip(directories, ensemble.members)]
    return {"model": str(directories[0]), "tasks": {t: members[0]["tasks"][t] for t in ensemble.tasks},
            "ensemble": {"combination": "the mean of the members' logits, decoded by the first member's heads", "members": members},
            "device": str(ensemble.device)}


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) once it passes ``limit`` bytes, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body: {int(declared):,} bytes, over the limit of {limit:,} (--max-body-bytes)")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body: over the limit of {limit:,} bytes (--max-body-bytes)")
    return bytes(body)


def create_app(predictor: HeadOutputs, metadata: dict, limits: ServerLimits | None = None,
               batching: BatchingArguments | None = None, min_confidence: MinConfidence | None = None) -> FastAPI:
    """The FastAPI application serving ``predictor``.

    Args:
        predictor: the loaded model (a :class:`~mtl_text.inference.prediction.Predictor`) or
            ensemble (:class:`~mtl_text.inference.ensemble.Ensemble`).
        metadata: what ``GET /metadata`` shows of it (:func:`model_metadata`, :func:`ensemble_metadata`).
        limits: request limits (default values when ``None``).
        batching: dynamic batching settings (default values when ``None``).
        min_confidence: the minimum confidence of requests that give none (serve's
            ``--min-confidence``, ``--task-min-confidence``): one for every single-label head, or per
            task (:meth:`~mtl_text.inference.prediction.HeadOutputs.check_min_confidence`); a
            request's own replaces it whole.

    Raises:
        ValueError, ConfigError, UnknownHeadError: ``min_confidence`` as ``check_min_confidence``
            refuses it for every task of the model.
    """
    limits = limits or ServerLimits()
    batching = batching or BatchingArguments()
    if min_confidence is not None:
        predictor.check_min_confidence(min_confidence)
    batcher = DynamicBatcher(predictor.predict, batching.max_batch_size, batching.max_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        logger.info("serving %s: tasks %s, batches of up to %d texts, %.1f ms wait", metadata.get("model"), list(predictor.tasks),
                    batching.max_batch_size, batching.max_wait_ms)
        yield
        await batcher.stop()  # after the server stopped taking requests: the queued ones are answered
        logger.info("shut down after %d requests (%d texts, %d batches, %d encoder passes)", batcher.stats.requests,
                    batcher.stats.texts, batcher.stats.batches, predictor.encoder_passes)

    app = FastAPI(title="mtl-text", summary="Every head of a multi-task model from one encoder pass", lifespan=lifespan)
    info = {**metadata, "limits": asdict(limits), "batching": asdict(batching),
            **({"min_confidence": min_confidence} if min_confidence is not None else {})}

    @app.exception_handler(ModelOutputError)
    async def model_fault(request: Request, error: ModelOutputError) -> JSONResponse:  # the model's fault, not the request's
        return JSONResponse({"detail": str(error)}, status_code=500)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", **asdict(batcher.stats), "encoder_passes": predictor.encoder_passes, "queued": batcher.queued}

    @app.get("/metadata")
    async def get_metadata() -> dict:
        return info

    async def predict(request: Request) -> Response:
        body = await _read_body(request, limits.max_body_bytes)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPException(400, f"body: not valid JSON ({e})") from None
        if not isinstance(payload, dict):
            raise HTTPException(422, f"body: expected a JSON object with a 'texts' list, found {type(payload).__name__}")
        try:
            req = PredictRequest.model_validate(payload)
        except ValidationError as e:
            raise HTTPException(422, _validation_message(e)) from None
        if len(req.texts) > limits.max_texts:
            raise HTTPException(422, f"texts: {len(req.texts)} texts, over the limit of {limits.max_texts} per request (--max-texts)")
        for name, texts in (("texts", req.texts), ("text_pairs", req.text_pairs or [])):
            for i, text in enumerate(texts):
                if len(text) > limits.max_text_chars:
                    raise HTTPException(422, f"{name}[{i}]: {len(text):,} characters, over the limit of {limits.max_text_chars:,} "
                                             "(--max-text-chars)")
        if req.text_pairs is not None and len(req.text_pairs) != len(req.texts):
            raise HTTPException(422, f"text_pairs: {len(req.text_pairs)} second texts for {len(req.texts)} texts; give one per text")
        try:
            tasks = predictor.input_tasks(req.tasks, pairs=req.text_pairs is not None)
        except MtlTextError as e:  # an unknown task, or a task for the other kind of input
            raise HTTPException(422, f"tasks: {e}") from None
        if req.min_confidence is not None:
            try:
                predictor.check_min_confidence(req.min_confidence, tasks)
            except MtlTextError as e:  # no single-label head among the tasks
                raise HTTPException(422, f"min_confidence: {e}") from None
        predictions = await batcher.submit(req.texts, tasks if req.tasks is not None else None, req.text_pairs)
        minimum = req.min_confidence if req.min_confidence is not None else min_confidence  # the server's for requests with none
        if minimum is not None:  # per request, after scoring, as top_k
            predictions = [predictor.mark_abstentions(p, minimum) for p in predictions]
        if req.top_k is not None:  # per request, after scoring: requests with other top_k share the encoder pass
            predictions = [predictor.keep_top_k(p, req.top_k) for p in predictions]
        # serialized here: FastAPI's jsonable_encoder walks every nested value of a returned dict (a fifth of a request's time)
        return Response(json.dumps({"predictions": predictions}, ensure_ascii=False), media_type="application/json")

    # a plain Starlette route: it reads and checks the body itself, so FastAPI's dependency solving
    # and response encoding (a quarter of a request's time under load) would be work done twice
    app.add_route("/predict", predict, methods=["POST"])
    return app
