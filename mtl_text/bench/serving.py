"""Load test of ``mtl-text serve`` against the offline :class:`~mtl_text.Predictor`, in one run
(``python scripts/benchmark_serving.py --help``).

1. **Offline**: the model's ``Predictor.predict`` (the same JSON results the server returns) over a
   task's test texts in batches, at the server's largest batch and at 256 texts, repeated for at
   least ``--offline-seconds`` (:func:`mtl_text.bench.speed.measure`).
2. **Server**: ``mtl-text serve`` started as a child process on 127.0.0.1; for each number of
   concurrent clients, that many asyncio clients (aiohttp, one connection each) send requests of
   ``--texts-per-request`` test texts back to back, each waiting for its answer, for
   ``--seconds`` seconds or ``--max-requests`` requests, whichever comes first. Throughput is texts
   answered per second; latency is each request's round trip, 50th / 99th percentile. The server's
   ``/health`` counters before and after give the mean number of texts per encoder pass, which
   shows the dynamic batching at work.

Clients and server share the machine's cores, so on a small machine the clients' own work lowers
the server's figures; the results name the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arguments import Arguments, NonNegativeFloat, PositiveFloat, PositiveInt, data_dir_option
from ..errors import ConfigError


@dataclass
class ServingBenchmarkArguments(Arguments):
    model: str = field(metadata={"help": "the model folder to serve (e.g. runs/quickstart)"})
    task: str = field(default="sst2", metadata={"help": "the task whose test texts the clients send (single texts)"})
    data_dir: str | None = data_dir_option()
    clients: list[PositiveInt] = field(default_factory=lambda: [1, 8, 64], metadata={"help": "numbers of concurrent clients, one level each"})
    seconds: PositiveFloat = field(default=15.0, metadata={"help": "how long each level runs"})
    max_requests: PositiveInt = field(default=200_000, metadata={"help": "at most this many requests per level"})
    texts_per_request: PositiveInt = field(default=1, metadata={"help": "texts in each request"})
    offline_seconds: NonNegativeFloat = field(default=5.0, metadata={
        "help": "offline throughput: score passes over the texts until this many seconds have gone by"})
    server_args: str = field(default="", metadata={"help": "more options for mtl-text serve, one string (e.g. '--max-wait-ms 2')"})
    output_dir: str = field(default="benchmarks/serving", metadata={"help": "where results.json and results.md go"})

    def __post_init__(self):
        super().__post_init__()
        if not self.clients:  # each number's range is its type's (PositiveInt); a list may still be empty
            raise ConfigError("--clients must be a non-empty list of integers >= 1, got []")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, options: list[str], log: Path, timeout: float = 300.0) -> tuple[subprocess.Popen, str]:
    """``mtl-text serve`` in a child process, once ``/health`` answers.

    Raises:
        RuntimeError: the server exited or did not answer within ``timeout`` seconds (its log is named).
    """
    import urllib.error
    import urllib.request

    port = free_port()
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "mtl_text", "serve", "--model", model, "--port", str(port),
                                 "--log-level", "warning", *options], stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mtl-text serve exited with status {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"mtl-text serve did not answer in {timeout:.0f} s; see {log}")


async def load_level(url: str, texts: list[str], clients: int, seconds: float, max_requests: int, per_request: int) -> dict:
    """``clients`` concurrent clients against ``url``/predict (see the module's text). The clients
    are aiohttp's: httpx's connection pool, tried first, served 64 concurrent clients at a sixth of
    its rate for 8 (96 against 610 requests/s to ``/health`` on this project's 2-core machine)."""
    import aiohttp

    batches = itertools.cycle([texts[i:i + per_request] for i in range(0, len(texts) - per_request + 1, per_request)])
    latencies: list[float] = []
    errors = 0
    sent = 0

    async def client(http: aiohttp.ClientSession, deadline: float) -> None:
        nonlocal errors, sent
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            body = {"texts": next(batches)}
            t0 = time.perf_counter()
            async with http.post(url + "/predict", json=body) as response:
                await response.read()
                latencies.append(time.perf_counter() - t0)
                if response.status != 200:
                    errors += 1

    async def get_json(http: aiohttp.ClientSession, path: str) -> dict:
        async with http.get(url + path) as response:
            return await response.json()

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        async with http.post(url + "/predict", json={"texts": texts[:per_request]}) as response:  # warm-up
            await response.read()
        before = await get_json(http, "/health")
        start = time.perf_counter()
        await asyncio.gather(*(client(http, start + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - start
        after = await get_json(http, "/health")
    passes = after["encoder_passes"] - before["encoder_passes"]
    answered = len(latencies) - errors
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": elapsed,
            "texts_per_second": answered * per_request / elapsed, "latency_ms_p50": float(np.percentile(latencies, 50) * 1000),
            "latency_ms_p99": float(np.percentile(latencies, 99) * 1000), "encoder_passes": passes,
            "texts_per_encoder_pass": (after["texts"] - before["texts"]) / passes if passes else None}


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Load test of mtl-text serve (1, 8, 64 concurrent clients by default) against the offline Predictor, one run."""
    from ..cli.parsing import ArgumentParser
    from ..data.splits import column, load_test_split
    from ..data.tasks import get_task
    from ..inference.prediction import Predictor
    from ..utils.allocator import tune_malloc
    from .benchmark import machine_description
    from .experiments import write_results
    from .speed import measure

    (args,), _ = ArgumentParser(ServingBenchmarkArguments, prog=prog or "python scripts/benchmark_serving.py",
                                description=main.__doc__).parse(argv)
    task = get_task(args.task)
    if task.text_pair:
        raise ConfigError(f"--task {args.task} takes sentence pairs; the load test sends single texts")
    texts = column(load_test_split(task, args.data_dir), "text")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    server_options = shlex.split(args.server_args)

    tune_malloc()
    from ..serving.app import BatchingArguments

    server_batch = BatchingArguments().max_batch_size
    if "--max-batch-size" in server_options:
        server_batch = int(server_options[server_options.index("--max-batch-size") + 1])
    predictor = Predictor.from_pretrained(args.model, batch_size=server_batch)
    offline = {}
    for batch in sorted({server_batch, 256}):
        predictor.batch_size = batch
        offline[batch] = measure(predictor.predict, texts, batch_size=batch, min_seconds=args.offline_seconds, latency_texts=100)
        print(f"offline Predictor, batches of {batch}: {offline[batch]['texts_per_second']:,.0f} texts/s", flush=True)
    del predictor

    proc, url = start_server(args.model, server_options, Path(tempfile.mkdtemp(prefix="mtl-text-serve-")) / "server.log")
    try:
        levels = []
        for clients in args.clients:
            level = asyncio.run(load_level(url, texts, clients, args.seconds, args.max_requests, args.texts_per_request))
            levels.append(level)
            print(f"{clients} clients: {level['texts_per_second']:,.0f} texts/s, p50 {level['latency_ms_p50']:.1f} ms, "
                  f"p99 {level['latency_ms_p99']:.1f} ms, {level['texts_per_encoder_pass'] or 0:.1f} texts per encoder pass, "
                  f"{level['errors']} errors", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    reference = offline[server_batch]["texts_per_second"]
    command = "python scripts/benchmark_serving.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = [f"Machine: {machine_description()}. Command: `{command}`. Clients and server on the same machine; "
             f"{args.texts_per_request} text(s) per request, {args.seconds:g} s per level, texts from the {args.task} test split.", "",
             "| offline Predictor, batch | texts/s |", "|---:|---:|"]
    lines += [f"| {b} | {r['texts_per_second']:,.0f} |" for b, r in offline.items()]
    lines += ["", f"| concurrent clients | requests | texts/s | of offline (batch {server_batch}) | latency p50 / p99 (ms) | "
              "texts per encoder pass | errors |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {lv['clients']} | {lv['requests']:,} | {lv['texts_per_second']:,.0f} | {lv['texts_per_second'] / reference:.0%} | "
              f"{lv['latency_ms_p50']:.1f} / {lv['latency_ms_p99']:.1f} | {lv['texts_per_encoder_pass'] or 0:.1f} | {lv['errors']} |"
              for lv in levels]
    write_results(out, {"machine": machine_description(), "command": command, "arguments": args.to_dict(),
                        "offline": {str(b): r for b, r in offline.items()}, "levels": levels}, "\n".join(lines) + "\n")
    return 0 if all(lv["errors"] == 0 for lv in levels) else 1
