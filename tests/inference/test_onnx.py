"""ONNX export: for both encoder families (the word-vector model with a wide part per task and the
attention, hierarchical and cnn poolings (max inside cnn); the transformer with mean pooling), every head's logits from
ONNX Runtime equal PyTorch's within 1e-4 (fp32) on a batch with padding and an empty text, single
texts and pairs; an int8 export loads and keeps the outputs' shape; a changed graph or a folder
without an export is refused; an export is evaluated, compared with its PyTorch weights and its
accuracy estimated on unlabelled texts through ONNX Runtime, as the PyTorch model is."""

import json

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from mtl_text import ConfigError, ModelLoadError, Predictor
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.inference.onnx import export_onnx
from mtl_text.modeling.encoders import TransformerEncoder, WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

pytest.importorskip("onnxruntime")

TEXTS = ["who won the cup ?", "a dull , tedious film that goes on and on and on", "", "great fun", "the film"]
PAIRS = ["a man plays the guitar", "", "the cup", "nobody won", "fun"]
TASKS = {"qtype": {"labels": ["HUM", "LOC", "NUM"], "max_length": 16},
         "mood": {"labels": ["neg", "pos"], "max_length": 12},
         "same": {"labels": ["no", "yes"], "max_length": 24, "text_pair": True}}
TEXT_TASKS = {name: task for name, task in TASKS.items() if not task.get("text_pair")}  # one graph to export


def word_vector_model(directory, tasks=TASKS):
    tokenizer = train_word_tokenizer(TEXTS + PAIRS, min_frequency=1)
    torch.manual_seed(0)
    pooling = {"qtype": "attention", "mood": "hierarchical", "same": "cnn"}
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8, conv_filters=3, conv_widths=[2, 3]), tasks,
                           pooling={t: pooling[t] for t in tasks}, head_hidden_size=4, wide_buckets=512)
    encoded = tokenizer(TEXTS, PAIRS, return_token_type_ids=True)
    for name, wide in model.wide.items():  # a fitted IDF and weights the size of the deep part's logits
        wide.fit_idf(encoded["input_ids"], encoded["token_type_ids"] if tasks[name].get("text_pair") else None)
        with torch.no_grad():
            wide.weight.weight.normal_()
    model.save_pretrained(directory, tokenizer, {"training_config": {}})


def transformer_model(directory, tokenizer_dir, tasks=TASKS):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64))
    model = MultiTaskModel(TransformerEncoder(bert), tasks, pooling="mean", head_hidden_size=8)
    model.save_pretrained(directory, tokenizer, {"training_config": {}})


def build_model(family, directory, shared_dir, tasks=TASKS):
    if family == "word_vectors":
        word_vector_model(directory, tasks)
    else:
        transformer_model(directory, shared_dir / "models" / "all-MiniLM-L6-v2", tasks)


@pytest.fixture(scope="module", params=["word_vectors", "transformer"])
def exported(request, tmp_path_factory, shared_dir):
    root = tmp_path_factory.mktemp(request.param)
    build_model(request.param, root / "model", shared_dir)
    export_onnx(root / "model", root / "onnx")
    return root


def test_every_head_matches_pytorch_on_padding_and_an_empty_text(exported):
    torch_predictor = Predictor.from_pretrained(exported / "model", batch_size=8)
    onnx_predictor = Predictor.from_pretrained(exported / "onnx", batch_size=8, backend="onnx")
    for kwargs in ({"tasks": ["qtype", "mood"]}, {"tasks": ["same"], "text_pairs": PAIRS}):
        expected = torch_predictor.predict_logits(TEXTS, **kwargs)
        got = onnx_predictor.predict_logits(TEXTS, **kwargs)
        for task in kwargs["tasks"]:
            assert got[task].shape == expected[task].shape
            assert (got[task] - expected[task]).abs().max() <= 1e-4, task
    assert [r["predictions"]["mood"]["label"] for r in onnx_predictor.predict(TEXTS, ["mood"])] == \
           [r["predictions"]["mood"]["label"] for r in torch_predictor.predict(TEXTS, ["mood"])]
    graphs = json.loads((exported / "onnx" / "onnx.json").read_text())["graphs"]
    assert graphs["texts"]["tasks"] == ["qtype", "mood"] and graphs["pairs"]["inputs"][-1] == "token_type_ids"


