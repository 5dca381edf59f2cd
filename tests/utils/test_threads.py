"""OpenMP's wait policy for prediction (mtl_text.utils.threads): PASSIVE for a word-vector model, set
before torch loads, never over the user's own choice."""

import json
import os
import subprocess
import sys

import pytest

from mtl_text.utils.threads import WORD_VECTORS, openmp_wait_policy_for, saved_encoder_type


def model_folder(path, encoder_type):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"encoder": {"type": encoder_type}}))
    return path


def test_the_encoder_type_named_here_is_the_word_vector_encoders():
    from mtl_text.modeling.encoders import WordVectorEncoder

    assert WORD_VECTORS == WordVectorEncoder.type_name


def test_passive_for_a_word_vector_model_only_and_never_over_the_user(tmp_path, monkeypatch):
    words, transformer = model_folder(tmp_path / "w", "word_vectors"), model_folder(tmp_path / "t", "transformer")
    assert saved_encoder_type(words) == "word_vectors" and saved_encoder_type("owner/name") is None
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    for model in (transformer, "owner/name", tmp_path / "missing"):
        environ = {}
        assert "left at its default" in openmp_wait_policy_for(model, environ) and environ == {}
    environ = {}
    assert "PASSIVE" in openmp_wait_policy_for(words, environ) and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    for chosen in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "10000"}):
        environ = dict(chosen)
        assert "left as the environment sets it" in openmp_wait_policy_for(words, environ) and environ == chosen
    monkeypatch.setitem(sys.modules, "torch", object())  # loaded already: too late to set
    environ = {}
    assert "torch was loaded" in openmp_wait_policy_for(words, environ) and environ == {}


@pytest.mark.parametrize("encoder_type, policy", [("word_vectors", "PASSIVE"), ("transformer", "None")])
def test_the_predict_command_sets_it_before_torch_loads(tmp_path, encoder_type, policy):
    """Through ``mtl-text predict``'s own main: the variable is in the environment by the time torch
    has loaded (libgomp reads it then). The folder holds only a config.json, so the command then stops
    with its error line."""
    model = model_folder(tmp_path / "model", encoder_type)
    code = ("import os, sys\n"
            "from mtl_text.cli import run_command\n"
            "from mtl_text.cli.predict import main\n"
            "status = run_command(main, ['--model', sys.argv[1], 'text'])\n"
            "print(status, 'torch' in sys.modules, os.environ.get('OMP_WAIT_POLICY'))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.stdout.split() == ["2", "True", policy], proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ")
