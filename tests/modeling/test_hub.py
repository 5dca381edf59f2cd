"""A model folder as a Hugging Face Hub repository: the model card renders the tasks, the test table
and a training command that parses back to the same configuration; pushing uploads the model (not
checkpoints); loading by Hub id downloads only the files config.json lists and predicts exactly as
the original. The Hub is a local folder here: huggingface_hub's upload and download functions are
replaced at their boundary (no network in tests)."""

import fnmatch
import json
import shutil
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

TEXTS = ["who won the cup ?", "a dull , tedious film", "where is the station ?", "great fun"]
TRAINING = TrainingConfig.from_options(tasks=["trec", "sst2"], seed=7, learning_rate=0.003, max_length=["trec=32"],
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


def test_the_model_card_renders_metadata_tasks_metrics_and_the_command(folder):
    hub.write_model_card(folder)
    meta, body = hub.read_model_card(folder)
    assert meta["library_name"] == "mtl-text" and meta["pipeline_tag"] == "text-classification"
    assert meta["metrics"] == ["accuracy", "macro_f1"]
    assert "| trec | single_label_classification | HUM, LOC | texts | 32 |" in body.splitlines()
    table = [line for line in body.splitlines() if line.startswith("| sst2 |") and "0.8245" in line]
    assert table == ["| sst2 | 0.8245 | 0.8244 |"]
    command = next(line for line in body.splitlines() if line.startswith("mtl-text train"))
    assert "--tasks trec sst2" in command and "--seed 7" in command and "--group-by-length" in command
    reparsed, _ = parse_config(command.split()[2:])
    assert reparsed.to_dict() == TRAINING.to_dict()
    assert "`mtl-text train --config card-model --seed N --output-dir NEW`" in body
    from_folder, _ = parse_config(["--config", str(folder), "--output-dir", "runs/card"])
    assert from_folder.to_dict() == TRAINING.to_dict()


class LocalHub:
    """The Hub as a folder: HfApi's create_repo / upload_folder and the download functions."""

    def __init__(self, root: Path):
        self.root = root
        self.downloaded: list[str] = []

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type="model"):
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)

    def upload_folder(self, repo_id, folder_path, commit_message, repo_type, ignore_patterns):
        for path in Path(folder_path).rglob("*"):
            name = path.relative_to(folder_path).as_posix()
            if path.is_file() and not any(fnmatch.fnmatch(name, p) for p in ignore_patterns):
                (self.root / repo_id / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, self.root / repo_id / name)
        return f"https://huggingface.co/{repo_id}/commit/local"

    def hf_hub_download(self, repo_id, filename, revision=None, token=None):
        if not (self.root / repo_id / filename).is_file():
            raise huggingface_hub.errors.EntryNotFoundError(f"404: {repo_id}/{filename}")
        self.downloaded.append(filename)
        return str(self.root / repo_id / filename)

    def snapshot_download(self, repo_id, revision=None, token=None, allow_patterns=None):
        local = self.root.parent / "cache" / repo_id
        for path in (self.root / repo_id).rglob("*"):
            name = path.relative_to(self.root / repo_id).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                self.downloaded.append(name)
                (local / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, local / name)
        return str(local)


def test_push_then_load_by_hub_id_predicts_the_same(folder, tmp_path, monkeypatch):
    local_hub = LocalHub(tmp_path / "hub")
    url = hub.push_to_hub(folder, "someone/card-model", api=local_hub)
    assert url.endswith("/commit/local")
    uploaded = {p.relative_to(local_hub.root / "someone/card-model").as_posix() for p in (local_hub.root / "someone/card-model").rglob("*")}
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= uploaded and not any("checkpoints" in u for u in uploaded)
    (local_hub.root / "someone/card-model" / "extra.pkl").write_bytes(b"never fetched")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", local_hub.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", local_hub.snapshot_download)
    monkeypatch.chdir(tmp_path)  # no folder named someone/card-model here: the id goes to the Hub
    by_id = Predictor.from_pretrained("someone/card-model")
    assert "extra.pkl" not in local_hub.downloaded
    original = Predictor.from_pretrained(folder)
    for task in ("trec", "sst2"):
        assert torch.equal(by_id.predict_logits(TEXTS, [task])[task], original.predict_logits(TEXTS, [task])[task])


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
    pushed = (local_hub.root / "someone/card-model/README.md").read_text()
    for line in ("# someone/card-model", "mtl-text predict --model someone/card-model \"some text\"",
                 "predictor = Predictor.from_pretrained(\"someone/card-model\")  # a folder or a Hub id"):
        assert line in pushed.splitlines()
    assert "`mtl-text train --config someone/card-model --seed N --output-dir NEW`" in pushed
    hub.push_to_hub(folder, "someone/card-model-2", api=local_hub)  # pushed again elsewhere: still mtl-text's card
    assert "mtl-text predict --model someone/card-model-2 \"some text\"" in (local_hub.root / "someone/card-model-2/README.md").read_text()
    edited = (folder / "README.md").read_text().replace("## Tasks", "Trained for the demo.\n\n## Tasks")
    (folder / "README.md").write_text(edited)
    hub.push_to_hub(folder, "someone/card-model-3", api=local_hub)  # a card edited by hand goes up as it is
    assert (local_hub.root / "someone/card-model-3/README.md").read_text() == edited
