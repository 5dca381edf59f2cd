"""A model folder as a Hugging Face Hub repository: the model card renders the tasks, the test table
and a training command that parses back to the same configuration; pushing uploads the model (not
checkpoints); loading by Hub id downloads only the files config.json lists and predicts exactly as
the original. The Hub is a local folder here: huggingface_hub's upload and download functions are
replaced at their boundary (no network in tests)."""

import json
from pathlib import Path

import huggingface_hub
import pytest
import torch

from mtl_text import ConfigError, ModelLoadError, Predictor
from mtl_text.cli.train import parse_config
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling import hub
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.config import TrainingConfig

from helpers import LocalHub, offline_hub_cache, tiny_bert, use_local_hub

TEXTS = ["who won the cup ?", "a dull , tedious film", "where is the station ?", "great fun"]
TRAINING = TrainingConfig.from_options(tasks=["trec", "sst2"], seed=7, learning_rate=0.003, max_length=["trec=32"],
                                       output_dir="runs/card", group_by_length=True)
RETRAINED = TrainingConfig.from_options(tasks=["trec", "sst2"], seed=8, learning_rate=0.003, max_length=["trec=32"],
                                        output_dir="runs/card", group_by_length=True)


@pytest.fixture
def folder(tmp_path):
    directory = tmp_path / "card-model"
    tokenizer = train_word_tokenizer(TEXTS, min_frequency=1)
    torch.manual_seed(0)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8),
                           {"trec": {"labels": ["HUM", "LOC"], "max_length": 32}, "sst2": {"labels": ["negative", "positive"], "max_length": 64}},
                           pooling="mean", head_hidden_size=4)
    model.save_pretrained(directory, tokenizer, {"training_config": TRAINING.to_dict()})
    results = {"steps": 120, "metrics": {"trec": {"accuracy": 0.875, "macro_f1": 0.8123}, "sst2": {"accuracy": 0.8245, "macro_f1": 0.8244}}}
    (directory / "test_results.json").write_text(json.dumps(results))
    (directory / "checkpoints").mkdir()
    (directory / "checkpoints" / "state.bin").write_bytes(b"not for the hub")
    return directory


@pytest.fixture
def second_version(folder, tmp_path):
    """The model of ``folder`` trained again: the same architecture, other weights, seed 8."""
    from mtl_text.inference.prediction import load_tokenizer

    model = MultiTaskModel.from_pretrained(folder)
    with torch.no_grad():
        for parameter in model.heads["sst2"].parameters():
            parameter.add_(0.5)
    directory = tmp_path / "card-model-v2"
    model.save_pretrained(directory, load_tokenizer(folder), {"training_config": RETRAINED.to_dict()})
    return directory


def sst2_logits(predictor) -> torch.Tensor:
    return predictor.predict_logits(TEXTS, ["sst2"])["sst2"]


def test_the_model_card_renders_metadata_tasks_metrics_and_the_command(folder):
    hub.write_model_card(folder)
    meta, body = hub.read_model_card(folder)
    assert meta["library_name"] == "mtl-text" and meta["pipeline_tag"] == "text-classification"
    assert meta["metrics"] == ["accuracy", "macro_f1"]
    assert "| trec | single_label_classification | HUM, LOC | texts | 32 |" in body.splitlines()
    table = [line for line in body.splitlines() if line.startswith("| sst2 |") and "0.8245" in line]
    assert table == ["| sst2 | 0.8245 | 0.8244 |"]
    assert "## Selective prediction" not in body  # its test results hold no risk-coverage reports
    command = next(line for line in body.splitlines() if line.startswith("mtl-text train"))
    assert "--tasks trec sst2" in command and "--seed 7" in command and "--group-by-length" in command
    reparsed, _ = parse_config(command.split()[2:])
    assert reparsed.to_dict() == TRAINING.to_dict()
    results = {r["dataset"]["name"]: {m["type"]: m["value"] for m in r["metrics"]} for r in meta["model-index"][0]["results"]}
    assert meta["model-index"][0]["name"] == "card-model"  # the Hub shows these on the model's page
    assert results == {"trec": {"accuracy": 0.875, "macro_f1": 0.8123}, "sst2": {"accuracy": 0.8245, "macro_f1": 0.8244}}
    text = (folder / "README.md").read_text()
    assert text.splitlines()[-1].startswith("<!-- written by mtl-text; sha256 of the card above this line: ")
    assert hub.card_is_unedited(text, folder)
    assert not hub.card_is_unedited(text.replace("library_name:", "license: mit\nlibrary_name:"), folder)  # an edit of the metadata
    assert not hub.card_is_unedited(text.replace("## Tasks", "Mine.\n\n## Tasks"), folder)
    assert "`mtl-text train --config card-model --seed N --output-dir NEW`" in body
    from_folder, _ = parse_config(["--config", str(folder), "--output-dir", "runs/card"])
    assert from_folder.to_dict() == TRAINING.to_dict()


