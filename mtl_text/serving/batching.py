"""Dynamic batching: concurrent prediction requests gathered into one call of the predictor, so that
one encoder pass serves many clients (the idea of TorchServe's ``batch_size`` / ``max_batch_delay``
and Triton's dynamic batcher).

A batch opens with the oldest waiting request and closes when it holds ``max_batch_size`` texts or
``max_wait_ms`` milliseconds have passed since it opened, whichever comes first; a request is never
split, so a batch holds more than ``max_batch_size`` texts only when one request alone does. While a
batch is scored, new requests wait in the queue, so under load the next batch fills at once and the
wait costs nothing. Requests of one batch that ask for different heads, or send pairs beside single
texts, are scored in separate predictor calls (one per kind), each answered exactly as if it had
come alone. The predictor runs in one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import ConfigError

logger = logging.getLogger("mtl_text.serve")

# predict(texts, tasks, text_pairs) -> one result per text (Predictor.predict)
PredictFn = Callable[[list[str], "list[str] | None", "list[str] | None"], list[dict]]


@dataclass
class _Request:
    texts: list[str]
    text_pairs: list[str] | None
    tasks: tuple[str, ...] | None
    future: asyncio.Future = field(repr=False)

    @property
    def kind(self) -> tuple:
        """Requests of the same kind are scored in one predictor call."""
        return self.text_pairs is not None, self.tasks


@dataclass
class BatchingStats:
    """Counters since start: requests answered, texts scored, predictor calls (``batches``)."""
    requests: int = 0
    texts: int = 0
    batches: int = 0


class DynamicBatcher:
    """Gathers concurrent requests into predictor calls (see the module's text).

    Args:
        predict: ``predict(texts, tasks, text_pairs) -> list of results``, one per text, in order
            (e.g. :meth:`mtl_text.Predictor.predict`). Called in a worker thread.
        max_batch_size: a batch closes once it holds this many texts (>= 1).
        max_wait_ms: ... or this many milliseconds after it opened (>= 0; 0: no waiting, a batch
            holds what was already queued).

    Raises:
        ConfigError: a limit out of range.

    Use :meth:`start` and :meth:`stop` from the event loop that calls :meth:`submit`.
    """

    def __init__(self, predict: PredictFn, max_batch_size: int = 64, max_wait_ms: float = 0.0):
        if not isinstance(max_batch_size, int) or max_batch_size < 1:
            raise ConfigError(f"--max-batch-size must be an integer >= 1, got {max_batch_size!r}")
        if not max_wait_ms >= 0:
            raise ConfigError(f"--max-wait-ms must be >= 0, got {max_wait_ms!r}")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.stats = BatchingStats()
        self._queue: asyncio.Queue[_Request | None] | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def queued(self) -> int:
        """Requests waiting for a batch."""
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtl-text-predict")
        self._worker = asyncio.create_task(self._run(), name="mtl-text-batcher")

    async def stop(self) -> None:
        """Answer every request already queued, then stop."""
        if self._worker is None:
            return
        await self._queue.put(None)
        await self._worker
        self._executor.shutdown(wait=True)
        self._worker = None

    async def submit(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                     text_pairs: Sequence[str] | None = None) -> list[dict]:
        """Score ``texts`` (and ``text_pairs``) with ``tasks`` in the next batch; the results of
        ``predict`` for these texts, in order. Exceptions of ``predict`` are raised here.

        Raises:
            RuntimeError: the batcher is not started.
        """
        if self._worker is None:
            raise RuntimeError("DynamicBatcher.submit before start()")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(list(texts), None if text_pairs is None else list(text_pairs),
                                       None if tasks is None else tuple(tasks), future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        carried: _Request | None = None
        stopping = False
        while not stopping or carried is not None:
            first = carried or await self._queue.get()
            carried = None
            if first is None:
                break
            batch, size = [first], len(first.texts)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                try:
                    request = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0 or stopping:
                        break
                    try:
                        request = await asyncio.wait_for(self._queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if request is None:
                    stopping = True  # answer what is gathered, then stop
                    continue
                if size + len(request.texts) > self.max_batch_size:
                    carried = request  # opens the next batch
                    break
                batch.append(request)
                size += len(request.texts)
            await self._score(loop, batch)

    async def _score(self, loop: asyncio.AbstractEventLoop, batch: list[_Request]) -> None:
        kinds: dict[tuple, list[_Request]] = defaultdict(list)
        for request in batch:
            if not request.future.done():  # a client that went away is not scored
                kinds[request.kind].append(request)
        for (pairs, tasks), requests in kinds.items():
            texts = [t for r in requests for t in r.texts]
            text_pairs = [t for r in requests for t in r.text_pairs] if pairs else None
            try:
                results = await loop.run_in_executor(self._executor, self.predict, texts, None if tasks is None else list(tasks), text_pairs)
            except Exception as e:  # a model fault: every request of the call gets it
                logger.exception("prediction failed for a batch of %d texts", len(texts))
                for r in requests:
                    if not r.future.done():
                        r.future.set_exception(e)
                continue
            self.stats.batches += 1
            start = 0
            for r in requests:
                if not r.future.done():
                    r.future.set_result(results[start:start + len(r.texts)])
                self.stats.requests += 1
                self.stats.texts += len(r.texts)
                start += len(r.texts)
