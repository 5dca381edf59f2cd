"""The core package stands alone: it imports without the bench extra (matplotlib, fastText) and the
serve extra (FastAPI, uvicorn, httpx), uses no pickle, and every module but the benchmark's and the
server's imports cleanly."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import mtl_text

PACKAGE = Path(mtl_text.__file__).parent

BLOCK_AND_IMPORT = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("matplotlib", "fasttext", "fastapi", "uvicorn", "httpx", "starlette"):
            raise ImportError(f"blocked: {name}")

sys.meta_path.insert(0, Block())
import mtl_text
modules = [m.name for m in pkgutil.walk_packages(mtl_text.__path__, "mtl_text.")
           if not m.name.startswith(("mtl_text.bench", "mtl_text.serving")) and m.name != "mtl_text.__main__"]
for name in modules:
    importlib.import_module(name)
print(len(modules), "modules")
"""


def test_core_imports_without_the_bench_extra():
    proc = subprocess.run([sys.executable, "-c", BLOCK_AND_IMPORT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[0]) >= 30


def test_no_pickle_in_the_core():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "bench" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text()
        if "import pickle" in text or "torch.load(" in text:
            offenders.append(str(path))
    assert offenders == []


def test_the_layout_shows_the_architecture():
    packages = {m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if m.ispkg}
    assert {"data", "modeling", "training", "inference", "serving", "cli", "bench", "utils"} <= packages


def test_import_mtl_text_and_the_commands_do_not_load_torch():
    """``import mtl_text`` stays light (a task file imports it); the commands import without torch,
    so that ``--help`` and a bad option answer at once."""
    code = ("import sys, mtl_text, mtl_text.cli, mtl_text.cli.train, mtl_text.cli.predict, mtl_text.cli.serve, mtl_text.bench.speed, "
            "mtl_text.serving.app; "
            "print(sorted(m for m in ('torch', 'transformers.modeling_utils') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"


PREDICT_WITHOUT_DATASETS = """
import sys
import torch
from mtl_text.cli import run_command
from mtl_text.cli.predict import main
from mtl_text.data.tokenization import train_word_tokenizer
from mtl_text.modeling.encoders import WordVectorEncoder
from mtl_text.modeling.model import MultiTaskModel

texts = ["who won the cup ?", "a dull , tedious film", "great fun"]
tokenizer = train_word_tokenizer(texts, min_frequency=1)
torch.manual_seed(0)
model = MultiTaskModel(WordVectorEncoder(len(tokenizer.get_vocab()), 8), {"mood": {"labels": ["neg", "pos"], "max_length": 16}})
model.save_pretrained(sys.argv[1], tokenizer, {"training_config": {}})
status = run_command(main, ["--model", sys.argv[1], "great fun"])
print(status, sorted(m for m in ("datasets", "pandas", "pyarrow") if m in sys.modules), file=sys.stderr)
"""


def test_prediction_does_not_load_datasets(tmp_path):
    """``mtl-text predict`` (and ``import mtl_text``) leave ``datasets`` and its pandas and pyarrow
    unloaded: they are for training and evaluation, and cost prediction's start-up about half a second."""
    proc = subprocess.run([sys.executable, "-c", PREDICT_WITHOUT_DATASETS, str(tmp_path / "model")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"label":' in proc.stdout and proc.stderr.strip().splitlines()[-1] == "0 []"