def test_the_card_names_the_hub_datasets_of_the_test_splits(folder):
    results = json.loads((folder / "test_results.json").read_text())
    results["datasets"] = {"sst2": {"path": "nyu-mll/glue", "name": "sst2", "split": "validation", "revision": "bcdcba7"},
                           "trec": {"path": "/data/trec", "split": "test"}}  # a local folder: not a Hub dataset to list
    (folder / "test_results.json").write_text(json.dumps(results))
    hub.write_model_card(folder)
    meta, body = hub.read_model_card(folder)
    assert meta["datasets"] == ["nyu-mll/glue"]  # the Hub lists the model under the dataset
    data = {r["dataset"]["name"]: r["dataset"] for r in meta["model-index"][0]["results"]}
    assert data == {"sst2": {"name": "sst2", "type": "nyu-mll/glue", "config": "sst2", "split": "validation", "revision": "bcdcba7"},
                    "trec": {"name": "trec", "type": "/data/trec", "split": "test"}}
    assert "- sst2: [nyu-mll/glue](https://huggingface.co/datasets/nyu-mll/glue) `sst2`, split `validation`, revision `bcdcba7`" in body.splitlines()
    assert "- trec: `/data/trec`, split `test`" in body.splitlines()
    assert hub.card_is_unedited((folder / "README.md").read_text(), folder)


def test_push_then_load_by_hub_id_predicts_the_same(folder, tmp_path, monkeypatch):
    local_hub = LocalHub(tmp_path / "hub")
    url = hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    assert url == f"https://huggingface.co/someone/card-model/commit/{local_hub.refs['someone/card-model']['main']}"
    uploaded = {p.relative_to(local_hub.files("someone/card-model")).as_posix() for p in local_hub.files("someone/card-model").rglob("*")}
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= uploaded and not any("checkpoints" in u for u in uploaded)
    (local_hub.files("someone/card-model") / "extra.pkl").write_bytes(b"never fetched")

    use_local_hub(local_hub, monkeypatch)
    monkeypatch.chdir(tmp_path)  # no folder named someone/card-model here: the id goes to the Hub
    by_id = Predictor.from_pretrained("someone/card-model")
    assert "extra.pkl" not in local_hub.downloaded
    original = Predictor.from_pretrained(folder)
    for task in ("trec", "sst2"):
        assert torch.equal(by_id.predict_logits(TEXTS, [task])[task], original.predict_logits(TEXTS, [task])[task])


