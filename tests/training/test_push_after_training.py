"""``--push-to-hub`` in training: the token is checked before anything trains, the trained folder is
uploaded (the stand-in Hub of tests/helpers.py) and loads back by its Hub id; a failed upload leaves
the model on disk and says how to upload it; a saved run's recipe does not push again."""

import httpx
import huggingface_hub
import pytest
import torch

import mtl_text
from mtl_text import ConfigError, HubUploadError, Predictor, TrainingConfig
from mtl_text.training.config import read_options_file

from helpers import LocalHub, use_local_hub

TEXTS = ["what a charming film", "Who wrote Hamlet ?"]


def small_config(data_dir, out, **options):
    return TrainingConfig.from_options(tasks=["sst2", "trec"], data_dir=str(data_dir), max_train_examples=200, cache_dir="none",
                                       max_steps=20, eval_every=20, batch_size=16, embedding_dim=16, w2v_epochs=1, save_total_limit=0,
                                       output_dir=str(out), seed=3, **options)


def test_the_trained_model_is_pushed_and_loads_by_its_hub_id(data_dir, tmp_path, monkeypatch):
    local_hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: local_hub)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    out = tmp_path / "model"
    result = mtl_text.train(small_config(data_dir, out, push_to_hub="someone/pushed", hub_private=True, hub_license="apache-2.0"))
    commit = local_hub.refs["someone/pushed"]["main"]
    assert result.hub_url == f"https://huggingface.co/someone/pushed/commit/{commit}"
    uploaded = local_hub.files("someone/pushed")
    assert (uploaded / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    card = (uploaded / "README.md").read_text()
    assert "mtl-text predict --model someone/pushed" in card and "\nlicense: apache-2.0\n" in card  # the card names the Hub id
    command = next(line for line in card.splitlines() if line.startswith("mtl-text train"))
    assert "--seed 3" in command and "--push-to-hub" not in command and "--hub-private" not in command  # no upload to copy
    use_local_hub(local_hub, monkeypatch)
    monkeypatch.chdir(tmp_path)
    by_id = Predictor.from_pretrained("someone/pushed").predict_logits(TEXTS, ["sst2"])["sst2"]
    assert torch.equal(by_id, Predictor.from_pretrained(out).predict_logits(TEXTS, ["sst2"])["sst2"])
    recipe = read_options_file(out)  # `--config` from this run trains again, but does not push again
    assert not {"push_to_hub", "hub_private", "hub_license"} & set(recipe) and recipe["seed"] == 3


def test_a_failed_upload_keeps_the_model_and_says_how_to_upload_it(data_dir, tmp_path, monkeypatch):
    class DownHub(LocalHub):
        def upload_folder(self, **kwargs):
            request = httpx.Request("POST", "https://huggingface.co/api/models/someone/pushed/commit/main")
            raise huggingface_hub.errors.HfHubHTTPError("503 Service Unavailable", response=httpx.Response(503, request=request))

    down = DownHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: down)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    out = tmp_path / "model"
    with pytest.raises(HubUploadError, match=rf"503 Service Unavailable.*saved in {out}: upload it with `mtl-text push-to-hub "
                                             rf"--model {out} --repo-id someone/pushed`"):
        mtl_text.train(small_config(data_dir, out, push_to_hub="someone/pushed"))
    assert Predictor.from_pretrained(out).predict(TEXTS, ["trec"])[0]["predictions"]["trec"]["label"]
    assert not (out / ".mtl-text.lock").exists()
    assert "someone/pushed" in down.refs  # the repository was created before training, as transformers' Trainer does


def test_a_token_that_cannot_create_the_repository_stops_before_training(data_dir, tmp_path, monkeypatch):
    class ReadOnlyHub(LocalHub):
        def create_repo(self, repo_id, **kwargs):
            request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
            raise huggingface_hub.errors.HfHubHTTPError("403 Forbidden: you don't have the rights to create a model under the "
                                                        "namespace someone", response=httpx.Response(403, request=request))

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: ReadOnlyHub(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_read_only")
    with pytest.raises(ConfigError, match=r"--push-to-hub someone/pushed: the repository cannot be created or reached with this "
                                          r"token \(HfHubHTTPError: 403 Forbidden.*\(nothing was trained\)"):
        mtl_text.train(small_config(data_dir, tmp_path / "model", push_to_hub="someone/pushed"))
    assert not (tmp_path / "model" / "config.json").exists()


def test_no_token_or_a_bad_repository_id_stops_before_training(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(ConfigError, match=r"--push-to-hub someone/pushed needs a Hugging Face token.*nothing was trained"):
        mtl_text.train(small_config(data_dir, tmp_path / "model", push_to_hub="someone/pushed"))
    assert not (tmp_path / "model" / "config.json").exists()
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE is set, so nothing can be uploaded"):
        mtl_text.train(small_config(data_dir, tmp_path / "model", push_to_hub="someone/pushed"))
    with pytest.raises(ConfigError, match="repository id 'pushed': expected OWNER/NAME or OWNER/NAME@BRANCH"):
        small_config(data_dir, tmp_path / "model", push_to_hub="pushed")
    with pytest.raises(ConfigError, match="--hub-private and --hub-license describe the --push-to-hub upload"):
        small_config(data_dir, tmp_path / "model", hub_license="mit")
    with pytest.raises(ConfigError, match="license 'Apache 2.0': expected a Hugging Face Hub license identifier"):
        small_config(data_dir, tmp_path / "model", push_to_hub="someone/pushed", hub_license="Apache 2.0")
    with pytest.raises(ConfigError, match="--push-to-hub uploads one model; --cv-folds trains one per fold"):
        small_config(data_dir, tmp_path / "model", push_to_hub="someone/pushed", cv_folds=3)
