"""``mtl-text env``: the report a bug needs, read from this installation and machine."""

import importlib.metadata
import json

import torch

import mtl_text
from mtl_text.cli.env import main as env_main
from mtl_text.utils import environment

from helpers import run_cli


def test_the_report_names_this_installations_versions_and_data_folder(tmp_path, capsys):
    for name in ("sst2", "trec"):
        (tmp_path / name).mkdir()
    status, out, err = run_cli(env_main, ["--json", "--data-dir", str(tmp_path)], capsys)
    report = json.loads(out)
    assert status == 0 and err == ""
    assert report["mtl-text"] == mtl_text.__version__ and report["torch"] == torch.__version__
    assert report["transformers"] == importlib.metadata.version("transformers")
    assert report["data folder"] == f"{tmp_path.resolve()} (from --data-dir), 2 entries: sst2, trec"
    assert report["torch threads"] == str(torch.get_num_threads())
    assert set(environment.PACKAGES) <= set(report) and all(isinstance(v, str) for v in report.values())
    assert report["onnxruntime"] == f"{importlib.metadata.version('onnxruntime')} (for --backend onnx)"  # an extra names its use


def test_a_package_not_installed_and_a_missing_data_folder_are_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(environment.PACKAGES, "no-such-distribution-mtl", "serve")
    monkeypatch.setenv("MTL_TEXT_DATA_DIR", str(tmp_path / "absent"))
    status, out, _ = run_cli(env_main, [], capsys)
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("Copy and paste") and lines[1] == ""
    assert all(line.startswith("- ") for line in lines[2:]), "one Markdown item per field"
    assert "- no-such-distribution-mtl: not installed (for serve)" in lines
    assert f"- data folder: {tmp_path / 'absent'} (from $MTL_TEXT_DATA_DIR): does not exist or is not a folder" in lines
    monkeypatch.delenv("MTL_TEXT_DATA_DIR")
    assert environment.environment_report()["data folder"].startswith("not set")


def test_a_hub_token_is_reported_set_and_never_shown(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    report = environment.environment_report(tmp_path)
    assert "token set" in report["Hugging Face Hub"] and "hf_secretvalue123" not in json.dumps(report)