def test_a_private_model_loads_with_a_token_everywhere_a_model_is_named(folder, tmp_path, monkeypatch, capsys):
    from mtl_text import Ensemble
    from mtl_text.cli import predict
    from mtl_text.cli.serve import ServeArguments
    from mtl_text.inference.onnx import export_onnx

    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    hub.push_to_hub(folder, "someone/private", api=local_hub)
    local_hub.private["someone/private"] = "hf_secret"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="someone/private: no such model folder here, and not downloadable"):
        Predictor.from_pretrained("someone/private")  # no token: the Hub says "not found"
    original = Predictor.from_pretrained(folder).predict_logits(TEXTS, ["sst2"])["sst2"]
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/private", token="hf_secret")), original)
    by_id, local = MultiTaskModel.from_pretrained("someone/private", token="hf_secret").state_dict(), MultiTaskModel.from_pretrained(folder).state_dict()
    assert by_id.keys() == local.keys() and all(torch.equal(by_id[k], local[k]) for k in local)
    assert torch.allclose(sst2_logits(Ensemble.from_pretrained([str(folder), "someone/private"], token="hf_secret")), original)
    local_hub.tokens.clear()
    assert predict.main(["--model", "someone/private", "--token", "hf_secret", "--tasks", "sst2", "--", "great fun"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"]["sst2"]["label"] in ("negative", "positive")
    assert set(local_hub.tokens) == {"hf_secret"}  # config.json and the snapshot, both with the token
    with pytest.raises(ModelLoadError, match="not downloadable"):
        export_onnx("someone/private", tmp_path / "onnx", token="wrong")
    assert "hf_secret" not in repr(ServeArguments(model="someone/private", token="hf_secret"))  # not in logs of the options


def test_the_card_of_a_pair_model_shows_pairs_and_its_command_runs(tmp_path, python):
    import subprocess

    tokenizer = train_word_tokenizer(["a man plays the guitar", "first text", "second text"], min_frequency=1)
    model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8),
                           {"same": {"labels": ["no", "yes"], "max_length": 16, "text_pair": True}}, pooling="mean", head_hidden_size=4)
    model.save_pretrained(tmp_path / "pairs", tokenizer, {"training_config": {}})
    hub.write_model_card(tmp_path / "pairs")
    _, body = hub.read_model_card(tmp_path / "pairs")
    assert '"some text"' not in body  # no single-text example for a model of pair tasks alone
    assert 'predictor.predict(["first text"], text_pairs=["second text"])' in body.splitlines()
    command = next(line for line in body.splitlines() if line.startswith("printf"))
    command = command.replace("mtl-text predict", f"{python} -m mtl_text predict")
    out = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["text_pair"] == "second text"


def test_a_license_given_once_stays_in_the_card(folder, tmp_path, caplog):
    local_hub = LocalHub(tmp_path / "hub")
    hub.push_to_hub(folder, "someone/licensed", api=local_hub, license="cc-by-4.0")
    assert hub.read_model_card(folder)[0]["license"] == "cc-by-4.0"
    hub.push_to_hub(folder, "someone/licensed", api=local_hub)  # the next upload keeps it
    assert "\nlicense: cc-by-4.0\n" in (local_hub.files("someone/licensed") / "README.md").read_text()
    hub.push_to_hub(folder, "someone/licensed", api=local_hub, license="mit")  # or changes it
    assert hub.read_model_card(folder)[0]["license"] == "mit"
    edited = (folder / "README.md").read_text().replace("## Tasks", "Mine.\n\n## Tasks")
    (folder / "README.md").write_text(edited)
    hub.push_to_hub(folder, "someone/licensed", api=local_hub, license="apache-2.0")  # a card edited by hand is not rewritten
    assert (folder / "README.md").read_text() == edited and "without license 'apache-2.0'" in caplog.text
    with pytest.raises(ConfigError, match="license 'MIT License'"):
        hub.push_to_hub(folder, "someone/licensed", api=local_hub, license="MIT License")


def test_a_missing_folder_that_is_no_hub_id_fails_fast(tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="is not a folder"):
        MultiTaskModel.from_pretrained(tmp_path / "missing")
    assert hub.resolve_model(tmp_path / "missing") == tmp_path / "missing"  # an absolute path never goes to the Hub
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelLoadError, match="runs/typo is not a folder"):  # its parent exists here: a local typo, not a Hub id
        MultiTaskModel.from_pretrained("runs/typo")