def test_no_graph_adds_by_scatter(exported):
    """ONNX Runtime's ScatterND and ScatterElements with reduction="add" race on repeated indices
    across threads (microsoft/onnxruntime#18048): a wide part exported with them gave logits off by
    up to 11 on a few 20 Newsgroups posts in a batch, run to run. No graph may hold one."""
    import onnx

    def reductions(graph):
        for node in graph.node:
            if node.op_type.startswith("Scatter"):
                yield node.op_type, next((a.s.decode() for a in node.attribute if a.name == "reduction"), "none")
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    yield from reductions(attribute.g)

    for file in ("model.onnx", "model_pairs.onnx"):
        model = onnx.load(str(exported / "onnx" / file))
        found = [r for graph in [model.graph, *model.functions] for r in reductions(graph) if r[1] != "none"]
        assert found == [], file


@pytest.mark.parametrize("family", ["word_vectors", "transformer"])
def test_int8_export_loads_and_scores(family, shared_dir, tmp_path):
    """A model of single-text tasks: one graph to trace and quantize (each graph is quantized alike)."""
    build_model(family, tmp_path / "model", shared_dir, TEXT_TASKS)
    export_onnx(tmp_path / "model", tmp_path / "int8", quantize=True)
    assert json.loads((tmp_path / "int8" / "onnx.json").read_text())["quantized"] is True
    assert not (tmp_path / "int8" / "model_pairs.onnx").exists()
    logits = Predictor.from_pretrained(tmp_path / "int8", backend="onnx").predict_logits(TEXTS, ["qtype"])["qtype"]
    assert logits.shape == (len(TEXTS), 3) and torch.isfinite(logits).all()


def test_a_changed_graph_or_no_export_is_refused(exported, tmp_path):
    with pytest.raises(ModelLoadError, match="onnx.json is missing"):
        Predictor.from_pretrained(exported / "model", backend="onnx")
    import shutil

    shutil.copytree(exported / "onnx", tmp_path / "copy")
    with open(tmp_path / "copy" / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelLoadError, match="SHA-256"):
        Predictor.from_pretrained(tmp_path / "copy", backend="onnx")
    with pytest.raises(ConfigError, match="holds a model already"):
        export_onnx(exported / "model", exported / "onnx")


def test_an_export_pushed_to_the_hub_runs_by_its_hub_id(exported, tmp_path, monkeypatch):
    """``--backend onnx`` with a Hub id downloads the graphs and their onnx.json (the PyTorch backend
    does not: only the files config.json lists)."""
    from mtl_text.modeling import hub

    from helpers import LocalHub, use_local_hub

    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    folder = tmp_path / "onnx"
    import shutil

    shutil.copytree(exported / "onnx", folder)  # push_to_hub writes a card into the folder
    hub.push_to_hub(folder, "someone/model-onnx", api=local_hub)
    monkeypatch.chdir(tmp_path)
    local = Predictor.from_pretrained(folder, backend="onnx").predict_logits(TEXTS, ["qtype"])["qtype"]
    assert torch.equal(Predictor.from_pretrained("someone/model-onnx", backend="onnx").predict_logits(TEXTS, ["qtype"])["qtype"], local)
    assert "onnx.json" in local_hub.downloaded and "model.onnx" in local_hub.downloaded
    local_hub.downloaded.clear()
    Predictor.from_pretrained("someone/model-onnx@main")  # the PyTorch backend leaves the graphs on the Hub
    assert not any(name.endswith("onnx") or name == "onnx.json" for name in local_hub.downloaded)
    card = (local_hub.files("someone/model-onnx") / "README.md").read_text()
    assert "mtl-text predict --model someone/model-onnx --backend onnx" in card and "\n- onnx\n" in card


