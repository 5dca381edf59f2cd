"""Helpers shared by several test modules (tests/ is on sys.path through its conftest)."""

import fnmatch
import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import httpx
import huggingface_hub
import torch
from huggingface_hub.hf_api import CommitInfo
from transformers import BertConfig, BertModel

USER_TASK = textwrap.dedent('''
    from mtl_text import Task, read_jsonl, register_task

    LABELS = ["question", "statement"]

    def load(data_dir):
        return {split: read_jsonl(data_dir / f"{split}.jsonl", labels=LABELS) for split in ("train", "test")}

    register_task(Task(name="punctuation_{suffix}", labels=LABELS, load=load, max_length=32))
''')


def write_user_task(tmp_path, suffix, n=40):
    """A user's own task file (and its JSON Lines data) in ``tmp_path``: task ``punctuation_<suffix>``,
    an easy two-class task (questions vs statements)."""
    for split in ("train", "test"):
        with open(tmp_path / f"{split}.jsonl", "w") as f:
            for i in range(n):
                text, label = (f"is this number {i} odd ?", "question") if i % 2 else (f"this is number {i} .", "statement")
                f.write(json.dumps({"text": text, "label": label}) + "\n")
    path = tmp_path / "my_task.py"
    path.write_text(USER_TASK.replace("{suffix}", suffix))
    return path


def run_cli(command, args, capsys, stdin: bytes | None = None):
    """A command's ``main`` (e.g. ``mtl_text.cli.predict.main``) run in this process as the command line
    runs it (:func:`mtl_text.cli.run_command`: typed errors become one ``error:`` line and status 2),
    ``stdin`` as its standard input: (exit status, stdout, stderr). Saves a process start-up; a check
    of the script itself, or of a process-wide setting, keeps a subprocess."""
    import io
    import sys

    from mtl_text.cli import run_command

    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    capsys.readouterr()
    try:
        status = run_command(command, list(args))
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return status, out, err


def run_predict(python, repo, *args, stdin=b""):
    """``scripts/predict.py`` in its own process (a check of the script itself, its argv or its
    signals): the finished :class:`subprocess.CompletedProcess`, stdout and stderr as bytes."""
    import subprocess

    return subprocess.run([python, str(repo / "scripts" / "predict.py"), *args], input=stdin, capture_output=True, timeout=300)


def tiny_bert(vocab_size=100, layers=3, seed=0, max_positions=64):
    """A randomly initialised BERT of hidden size 32 (fast on a CPU)."""
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=max_positions)
    return BertModel(config)


def predictor_accuracy(model_dir, data_dir, task, seed):
    """Test accuracy of the model saved in ``model_dir`` on ``task``, scored by :class:`mtl_text.Predictor`
    (the path users predict with), on the test split that training with ``seed`` used."""
    import mtl_text
    from mtl_text.data.splits import column

    predictor = mtl_text.Predictor.from_pretrained(model_dir, batch_size=64)
    test = mtl_text.load_task_splits(task, data_dir, seed=seed)["test"]
    predicted = predictor.predict_labels(column(test, "text"), [task])[task]
    return (predicted == torch.tensor(column(test, "label"))).sum().item() / len(test)


def not_found(repo_id: str) -> httpx.Response:
    """The HTTP answer that huggingface_hub's not-found errors carry."""
    return httpx.Response(404, request=httpx.Request("GET", f"https://huggingface.co/api/models/{repo_id}"))


