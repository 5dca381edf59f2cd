"""`mtl-text serve` as a user runs it: a server process on 127.0.0.1, a real HTTP client (httpx).
Every endpoint; answers equal the offline Predictor's; concurrent requests share encoder passes
(the /health counters prove it); every kind of bad request gets a 4xx naming the field and the
server stays up; a model that cannot load stops start-up with one error line; SIGTERM shuts down
cleanly after answering."""

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import torch

from mtl_text import Predictor, UnknownHeadError
from mtl_text.arguments import SelectionArguments
from mtl_text.bench import serving as serving_benchmark
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

from helpers import offline_hub_cache

TEXTS = ["who won the cup ?", "a dull , tedious film that goes on and on", "where is the station ?", "great fun", "the film"]


def start_server(model, *options):
    """``mtl-text serve`` started as the load test starts it (its log in a file beside the model)."""
    log = Path(model).parent / f"server-{len(list(Path(model).parent.glob('server-*.log')))}.log"
    proc, url = serving_benchmark.start_server(str(model), [*options, "--log-level", "info"], log, timeout=120)
    proc.log = log
    return proc, url


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("served") / "model"
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8),
                           {"qtype": {"labels": ["HUM", "LOC"], "max_length": 16},
                            "mood": {"labels": ["neg", "pos"], "max_length": 8},
                            "same": {"labels": ["no", "yes"], "max_length": 16, "text_pair": True}},
                           pooling="mean", head_hidden_size=4)
    model.save_pretrained(directory, tokenizer, {"training_config": {}})
    return directory


@pytest.fixture(scope="module")
def server(model_dir):
    proc, url = start_server(model_dir, "--max-wait-ms", "300", "--max-batch-size", "64", "--max-texts", "8",
                             "--max-text-chars", "500", "--max-body-bytes", "20000")
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def offline(model_dir):
    return Predictor.from_pretrained(model_dir)


def same(served, offline_results):
    """The served results are the offline ones: labels exactly, probabilities to the 6 decimals
    printed (a text batched with others may differ in the last digit: float sums in another order)."""
    expected = json.loads(json.dumps(offline_results))
    assert len(served) == len(expected)
    for got, want in zip(served, expected):
        assert {k: v for k, v in got.items() if k != "predictions"} == {k: v for k, v in want.items() if k != "predictions"}
        assert got["predictions"].keys() == want["predictions"].keys()
        for task, prediction in got["predictions"].items():
            assert prediction["label"] == want["predictions"][task]["label"]
            assert prediction["probabilities"] == pytest.approx(want["predictions"][task]["probabilities"], abs=2e-6)
    return True


def test_health_and_metadata(server):
    health = httpx.get(server + "/health").json()
    assert health["status"] == "ok" and {"requests", "batches", "encoder_passes", "queued"} <= set(health)
    meta = httpx.get(server + "/metadata").json()
    assert meta["tasks"]["mood"] == {"problem_type": "single_label_classification", "labels": ["neg", "pos"], "max_length": 8,
                                      "text_pair": False}
    assert meta["tasks"]["same"]["text_pair"] is True
    assert meta["encoder"]["type"] == "word_vectors"
    assert meta["limits"]["max_texts"] == 8 and meta["batching"]["max_wait_ms"] == 300


def test_predict_equals_the_offline_predictor(server, offline):
    texts = TEXTS + ["", "on and on and on and on and on and on and on and on the cup the film"]  # padding, an empty text, truncation
    texts = texts[:8]
    response = httpx.post(server + "/predict", json={"texts": texts})
    assert response.status_code == 200
    assert same(response.json()["predictions"], offline.predict(texts))
    one_head = httpx.post(server + "/predict", json={"texts": texts[:2], "tasks": ["mood"]}).json()["predictions"]
    assert same(one_head, offline.predict(texts[:2], ["mood"])) and set(one_head[0]["predictions"]) == {"mood"}
    pairs = httpx.post(server + "/predict", json={"texts": ["the film"], "text_pairs": ["great fun"]}).json()["predictions"]
    assert same(pairs, offline.predict(["the film"], text_pairs=["great fun"]))


