"""The dynamic batcher: concurrent requests share predictor calls within the size limit, each gets
its own results in order, different heads or input kinds are scored apart, stop answers what is
queued, and a predictor error reaches every request of its call."""

import asyncio

import pytest

from mtl_text import ConfigError
from mtl_text.serving.batching import DynamicBatcher


class Recorder:
    """A predictor that answers each text with its own words and records every call."""

    def __init__(self, fail_on: str | None = None):
        self.calls = []
        self.fail_on = fail_on

    def __call__(self, texts, tasks, text_pairs):
        self.calls.append((list(texts), tasks, text_pairs))
        if self.fail_on in texts:
            raise ArithmeticError("damaged weights")
        return [{"text": t, "tasks": tasks, "pair": None if text_pairs is None else text_pairs[i]} for i, t in enumerate(texts)]


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_calls_within_the_size_limit():
    recorder = Recorder()

    async def scenario():
        batcher = DynamicBatcher(recorder, max_batch_size=4, max_wait_ms=200)
        await batcher.start()
        requests = [[f"r{i}a", f"r{i}b"] if i % 3 == 0 else [f"r{i}"] for i in range(10)]
        results = await asyncio.gather(*(batcher.submit(texts) for texts in requests))
        await batcher.stop()
        return requests, results, batcher.stats

    requests, results, stats = run(scenario())
    for texts, result in zip(requests, results):
        assert [r["text"] for r in result] == texts
    assert all(len(texts) <= 4 for texts, _, _ in recorder.calls)
    assert sorted(t for texts, _, _ in recorder.calls for t in texts) == sorted(t for r in requests for t in r)
    assert len(recorder.calls) < len(requests)  # 14 texts in 10 requests: at least 4 calls, far fewer than 10
    assert stats.requests == 10 and stats.texts == 14 and stats.batches == len(recorder.calls)


def test_other_heads_and_pairs_are_scored_apart():
    recorder = Recorder()

    async def scenario():
        batcher = DynamicBatcher(recorder, max_batch_size=64, max_wait_ms=200)
        await batcher.start()
        out = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"], tasks=["mood"]), batcher.submit(["c"]),
                                   batcher.submit(["d"], text_pairs=["e"]))
        await batcher.stop()
        return out

    a, b, c, d = run(scenario())
    assert a[0]["tasks"] is None and c[0]["tasks"] is None and b[0]["tasks"] == ["mood"] and d[0]["pair"] == "e"
    assert sorted((tuple(texts), tasks, pairs is not None) for texts, tasks, pairs in recorder.calls) == sorted(
        [(("a", "c"), None, False), (("b",), ["mood"], False), (("d",), None, True)])


def test_a_request_larger_than_the_batch_is_never_split():
    recorder = Recorder()

    async def scenario():
        batcher = DynamicBatcher(recorder, max_batch_size=2, max_wait_ms=50)
        await batcher.start()
        out = await asyncio.gather(batcher.submit(["x"]), batcher.submit(["a", "b", "c"]))
        await batcher.stop()
        return out

    x, abc = run(scenario())
    assert [r["text"] for r in abc] == ["a", "b", "c"] and x[0]["text"] == "x"
    assert (["a", "b", "c"], None, None) in recorder.calls


def test_stop_answers_queued_requests_and_errors_reach_their_callers():
    recorder = Recorder(fail_on="bad")

    async def scenario():
        batcher = DynamicBatcher(recorder, max_batch_size=8, max_wait_ms=1000)
        await batcher.start()
        good = asyncio.create_task(batcher.submit(["good"], tasks=["t"]))
        bad = asyncio.create_task(batcher.submit(["bad"]))
        await asyncio.sleep(0.05)
        await batcher.stop()  # does not wait the full second: stopping closes the batch
        return await good, await asyncio.gather(bad, return_exceptions=True)

    good, (bad,) = run(scenario())
    assert good[0]["text"] == "good"
    assert isinstance(bad, ArithmeticError)


@pytest.mark.parametrize("kwargs, option", [({"max_batch_size": 0}, "--max-batch-size"), ({"max_wait_ms": -1}, "--max-wait-ms")])
def test_bad_settings_raise(kwargs, option):
    with pytest.raises(ConfigError, match=option):
        DynamicBatcher(Recorder(), **kwargs)