def test_an_exports_card_names_the_onnx_backend_keeps_fp32_results_only_and_an_edited_card_stays(tmp_path):
    from mtl_text.modeling import hub

    model = tmp_path / "model"  # one small head: the card does not depend on the graph (the export tests above cover those)
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), {"mood": TASKS["mood"]}, pooling="mean",
                   head_hidden_size=4).save_pretrained(model, tokenizer, {"training_config": {}})
    (model / "test_results.json").write_text(json.dumps({"steps": 3, "metrics": {"mood": {"accuracy": 0.75}}}))
    hub.write_model_card(model, license="mit")
    assert "--backend onnx" not in (model / "README.md").read_text()
    export_onnx(model, tmp_path / "fp32")
    export_onnx(model, tmp_path / "int8", quantize=True)
    for folder, results in (("fp32", True), ("int8", False)):  # int8's logits differ: the fp32 test results are not its own
        card = (tmp_path / folder / "README.md").read_text()
        assert f"mtl-text predict --model {folder} --backend onnx" in card and "\n- onnx\n" in card, folder
        assert ("model-index" in card) == results and "license: mit" in card, folder
        assert (f"mtl-text evaluate --model {folder} --backend onnx" in card) != results, folder  # how to score int8 graphs
        assert hub.card_is_unedited(card, tmp_path / folder)
    edited = (model / "README.md").read_text().replace("# model", "# my own title")
    (model / "README.md").write_text(edited)
    export_onnx(model, tmp_path / "edited")
    assert (tmp_path / "edited" / "README.md").read_text() == edited


def test_lora_adapters_saved_apart_export_whole_and_run_without_their_base(tiny_bert_dir, tmp_path):
    import shutil

    pytest.importorskip("peft")
    from mtl_text.modeling.hub import write_model_card

    base = tmp_path / "base"
    shutil.copytree(tiny_bert_dir, base)
    encoder = TransformerEncoder.from_pretrained(str(base))
    encoder.add_lora(4, save_adapters=True)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in encoder.adapter_state_dict().values():
            p.normal_(std=0.5)
    model = MultiTaskModel(encoder, TASKS, pooling="mean", head_hidden_size=8).eval()
    model.save_pretrained(tmp_path / "adapters", AutoTokenizer.from_pretrained(base), {"training_config": {}})
    write_model_card(tmp_path / "adapters")
    assert "holds LoRA adapters" in (tmp_path / "adapters" / "README.md").read_text()
    expected = Predictor.from_pretrained(tmp_path / "adapters", batch_size=8).predict_logits(TEXTS, tasks=["qtype", "mood"])
    export_onnx(tmp_path / "adapters", tmp_path / "onnx")
    shutil.rmtree(base)  # the export holds the merged transformer: no base model needed

    config = json.loads((tmp_path / "onnx" / "config.json").read_text())
    assert "lora" not in config["encoder"] and config["training_config"] == {}
    assert "holds LoRA adapters" not in (tmp_path / "onnx" / "README.md").read_text()
    got = Predictor.from_pretrained(tmp_path / "onnx", batch_size=8, backend="onnx").predict_logits(TEXTS, tasks=["qtype", "mood"])
    assert all((got[t] - expected[t]).abs().max() <= 1e-4 for t in ("qtype", "mood"))
    with pytest.raises(ModelLoadError, match="encoder.lora.base_model: cannot load"):  # the adapters alone do need it
        MultiTaskModel.from_pretrained(tmp_path / "adapters")


@pytest.fixture(scope="module")
def trec_export(tmp_path_factory, data_dir):
    """A word-vector model trained briefly on TREC (wide part and SVM included) and its fp32 export."""
    from mtl_text.cli.train import main as train_main

    root = tmp_path_factory.mktemp("trec-export")
    train_main(["--tasks", "trec", "--data-dir", str(data_dir), "--max-train-examples", "400", "--max-steps", "30", "--embedding-dim", "16",
                "--w2v-epochs", "1", "--seed", "3", "--patience", "0", "--save-total-limit", "0", "--output-dir", str(root / "model")])
    export_onnx(root / "model", root / "onnx")
    return root