def test_top_k_cuts_each_requests_probabilities(server, offline):
    """Requests with and without top_k batched together: each gets its own form."""
    with ThreadPoolExecutor(2) as pool:
        cut, whole = pool.map(lambda body: httpx.post(server + "/predict", json=body, timeout=60).json()["predictions"],
                              [{"texts": TEXTS[:3], "top_k": 1}, {"texts": TEXTS[:3]}])
    assert same(whole, offline.predict(TEXTS[:3]))
    assert cut == [offline.keep_top_k(r, 1) for r in whole]
    assert all(list(p["probabilities"]) == [p["label"]] for r in cut for p in r["predictions"].values())
    response = httpx.post(server + "/predict", json={"texts": ["a"], "top_k": 0})
    assert response.status_code == 422 and "top_k" in response.json()["detail"]


def test_min_confidence_marks_each_requests_abstentions(server, offline):
    """Requests with and without a minimum confidence batched together: each single-label output of the
    first says whether it abstains, by its label's probability as printed; the second is as always."""
    confidences = [p["probabilities"][p["label"]] for r in offline.predict(TEXTS[:4]) for p in r["predictions"].values()]
    minimum = sorted(confidences)[len(confidences) // 2]  # about half abstain
    with ThreadPoolExecutor(2) as pool:
        marked, whole = pool.map(lambda body: httpx.post(server + "/predict", json=body, timeout=60).json()["predictions"],
                                 [{"texts": TEXTS[:4], "min_confidence": minimum}, {"texts": TEXTS[:4]}])
    assert same(whole, offline.predict(TEXTS[:4])) and not any("abstain" in p for r in whole for p in r["predictions"].values())
    assert marked == [offline.mark_abstentions(r, minimum) for r in whole]
    flags = [p["abstain"] for r in marked for p in r["predictions"].values()]
    assert flags == [p["probabilities"][p["label"]] < minimum for r in marked for p in r["predictions"].values()]
    assert any(flags) and not all(flags)
    for bad in (0, 1.5, "0.9", {"mood": 0}, {"mood": "0.9"}, {"nope": 0.5}, {"same": 0.5}):
        response = httpx.post(server + "/predict", json={"texts": ["a"], "min_confidence": bad})
        assert response.status_code == 422 and "min_confidence" in response.json()["detail"], (bad, response.text)
    detail = lambda bad: httpx.post(server + "/predict", json={"texts": ["a"], "min_confidence": bad}).json()["detail"]  # noqa: E731
    assert detail({"mood": 0}) == "min_confidence.mood: Input should be greater than 0"
    assert detail("0.9") == "min_confidence: Input should be a valid number, or a valid dictionary"
    assert "not among the tasks scored" in detail({"same": 0.5})  # a pair task, for single texts
    # a minimum per task: only the heads named, "*" for the others
    per_task = httpx.post(server + "/predict", json={"texts": TEXTS[:4], "min_confidence": {"mood": minimum}}).json()["predictions"]
    assert per_task == [{**r, "predictions": {**r["predictions"], "mood": m["predictions"]["mood"]}} for r, m in zip(whole, marked)]
    assert not any("abstain" in r["predictions"]["qtype"] for r in per_task)
    mixed = httpx.post(server + "/predict", json={"texts": TEXTS[:4], "min_confidence": {"*": minimum, "mood": 1}}).json()["predictions"]
    assert [r["predictions"]["qtype"] for r in mixed] == [r["predictions"]["qtype"] for r in marked]
    assert [r["predictions"]["mood"]["abstain"] for r in mixed] == [r["predictions"]["mood"]["probabilities"][r["predictions"]["mood"]["label"]] < 1
                                                                    for r in mixed]


def test_concurrent_requests_share_encoder_passes(server, offline):
    before = httpx.get(server + "/health").json()
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda text: httpx.post(server + "/predict", json={"texts": [text]}, timeout=60), TEXTS * 3))
    after = httpx.get(server + "/health").json()
    for text, response in zip(TEXTS * 3, responses):
        assert same(response.json()["predictions"], offline.predict([text]))
    assert after["requests"] - before["requests"] == 15
    assert after["encoder_passes"] - before["encoder_passes"] < 15  # one pass per request without batching
    assert after["batches"] - before["batches"] < 15


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 422, "expected a JSON object"),
    (b'{"texts": "one text"}', 422, "texts"),
    (b'{"texts": ["fine", 3]}', 422, "texts[1]"),
    (b'{"texts": []}', 422, "texts"),
    (b'{"text": ["fine"]}', 422, "text: unknown field"),
    (b'{"texts": ["fine"], "tasks": ["nope"]}', 422, "tasks: "),
    (b'{"texts": ["fine"], "tasks": ["same"]}', 422, "sentence pairs"),
    (b'{"texts": ["a", "b"], "text_pairs": ["c"]}', 422, "text_pairs: 1 second texts for 2 texts"),
    (json.dumps({"texts": ["a"] * 9}).encode(), 422, "over the limit of 8"),
    (json.dumps({"texts": ["a", "x" * 501]}).encode(), 422, "texts[1]: 501 characters"),
    (json.dumps({"texts": ["x" * 400] * 60}).encode(), 413, "--max-body-bytes"),
])
def test_bad_requests_get_4xx_naming_the_field(server, body, status, message):
    response = httpx.post(server + "/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert httpx.get(server + "/health").status_code == 200


def test_a_model_that_fails_to_load_stops_start_up(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mtl_text", "serve", "--model", str(tmp_path / "missing"), "--port",
                           str(serving_benchmark.free_port())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "missing" in proc.stderr


def test_sigterm_shuts_down_gracefully(model_dir):
    """A request in flight when SIGTERM arrives is still answered; the queue is drained; the process
    ends (uvicorn re-raises the signal after its shutdown, so the status is 0 or -SIGTERM)."""
    proc, url = start_server(model_dir, "--max-wait-ms", "1500")
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(httpx.post, url + "/predict", json={"texts": ["great fun"]}, timeout=60)
        time.sleep(0.5)  # the request waits in the batcher for 1.5 s
        proc.send_signal(signal.SIGTERM)
        response = in_flight.result()
    proc.wait(timeout=60)
    output = proc.log.read_text()
    assert response.status_code == 200 and response.json()["predictions"][0]["text"] == "great fun"
    assert proc.returncode in (0, -signal.SIGTERM), output[-3000:]
    assert "shut down after 1 requests" in output and "Application shutdown complete" in output


def test_an_ensemble_serves_the_mean_of_its_members(model_dir, tmp_path):
    """``--ensemble-with``: the answers are the offline Ensemble's (not the first model's alone), only
    the tasks every member has with the same head are served, each request runs every member's
    encoder, and /metadata lists the members."""
    from mtl_text import Ensemble

    tokenizer = train_word_tokenizer(TEXTS + ["a new word"], min_frequency=1)  # another vocabulary
    torch.manual_seed(1)
    other = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 6),
                           {"mood": {"labels": ["neg", "pos"], "max_length": 8}, "qtype": {"labels": ["HUM", "LOC"], "max_length": 16},
                            "topic": {"labels": ["a", "b", "c"], "max_length": 16}}, pooling="mean", head_hidden_size=4)
    other.save_pretrained(tmp_path / "other", tokenizer, {"training_config": {}})
    proc, url = start_server(model_dir, "--ensemble-with", str(tmp_path / "other"))
    try:
        ensemble, first = Ensemble.from_pretrained([model_dir, tmp_path / "other"]), Predictor.from_pretrained(model_dir)
        served = httpx.post(url + "/predict", json={"texts": TEXTS}).json()["predictions"]
        assert same(served, ensemble.predict(TEXTS)) and set(served[0]["predictions"]) == {"qtype", "mood"}
        assert any(s["predictions"]["mood"]["probabilities"] != pytest.approx(f["predictions"]["mood"]["probabilities"], abs=1e-3)
                   for s, f in zip(served, first.predict(TEXTS, ["mood"])))
        for task in ("topic", "same"):  # one member lacks it
            response = httpx.post(url + "/predict", json={"texts": ["great fun"], "tasks": [task]})
            assert response.status_code == 422 and task in response.json()["detail"]
        health = httpx.get(url + "/health").json()
        assert health["encoder_passes"] == 2 * health["batches"]
        meta = httpx.get(url + "/metadata").json()
        assert set(meta["tasks"]) == {"qtype", "mood"}
        assert [m["model"] for m in meta["ensemble"]["members"]] == [str(model_dir), str(tmp_path / "other")]
        assert set(meta["ensemble"]["members"][1]["tasks"]) == {"mood", "qtype", "topic"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_hub_id_is_served_and_its_metadata_names_the_commit(model_dir, tmp_path, monkeypatch):
    """``--model OWNER/NAME``: the model downloaded (here: huggingface_hub offline, from its cache)
    answers as its folder does, and /metadata names the commit it came from."""
    from fastapi.testclient import TestClient

    from mtl_text.cli.serve import SETTINGS_ENV, ServeArguments, app_from_environment, build_app, worker_settings
    from mtl_text.serving.app import BatchingArguments, ServerLimits

    commit = "3" * 40
    offline_hub_cache(tmp_path / "cache", "someone/served", {commit: model_dir}, {"main": commit}, monkeypatch)
    monkeypatch.chdir(tmp_path)  # no folder someone/ here: the id goes to the Hub
    args, limits, batching = ServeArguments(model="someone/served"), ServerLimits(), BatchingArguments()
    selection = SelectionArguments(task_min_confidence=["mood=0.6"])  # a minimum for requests that give none: mood's only
    app = build_app(args, limits, batching, selection)
    with TestClient(app) as client:
        meta = client.get("/metadata").json()
        served = client.post("/predict", json={"texts": TEXTS}).json()["predictions"]
        own = client.post("/predict", json={"texts": TEXTS, "min_confidence": {"qtype": 0.6}}).json()["predictions"]
    assert meta["model"] == "someone/served" and meta["hub_commit"] == commit and meta["min_confidence"] == {"mood": 0.6}
    offline = Predictor.from_pretrained(model_dir)
    assert same(served, offline.predict(TEXTS, min_confidence={"mood": 0.6}))
    assert [r["predictions"]["mood"]["abstain"] for r in served] == [offline.mark_abstentions(r, 0.6)["predictions"]["mood"]["abstain"]
                                                                    for r in served]
    assert all("abstain" not in r["predictions"]["qtype"] for r in served)
    assert all("abstain" in r["predictions"]["qtype"] and "abstain" not in r["predictions"]["mood"] for r in own)  # replaced whole
    with pytest.raises(UnknownHeadError, match="a minimum confidence for nope"):  # refused before the port would open
        build_app(args, limits, batching, SelectionArguments(task_min_confidence=["nope=0.5"]))
    settings = worker_settings(args, limits, batching, selection, app.state.metadata)  # --workers 2: each worker loads the parent's commit
    assert settings["serve"]["model"] == f"someone/served@{commit}" and settings["names"] == ["someone/served"]
    monkeypatch.setenv(SETTINGS_ENV, json.dumps(settings))
    with TestClient(app_from_environment()) as client:
        assert client.get("/metadata").json() == meta