def test_config_takes_a_hub_id_and_downloads_config_json_alone(folder, tmp_path, monkeypatch):
    local_hub = LocalHub(tmp_path / "hub")
    hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", local_hub.hf_hub_download)
    monkeypatch.chdir(tmp_path)  # no folder named someone/card-model here: the id goes to the Hub
    by_id, _ = parse_config(["--config", "someone/card-model", "--output-dir", "runs/card"])
    assert by_id.to_dict() == TRAINING.to_dict()
    assert local_hub.downloaded == ["config.json"]  # the recipe, not the weights
    with pytest.raises(ConfigError, match=r"^someone/missing: no such file or folder here, and no config.json to download"):
        parse_config(["--config", "someone/missing"])
    (tmp_path / "someone").mkdir()  # now someone/... is a local path: a typo there is an unreadable file, not a Hub id
    with pytest.raises(ConfigError, match=r"^someone/card-model: cannot read the options file"):
        parse_config(["--config", "someone/card-model"])


def test_the_pushed_card_calls_the_model_by_its_hub_id_unless_edited(folder, tmp_path):
    hub.write_model_card(folder)  # as training writes it: the folder's name
    assert "mtl-text predict --model card-model " in (folder / "README.md").read_text()
    local_hub = LocalHub(tmp_path / "hub")
    hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    pushed = (local_hub.files("someone/card-model") / "README.md").read_text()
    for line in ("# someone/card-model", "mtl-text predict --model someone/card-model \"some text\"",
                 "predictor = Predictor.from_pretrained(\"someone/card-model\")  # a folder or a Hub id"):
        assert line in pushed.splitlines()
    assert "`mtl-text train --config someone/card-model --seed N --output-dir NEW`" in pushed
    hub.push_to_hub(folder, "someone/card-model-2", api=local_hub)  # pushed again elsewhere: still mtl-text's card
    assert "mtl-text predict --model someone/card-model-2 \"some text\"" in (local_hub.files("someone/card-model-2") / "README.md").read_text()
    edited = (folder / "README.md").read_text().replace("## Tasks", "Trained for the demo.\n\n## Tasks")
    (folder / "README.md").write_text(edited)
    hub.push_to_hub(folder, "someone/card-model-3", api=local_hub)  # a card edited by hand goes up as it is
    assert (local_hub.files("someone/card-model-3") / "README.md").read_text() == edited


def test_a_revision_pins_a_commit_or_a_branch(folder, second_version, tmp_path, monkeypatch):
    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    first = hub.push_to_hub(folder, "someone/card-model", api=local_hub).rsplit("/", 1)[1]  # the URL ends in the commit hash
    hub.push_to_hub(second_version, "someone/card-model", api=local_hub)  # main moves on
    hub.push_to_hub(folder, "someone/card-model@v1", api=local_hub)  # a branch, created from main
    monkeypatch.chdir(tmp_path)
    v1, v2 = sst2_logits(Predictor.from_pretrained(folder)), sst2_logits(Predictor.from_pretrained(second_version))
    assert not torch.equal(v1, v2)
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model")), v2)  # no revision: main, the last push
    assert torch.equal(sst2_logits(Predictor.from_pretrained(f"someone/card-model@{first}")), v1)  # a commit
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model", revision=first)), v1)  # the same from Python
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model@v1")), v1)  # a branch
    assert hub.hub_commit(hub.resolve_model(f"someone/card-model@{first}")) == first
    branch_card = (local_hub.files("someone/card-model", "v1") / "README.md").read_text().splitlines()
    assert "mtl-text predict --model someone/card-model@v1 \"some text\"" in branch_card
    assert "mtl-text predict --model someone/card-model \"some text\"" in (local_hub.files("someone/card-model") / "README.md").read_text()
    recipe, _ = parse_config(["--config", f"someone/card-model@{first}", "--output-dir", "runs/card"])
    assert recipe.to_dict() == TRAINING.to_dict()  # the recipe of that commit, not main's (seed 8)
    assert parse_config(["--config", "someone/card-model", "--output-dir", "runs/card"])[0].to_dict() == RETRAINED.to_dict()
    with pytest.raises(ModelLoadError, match=r"^someone/card-model@v9: no such model folder here, and not downloadable from the "
                                             r"Hugging Face Hub \(RevisionNotFoundError: "):
        Predictor.from_pretrained("someone/card-model@v9")
    with pytest.raises(ConfigError, match=r"^someone/card-model@v1: the revision is given twice, 'v1' after '@' and revision='main'$"):
        Predictor.from_pretrained("someone/card-model@v1", revision="main")
    with pytest.raises(ConfigError, match=r"^someone/card-model@: no revision after '@'"):
        MultiTaskModel.from_pretrained("someone/card-model@")
    with pytest.raises(ConfigError, match=r"^revision 'v1': .*card-model names a path here, not a Hugging Face Hub id"):
        MultiTaskModel.from_pretrained(folder, revision="v1")
    with pytest.raises(ConfigError, match=r"^repository id 'someone/card-model@': expected OWNER/NAME or OWNER/NAME@BRANCH"):
        hub.push_to_hub(folder, "someone/card-model@", api=local_hub)