@pytest.fixture
def texts_run(monkeypatch):
    """The number of texts of each batch ONNX Runtime runs (a spy on ``OnnxRunner.__call__``)."""
    from mtl_text.inference.onnx import OnnxRunner

    batches, run = [], OnnxRunner.__call__
    monkeypatch.setattr(OnnxRunner, "__call__", lambda self, input_ids, *a, **k: batches.append(len(input_ids)) or run(self, input_ids, *a, **k))
    return batches


def test_an_export_is_evaluated_by_onnx_runtime_as_pytorch_scores_the_model(trec_export, data_dir, capsys, texts_run):
    """evaluate --backend onnx: the export's own figures (its graphs run: the folder also holds the
    PyTorch weights), the same as the PyTorch model's on the test split (fp32) and on a carved
    validation split, for one model and for an ensemble of two."""
    from mtl_text import load_task_splits
    from mtl_text.cli.evaluate import main as evaluate_main
    from mtl_text.inference.evaluation import evaluate_ensemble, evaluate_model

    from helpers import run_cli

    expected = {}
    for split in ("test", "validation"):
        torch_predictions, onnx_predictions = {}, {}
        expected[split] = evaluate_model(trec_export / "model", split=split, data_dir=str(data_dir), predictions=torch_predictions)["trec"]
        got = evaluate_model(trec_export / "onnx", split=split, data_dir=str(data_dir), predictions=onnx_predictions, backend="onnx")["trec"]
        assert got["examples"] == expected[split]["examples"] == len(load_task_splits("trec", data_dir, seed=3)[split])  # the run's seed
        assert sum(texts_run) == got["examples"]
        texts_run.clear()
        assert onnx_predictions == torch_predictions
        assert {k: got[k] for k in ("accuracy", "macro_f1")} == {k: expected[split][k] for k in ("accuracy", "macro_f1")}
        assert got["loss"] == pytest.approx(expected[split]["loss"], rel=1e-4) and got["ece"] == pytest.approx(expected[split]["ece"], abs=1e-4)
    ensemble = evaluate_ensemble([trec_export / "onnx", trec_export / "onnx"], data_dir=str(data_dir), backend="onnx")["trec"]
    assert ensemble["accuracy"] == expected["test"]["accuracy"]  # the mean of one model's logits twice
    status, out, err = run_cli(evaluate_main, ["--model", str(trec_export / "onnx"), "--backend", "onnx", "--data-dir", str(data_dir)], capsys)
    assert status == 0, err
    [row] = [line for line in out.splitlines() if line.startswith("| trec |")]
    assert row.startswith(f"| trec | {expected['test']['accuracy']:.4f} |")


def test_the_onnx_backend_needs_an_export_and_one_process(trec_export, data_dir, capsys, monkeypatch):
    from mtl_text.cli.evaluate import main as evaluate_main
    from mtl_text.inference.evaluation import evaluate_ensemble, evaluate_model

    from helpers import run_cli

    status, _, err = run_cli(evaluate_main, ["--model", str(trec_export / "model"), "--backend", "onnx", "--data-dir", str(data_dir)], capsys)
    assert status == 2 and err == f"error: {trec_export / 'model'} is not an ONNX export: onnx.json is missing (write one with mtl-text export-onnx)\n"
    with pytest.raises(ConfigError, match="--backend must be torch or onnx, got 'tf'"):  # not scored by PyTorch silently
        evaluate_model(trec_export / "onnx", data_dir=str(data_dir), backend="tf")
    monkeypatch.setenv("WORLD_SIZE", "2")  # one of a launcher's processes: each would score every example and print the same figures
    for score in (lambda: evaluate_model(trec_export / "onnx", data_dir=str(data_dir), backend="onnx"),
                  lambda: evaluate_ensemble([trec_export / "model", trec_export / "model"], data_dir=str(data_dir))):
        with pytest.raises(ConfigError, match=r"a predictor scores in one process .* but this is one of 2 \(WORLD_SIZE\)"):
            score()