class LocalHub:
    """The Hub as a folder: HfApi's create_repo / create_branch / upload_folder and the download
    functions. Each upload is a commit (a folder named by a 40-hex hash) that its branch then points
    to; downloads land as huggingface_hub's cache lays them out, in ``snapshots/<commit hash>``."""

    def __init__(self, root: Path):
        self.root = root
        self.downloaded: list[str] = []
        self.refs: dict[str, dict[str, str]] = {}  # repo id -> branch -> commit hash
        self.private: dict[str, str] = {}  # repo id -> the token that may read it (the Hub says "not found" to others)
        self.tokens: list[str | None] = []  # the token of each download call

    def files(self, repo_id, revision="main") -> Path:
        """The folder of the commit that ``revision`` (a branch or a commit hash) names."""
        commit = self.refs.get(repo_id, {}).get(revision, revision)  # a branch, or a commit of any time
        if not (self.root / repo_id / commit).is_dir():
            raise huggingface_hub.errors.RevisionNotFoundError(f"404 Client Error. Revision Not Found: {repo_id}@{revision}",
                                                               response=not_found(repo_id))
        return self.root / repo_id / commit

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type="model"):
        if repo_id not in self.refs:
            self.refs[repo_id] = {"main": hashlib.sha1(f"{repo_id} initial".encode()).hexdigest()}
            (self.root / repo_id / self.refs[repo_id]["main"]).mkdir(parents=True)

    def create_branch(self, repo_id, branch, exist_ok=False, repo_type="model"):
        self.refs[repo_id].setdefault(branch, self.refs[repo_id]["main"])

    def upload_folder(self, repo_id, folder_path, commit_message, repo_type, ignore_patterns, revision=None, create_pr=None):
        parent = self.files(repo_id, revision or "main")
        pr = sum(ref.startswith("refs/pr/") for ref in self.refs[repo_id]) + 1 if create_pr else None
        branch = f"refs/pr/{pr}" if pr else revision or "main"  # a pull request: its own ref, from the target branch
        commit = hashlib.sha1(f"{repo_id} {len(list(self.root.glob('*/*/*')))}".encode()).hexdigest()
        shutil.copytree(parent, self.root / repo_id / commit)
        for path in Path(folder_path).rglob("*"):
            name = path.relative_to(folder_path).as_posix()
            if path.is_file() and not any(fnmatch.fnmatch(name, p) for p in ignore_patterns):
                (self.root / repo_id / commit / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, self.root / repo_id / commit / name)
        self.refs[repo_id][branch] = commit
        return CommitInfo(f"https://huggingface.co/{repo_id}/commit/{commit}", commit_message, "", commit,
                          pr_url=f"https://huggingface.co/{repo_id}/discussions/{pr}" if pr else None)

    def _snapshot(self, repo_id, revision) -> Path:
        source = self.files(repo_id, revision or "main")
        return self.root.parent / "cache" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / source.name

    def _check_access(self, repo_id, token):
        self.tokens.append(token)
        if repo_id not in self.refs or self.private.get(repo_id, token) != token:
            raise huggingface_hub.errors.RepositoryNotFoundError(f"404 Client Error. Repository Not Found: {repo_id}",
                                                                 response=not_found(repo_id))

    def hf_hub_download(self, repo_id, filename, revision=None, token=None):
        self._check_access(repo_id, token)
        source = self.files(repo_id, revision or "main") / filename
        if not source.is_file():
            raise huggingface_hub.errors.EntryNotFoundError(f"404: {repo_id}/{filename}")
        self.downloaded.append(filename)
        local = self._snapshot(repo_id, revision) / filename
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, local)
        return str(local)

    def snapshot_download(self, repo_id, revision=None, token=None, allow_patterns=None):
        self._check_access(repo_id, token)
        source, local = self.files(repo_id, revision or "main"), self._snapshot(repo_id, revision)
        for path in source.rglob("*"):
            name = path.relative_to(source).as_posix()
            if path.is_file() and any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                self.downloaded.append(name)
                (local / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, local / name)
        return str(local)


def use_local_hub(hub_: LocalHub, monkeypatch) -> LocalHub:
    """Make huggingface_hub's download functions read ``hub_`` (no network)."""
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub_.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub_.snapshot_download)
    return hub_


def offline_hub_cache(cache: Path, repo_id: str, commits: dict, refs: dict, monkeypatch) -> Path:
    """A Hugging Face cache laid out as huggingface_hub writes one, read by the real library offline:
    ``commits`` maps each commit hash (40 hex digits) to a model folder, copied to
    ``snapshots/<commit>``; ``refs`` maps each branch to a commit (``refs/<branch>``). Returns the
    repository's folder in the cache."""
    from huggingface_hub import constants

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for commit, folder in commits.items():
        shutil.copytree(folder, repo / "snapshots" / commit, ignore=shutil.ignore_patterns("checkpoints", "test_results.json"))
    (repo / "refs").mkdir(parents=True)
    for branch, commit in refs.items():
        (repo / "refs" / branch).write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return repo