def test_the_files_come_from_the_commit_that_config_json_came_from(folder, second_version, tmp_path, monkeypatch):
    """A push between the download of config.json and that of the other files does not mix two versions."""
    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    hub.push_to_hub(folder, "someone/card-model", api=local_hub)

    def download_then_push(*args, **kwargs):
        path = local_hub.hf_hub_download(*args, **kwargs)
        hub.push_to_hub(second_version, "someone/card-model", api=local_hub)  # someone else pushes meanwhile
        return path

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download_then_push)
    monkeypatch.chdir(tmp_path)
    loaded = Predictor.from_pretrained("someone/card-model")  # the weights' hashes are checked against config.json's
    assert torch.equal(sst2_logits(loaded), sst2_logits(Predictor.from_pretrained(folder)))


def test_hub_ids_with_and_without_an_owner_and_a_revision(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hub.hub_reference("someone/model@refs/pr/3") == ("someone/model", "refs/pr/3")
    assert hub.hub_reference("someone/model", revision="v2") == ("someone/model", "v2")
    assert hub.hub_reference("gpt2@6c0e608", owner=False) == ("gpt2", "6c0e608")  # transformers' models may have no owner
    assert not hub.is_hub_id("gpt2") and hub.is_hub_id("gpt2", owner=False)
    (tmp_path / "runs@2").mkdir()
    assert hub.hub_reference("runs@2", owner=False) == ("runs@2", None)  # a folder here keeps its '@'
    assert hub.resolve_model("runs@2") == Path("runs@2")



def test_the_card_names_a_transformer_from_the_hub_as_its_base_model(shared_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from mtl_text.modeling.encoders import TransformerEncoder

    monkeypatch.chdir(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(str(shared_dir / "models" / "all-MiniLM-L6-v2"))
    for source, base_model in [("someone/bert@v2", "someone/bert"), ("gpt2", "gpt2"), (str(shared_dir / "models" / "all-MiniLM-L6-v2"), None)]:
        encoder = TransformerEncoder(tiny_bert(vocab_size=tokenizer.vocab_size), source=source)
        model = MultiTaskModel(encoder, {"sst2": {"labels": ["negative", "positive"], "max_length": 16}}, pooling="mean", head_hidden_size=4)
        model.save_pretrained(tmp_path / "model", tokenizer)
        meta, body = hub.read_model_card(hub.write_model_card(tmp_path / "model").parent)
        assert meta.get("base_model") == base_model, source
        assert f"the transformer `{source}`" in body


def test_the_real_huggingface_hub_offline_reads_branches_and_commits_from_its_cache(folder, second_version, tmp_path, monkeypatch):
    """Not the stand-in above: huggingface_hub itself, offline, on a cache laid out as it writes one
    (refs/<branch> holds a commit hash, snapshots/<commit hash>/ the files)."""
    commits = {"first": "1" * 40, "second": "2" * 40}
    offline_hub_cache(tmp_path / "cache", "someone/card-model", {commits["first"]: folder, commits["second"]: second_version},
                      {"main": commits["second"], "v1": commits["first"]}, monkeypatch)
    monkeypatch.chdir(tmp_path)
    for name, commit in [("someone/card-model", commits["second"]), ("someone/card-model@v1", commits["first"]),
                         (f"someone/card-model@{commits['first']}", commits["first"])]:
        assert hub.hub_commit(hub.resolve_model(name)) == commit, name
    v1 = sst2_logits(Predictor.from_pretrained(folder))
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model@v1")), v1)
    assert not torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model")), v1)
    with pytest.raises(ModelLoadError, match=r"^someone/card-model@v9: no such model folder here, and not downloadable"):
        hub.resolve_model("someone/card-model@v9")


def test_a_pull_request_leaves_main_alone_and_reads_as_its_ref(folder, second_version, tmp_path, monkeypatch):
    local_hub = use_local_hub(LocalHub(tmp_path / "hub"), monkeypatch)
    hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    url = hub.push_to_hub(second_version, "someone/card-model", api=local_hub, create_pr=True)
    assert url == "https://huggingface.co/someone/card-model/discussions/1"
    monkeypatch.chdir(tmp_path)
    v1, v2 = sst2_logits(Predictor.from_pretrained(folder)), sst2_logits(Predictor.from_pretrained(second_version))
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model")), v1)  # main: not merged
    assert torch.equal(sst2_logits(Predictor.from_pretrained("someone/card-model@refs/pr/1")), v2)  # a revision holding '/'
    card = (local_hub.files("someone/card-model", "refs/pr/1") / "README.md").read_text()
    assert "mtl-text predict --model someone/card-model \"some text\"" in card  # the name it will have once merged


def test_the_push_to_hub_command_prints_the_commit_or_the_pull_request(folder, tmp_path, monkeypatch, capsys):
    from mtl_text.cli.hub import main

    local_hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: local_hub)
    assert main(["--model", str(folder), "--repo-id", "someone/card-model@dev"]) == 0
    commit = local_hub.refs["someone/card-model"]["dev"]
    assert capsys.readouterr().out.strip() == f"https://huggingface.co/someone/card-model/commit/{commit}"
    assert local_hub.refs["someone/card-model"]["main"] != commit  # the branch, not main
    assert main(["--model", str(folder), "--repo-id", "someone/card-model@dev", "--create-pr"]) == 0
    assert capsys.readouterr().out.strip() == "https://huggingface.co/someone/card-model/discussions/1"
    assert local_hub.refs["someone/card-model"]["dev"] == commit  # the branch waits for the merge


def test_a_card_as_mtl_text_0_3_9_wrote_it_is_written_again_for_the_hub_id(folder, tmp_path):
    """Cards had no stamp before 0.3.10: one exactly as 0.3.9 rendered it (card-0.3.9.md, for this
    fixture's folder) still counts as mtl-text's and is replaced at push; edited, it goes up as it is."""
    old = (Path(__file__).parent / "card-0.3.9.md").read_text()
    (folder / "README.md").write_text(old)
    assert hub.card_is_unedited(old, folder)
    local_hub = LocalHub(tmp_path / "hub")
    hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    pushed = (local_hub.files("someone/card-model") / "README.md").read_text()
    assert "mtl-text predict --model someone/card-model \"some text\"" in pushed and "model-index:" in pushed
    edited = old.replace("## Training", "Trained for the demo.\n\n## Training")
    (folder / "README.md").write_text(edited)
    hub.push_to_hub(folder, "someone/card-model-2", api=local_hub)
    assert (local_hub.files("someone/card-model-2") / "README.md").read_text() == edited