def test_compare_scores_each_side_by_its_backend_and_one_folder_under_both(trec_export, data_dir, capsys, monkeypatch, texts_run):
    """compare --backend onnx --baseline-backend torch: an export's graphs (A) against the PyTorch
    weights in the same folder (B). ONNX Runtime runs A's test questions only, and an fp32 export ties
    its model exactly; the same folder under one backend twice is still refused."""
    from mtl_text import compare_models
    from mtl_text.cli.compare import main as compare_main

    from helpers import run_cli

    export = trec_export / "onnx"
    c = compare_models([export], [export], data_dir=str(data_dir), backend="onnx", baseline_backend="torch")["trec"]
    assert sum(texts_run) == c.examples == 500  # A's graphs only; B is the PyTorch model
    assert c.model_scores == c.baseline_scores and (c.difference.delta, c.difference.low, c.difference.high) == (0, 0, 0)
    assert c.verdict == "tie" and c.mcnemar is not None and (c.model_backend, c.baseline_backend) == ("onnx", "torch")
    args = ["--model", str(export), "--backend", "onnx", "--baseline", str(trec_export / "model"), "--data-dir", str(data_dir), "--resamples", "50"]
    status, _, err = run_cli(compare_main, args, capsys)
    assert status == 2 and "model is not an ONNX export: onnx.json is missing" in err  # B's backend defaults to --backend's
    status, out, err = run_cli(compare_main, [*args, "--baseline-backend", "torch"], capsys)
    assert status == 0, err
    assert out.startswith(f"{export} [onnx] (model) against {trec_export / 'model'} (baseline), one run each")
    assert f"| trec | accuracy | {c.model_scores[0]:.4f} | {c.model_scores[0]:.4f} |" in out
    status, _, err = run_cli(compare_main, ["--model", str(export), "--baseline", str(export), "--baseline-backend", "torch",
                                            "--data-dir", str(data_dir)], capsys)
    assert status == 2 and err.startswith("error: a model is named twice in --model and --baseline")
    with pytest.raises(ConfigError, match="--baseline-backend must be torch or onnx, got 'tf'"):
        compare_models([export], [trec_export / "model"], data_dir=str(data_dir), baseline_backend="tf")
    monkeypatch.setattr("mtl_text.inference.evaluation.evaluate_model", lambda *a, **k: pytest.fail("a side was scored"))
    with pytest.raises(ModelLoadError, match="model is not an ONNX export"):  # an ensemble's every member runs its export
        compare_models([export], [export], data_dir=str(data_dir), backend="onnx", baseline_backend="torch",
                       ensemble_with=[trec_export / "model"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="a predictor scores in one process"):  # before the PyTorch side is scored
        compare_models([trec_export / "model"], [export], data_dir=str(data_dir), baseline_backend="onnx")


def test_an_exports_accuracy_is_estimated_from_its_own_confidences(trec_export, data_dir, capsys, tmp_path, texts_run):
    """evaluate --estimate-on --backend onnx: the validation split and the unlabelled texts both run
    through the export's graphs; for an fp32 export the estimates are the PyTorch model's."""
    from mtl_text import load_task_splits, load_test_split
    from mtl_text.cli.evaluate import main as evaluate_main
    from mtl_text.data.splits import column
    from mtl_text.transfer.estimation import estimate_model_accuracy

    from helpers import run_cli

    texts = column(load_test_split("trec", data_dir), "text")[:200]
    expected = estimate_model_accuracy(trec_export / "model", texts, data_dir=str(data_dir))["trec"]
    assert not texts_run
    got = estimate_model_accuracy(trec_export / "onnx", texts, data_dir=str(data_dir), backend="onnx")["trec"]
    assert sum(texts_run) == len(load_task_splits("trec", data_dir, seed=3)["validation"]) + 200  # the run's validation split, then the texts
    assert got == pytest.approx(expected, abs=1e-4)
    path = tmp_path / "questions.txt"
    path.write_text("".join(t + "\n" for t in texts))
    status, out, err = run_cli(evaluate_main, ["--model", str(trec_export / "onnx"), "--backend", "onnx", "--estimate-on", str(path),
                                               "--data-dir", str(data_dir)], capsys)
    assert status == 0, err
    assert "(200 texts)" in out and f"| trec | {got['source_accuracy']:.4f} | {got['atc']:.4f} | {got['doc']:.4f} |" in out
