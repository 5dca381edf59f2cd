"""A saved model folder as a Hugging Face Hub model repository: its model card, uploading it, and
loading a model by Hub id (``huggingface_hub``).

* :func:`write_model_card` writes ``README.md`` into a model folder: YAML metadata (``library_name:
  mtl-text``, ``pipeline_tag``, ``tags``, ``base_model`` (the Hub model it was trained from: the
  mtl-text model of ``--init-from``, else a transformer from the Hub; the Hub's model tree), the metric
  names, the test results as ``model-index``) and a body with the tasks (problem type, labels,
  input, max length), the test table, the calibration and selective prediction where the folder
  has them, the training command and the lineage, stamped with its
  SHA-256 (:func:`card_is_unedited`). Training writes it after the test table; it reads only the
  folder, so any saved model can be given one.
* :func:`push_to_hub` uploads a folder (``HfApi.create_repo`` + ``HfApi.upload_folder``), to ``main``
  or to a branch (``OWNER/NAME@BRANCH``, created by ``HfApi.create_branch`` when missing).
* :func:`resolve_model` turns a folder or a Hub id into a local folder. ``OWNER/NAME`` is taken for a
  Hub id only when neither it nor a folder ``OWNER`` exists here (so ``runs/typo`` fails at once as
  a missing folder). ``OWNER/NAME@REVISION`` pins a branch, tag or commit (the ``repo_id@revision``
  of ``huggingface_hub``'s ``HfFileSystem`` paths); without one the Hub's ``main`` is read. A Hub id
  is downloaded with ``hf_hub_download`` (``config.json`` first) and ``snapshot_download``
  restricted to the files that ``config.json`` lists, from the commit that ``config.json`` came
  from (a push between the two downloads cannot mix two models); the loader then checks them
  against their recorded sizes and SHA-256. Nothing else (no pickle, no code) is fetched or loaded.
* :func:`resolve_config` does the same for ``mtl-text train --config``: a file, a folder's
  ``config.json``, or a Hub id's ``config.json`` alone (the recipe, not the weights).
* :func:`hub_commit` names the commit a downloaded folder holds (``huggingface_hub``'s cache keeps
  each commit in ``snapshots/<commit hash>``), for the record: ``--init-from``'s lineage, ``serve``'s
  ``GET /metadata`` and the commit its workers load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, ModelLoadError
from ..utils.files import CONFIG_NAME, ONNX_CONFIG_NAME, RESULTS_NAME, atomic_write_text

logger = logging.getLogger(__name__)

CARD_NAME = "README.md"
NOT_METRICS = ("examples", "loss")  # in the test results, but a count and a loss, not scores
# a Hub repository id: "owner/name" (letters, digits, - _ .); tried on the Hub only when no such path exists here
REPO_ID = re.compile(r"^[\w-][\w.-]*/[\w-][\w.-]*$")
COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
CARD_TAGS = ("mtl-text", "multi-task", "text-classification")
CARD_STAMP = "written by mtl-text; sha256 of the card above this line:"  # the card's last line, an HTML comment


def training_command(training_config: dict) -> str:
    """The ``mtl-text train`` command that gives ``training_config`` (``config.json``'s
    ``training_config``): every option whose value differs from its default, except where the run
    uploaded its model (``--push-to-hub``)."""
    from ..training.config import GROUPS, UPLOAD_OPTIONS

    parts = ["mtl-text", "train"]
    for group, cls in GROUPS.items():
        values = training_config.get(group, {})
        for f in dataclasses.fields(cls):
            if not f.init or f.name not in values or f.name in UPLOAD_OPTIONS:
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            value = values[f.name]
            if value == default and f.name != "tasks":  # the tasks are always named
                continue
            option = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                parts.append(option if value else "--no-" + f.name.replace("_", "-"))
            elif isinstance(value, list):
                parts += [option, *map(str, value)]
            elif value is not None:
                parts += [option, str(value)]
    return " ".join(parts)


def _metric_table(results: dict) -> str:
    metrics = results.get("metrics", {})
    names = sorted({m for task in metrics.values() for m in task} - set(NOT_METRICS))
    lines = ["| task | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for task, values in metrics.items():
        lines.append(f"| {task} | " + " | ".join(f"{values[m]:.4f}" if m in values else "–" for m in names) + " |")
    return "\n".join(lines)


def write_model_card(directory: str | os.PathLike, name: str | None = None, license: str | None = None) -> Path:
    """Write ``README.md`` (the model card) into a saved model folder; see the module's text.

    Args:
        directory: the model folder.
        name: what the card's title and commands call the model (``--model NAME``, ``--config
            NAME``): a Hub id once pushed; default: the folder's name.
        license: the model's license as the Hub names licenses (``apache-2.0``, ``mit``,
            ``cc-by-4.0``, ...), for the card's metadata; default: none stated.

    Returns:
        The card's path.

    Raises:
        ModelLoadError: the folder is not a saved model (see :meth:`MultiTaskModel.read_config`).
    """
    path = Path(directory) / CARD_NAME
    atomic_write_text(path, render_model_card(directory, name, license))
    return path


def render_model_card(directory: str | os.PathLike, name: str | None = None, license: str | None = None) -> str:
    """The text :func:`write_model_card` writes (``name``, ``license``: as there): YAML metadata through
    ``huggingface_hub.ModelCardData``, with the test results as ``model-index`` (the Hub shows them
    on the model's page), the body, and a last line stamping the text above with its SHA-256 (how
    :func:`card_is_unedited` tells a card mtl-text wrote from one edited by hand)."""
    from huggingface_hub import EvalResult, ModelCardData

    directory = Path(directory)
    name = name or directory.resolve().name
    parts = _card_parts(directory, name)
    datasets = parts["results"].get("datasets", {})  # task -> the Hub dataset its test split is, where the task declares one

    def dataset(task: str) -> dict:
        ref = datasets.get(task)
        if ref is None:
            return {"dataset_type": task, "dataset_name": task, "dataset_split": "test"}
        return {"dataset_type": ref["path"], "dataset_name": task, "dataset_config": ref.get("name"), "dataset_split": ref["split"],
                "dataset_revision": ref.get("revision")}

    evals = [EvalResult(task_type="text-classification", **dataset(task), metric_type=metric, metric_name=metric, metric_value=float(value))
             for task, values in parts["results"].get("metrics", {}).items() for metric, value in values.items()
             if metric not in NOT_METRICS and isinstance(value, (int, float)) and math.isfinite(value)]
    data = ModelCardData(license=license, library_name="mtl-text", pipeline_tag="text-classification",
                         tags=[*CARD_TAGS, *(["onnx"] if parts["onnx"] else [])],
                         base_model=parts["base_model"], **({"base_model_relation": "adapter"} if parts["adapter"] and parts["base_model"] else {}),
                         datasets=sorted({ref["path"] for ref in datasets.values() if REPO_ID.match(ref["path"])}) or None,  # not a local folder
                         metrics=parts["metrics"] or None, **({"model_name": name, "eval_results": evals} if evals else {}))
    text = f"---\n{data.to_yaml()}\n---\n\n{parts['body']}"
    return f"{text}<!-- {CARD_STAMP} {hashlib.sha256(text.encode()).hexdigest()} -->\n"


def card_is_unedited(text: str, directory: str | os.PathLike) -> bool:
    """Whether a model card's ``text`` is as mtl-text wrote it for the model in ``directory``: its
    stamp (see :func:`render_model_card`) matches the text above it. A card of mtl-text 0.3.8 or
    0.3.9, which had no stamp, counts as unedited when it is exactly as those versions rendered it
    for its own title."""
    *above, last = text.rstrip("\n").split("\n")
    stamp = re.fullmatch(rf"<!-- {re.escape(CARD_STAMP)} ([0-9a-f]{{64}}) -->", last)
    if stamp:
        return hashlib.sha256(("\n".join(above) + "\n").encode()).hexdigest() == stamp.group(1)
    title = next((line[2:] for line in text.splitlines() if line.startswith("# ")), None)
    if title is None:
        return False
    parts = _card_parts(Path(directory), title, current=False)
    meta = ["---", "library_name: mtl-text", "pipeline_tag: text-classification", "tags:", *(f"- {t}" for t in CARD_TAGS)]
    if parts["transformer"]:  # those versions named the transformer alone as the base model
        meta.append(f"base_model: {parts['transformer']}")
    if parts["metrics"]:
        meta += ["metrics:", *(f"- {m}" for m in parts["metrics"])]
    return text == "\n".join([*meta, "---", "", parts["body"]])


def _card_parts(directory: Path, name: str, current: bool = True) -> dict:
    """What a model card says, for :func:`render_model_card`: ``body`` (markdown, ending in a newline),
    ``base_model`` (the Hub id of the model it was trained from: an ``--init-from`` model downloaded
    from the Hub, else the transformer's, else ``None``), ``transformer`` (the transformer's Hub id,
    or ``None``), ``metrics`` (the names in the test results) and ``results``
    (``test_results.json``, ``{}`` when absent), ``onnx`` (an export folder of ``mtl-text
    export-onnx``: its use names ``--backend onnx``; ``current=False``: as mtl-text 0.3.8 and 0.3.9
    wrote the body, which did not)."""
    from .heads import SingleLabelClassificationHead, format_risk_coverage
    from .model import MultiTaskModel

    config = MultiTaskModel.read_config(directory)
    results_path = directory / RESULTS_NAME
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    encoder = config["encoder"]
    source = encoder.get("source") if encoder["type"] == "transformer" else None
    metrics = sorted({m for task in results.get("metrics", {}).values() for m in task} - set(NOT_METRICS))
    if encoder["type"] == "transformer":  # one built in Python from a model object has no source to name
        kind = f"the transformer `{source}`" if source else f"a transformer ({encoder['config'].get('model_type', 'unnamed')})"
    else:
        kind = f"word vectors ({encoder['embedding_dim']} dimensions)"
    tasks = ["| task | problem type | labels | input | max length |", "|---|---|---|---|---:|"]
    for task, info in config["tasks"].items():
        labels = ", ".join(info["labels"])
        tasks.append(f"| {task} | {info.get('problem_type', SingleLabelClassificationHead.problem_type)} | {labels} | "
                     f"{'sentence pairs' if info.get('text_pair') else 'texts'} | {info['max_length']} |")
    body = [f"# {name}", "",
            f"A multi-task text classifier trained with [mtl-text](https://github.com/mtl-text/mtl-text): one shared encoder, "
            f"{kind}, and one head per task; every head answers from one encoder pass.", ""]
    lora = encoder.get("lora") if current else None  # LoRA adapters saved apart from their base (--lora-save adapters)
    if lora:
        body += [f"This folder holds LoRA adapters (rank {lora['r']}, on {', '.join(lora['target_modules'])}) with the poolings and "
                 f"heads, not the transformer's weights: loading it loads `{lora['base_model']}`, checks that its weights are those "
                 f"the adapters were trained on (SHA-256 `{lora['base_weights_sha256'][:12]}...`) and merges the adapters in. It "
                 "needs peft (`pip install 'mtl-text[peft]'`).", ""]
    body += ["## Tasks", "", *tasks, ""]
    if results:
        body += ["## Test results", "", f"Best validation model, {results.get('steps', '?')} steps; the tasks' test splits.", "",
                 _metric_table(results), ""]
        if current and results.get("datasets"):
            body += ["Test data:", "", *(f"- {task}: {_dataset_link(ref)}" for task, ref in results["datasets"].items()), ""]
    calibration = config.get("calibration") if current else None  # temperatures fitted on validation (--calibrate, mtl-text calibrate)
    if isinstance(calibration, dict) and isinstance(calibration.get("tasks"), dict) and calibration["tasks"]:
        body += ["## Calibration", "", "Temperature scaling (Guo et al. 2017): each of these heads divides its logits by a temperature "
                 "fitted on the validation split, so that its probabilities match how often it is right; the predicted labels are "
                 "those of the model as trained. ECE: the expected calibration error on the validation split.", "",
                 "| task | temperature | ECE before | ECE after |", "|---|---:|---:|---:|",
                 *(f"| {task} | {_number(fit, 'temperature')} | {_number(fit, 'ece_before')} | {_number(fit, 'ece_after')} |"
                   for task, fit in calibration["tasks"].items()), ""]
    selective = {task: report["risk_coverage"] for task, report in (results.get("class_reports") or {}).items()
                 if current and isinstance(report, dict) and report.get("risk_coverage")}  # single-label heads (evaluate --risk-coverage)
    if selective:
        body += ["## Selective prediction", "", "Each single-label head on its test split, keeping only the texts whose predicted label's "
                 "probability reaches a minimum (`--min-confidence`; ties kept, the others set aside): the share of the texts kept "
                 "(coverage) and their accuracy, at the minimums that keep set shares of the texts and at set probabilities.", ""]
        for task, report in selective.items():
            body += [f"**{task}**", "", format_risk_coverage(report), ""]
    if "training_config" in config and config["training_config"]:
        body += ["## Training", "", "```bash", training_command(config["training_config"]), "```", "",
                 f"The same options from this folder, on another seed or into another folder: `mtl-text train --config "
                 f"{name} --seed N --output-dir NEW`.", ""]
    if "lineage" in config:
        body += ["## Lineage", "", "Started from another mtl-text model (`--init-from`):", "", "```json",
                 json.dumps(config["lineage"], indent=2), "```", ""]
    onnx = current and (directory / ONNX_CONFIG_NAME).is_file()  # an export: its graphs, run by ONNX Runtime (the weights work too)
    backend, python_backend = (" --backend onnx", ', backend="onnx"') if onnx else ("", "")
    pairs = [bool(info.get("text_pair")) for info in config["tasks"].values()]
    singles = not current or not all(pairs)  # 0.3.8 and 0.3.9 showed single texts whatever the tasks
    shell = [f"mtl-text predict --model {name}{backend} \"some text\""] if singles else []
    python = ["predictor.predict([\"some text\"])"] if singles else []
    if current and any(pairs):  # sentence pairs: a TSV line (first text, tab, second) or text_pairs=
        shell.append(f"printf 'first text\\tsecond text\\n' | mtl-text predict --model {name}{backend} --input-format tsv")
        python.append("predictor.predict([\"first text\"], text_pairs=[\"second text\"])")
    if onnx and not results:  # an int8 export: the model's test results are not its own; evaluate scores its graphs
        shell.append(f"mtl-text evaluate --model {name}{backend}   # its own test results")
    extras = ",".join([*(["onnx"] if onnx else []), *(["peft"] if lora else [])])
    body += ["## Use", "", "```bash", "pip install mtl-text" + (f"'[{extras}]'" if extras else ""), *shell, "```", "", "```python",
             "from mtl_text import Predictor", "", f"predictor = Predictor.from_pretrained(\"{name}\"{python_backend})  # a folder or a Hub id",
             *python, "```", ""]
    transformer = split_revision(source)[0] if source and is_hub_id(source, owner=False) else None
    parent = config.get("lineage") or {}
    from_hub = parent.get("init_from_commit") is not None  # --init-from a Hub id: the model it was fine-tuned from
    return {"body": "\n".join(body), "base_model": split_revision(parent["init_from"])[0] if from_hub else transformer, "transformer": transformer,
            "metrics": metrics, "results": results, "onnx": onnx, "adapter": bool(lora)}


def _number(record, key: str) -> str:
    """``record[key]`` with four decimals, or ``-`` where it is not a number."""
    value = record.get(key) if isinstance(record, dict) else None
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _dataset_link(ref: dict) -> str:
    """A test split's dataset for the card's body: a Hub dataset as a link, with its configuration,
    split and revision."""
    path = f"[{ref['path']}](https://huggingface.co/datasets/{ref['path']})" if REPO_ID.match(ref["path"]) else f"`{ref['path']}`"
    extra = [f"`{ref['name']}`"] if ref.get("name") else []
    return ", ".join([f"{path}{' ' + extra[0] if extra else ''}", f"split `{ref['split']}`",
                      *([f"revision `{ref['revision']}`"] if ref.get("revision") else [])])


def read_model_card(directory: str | os.PathLike) -> tuple[dict, str]:
    """A model card's YAML metadata (as a dict, through ``huggingface_hub.ModelCard``) and its body."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(Path(directory) / CARD_NAME)
    return card.data.to_dict(), card.text


def push_to_hub(directory: str | os.PathLike, repo_id: str, token: str | None = None, private: bool = False,
                commit_message: str = "Upload mtl-text model", api=None, revision: str | None = None, create_pr: bool = False,
                license: str | None = None) -> str:
    """Upload a saved model folder to the Hub repository ``repo_id``, created if needed.

    The model card is written first, calling the model by ``repo_id`` (``--model OWNER/NAME``, or
    ``OWNER/NAME@BRANCH`` with ``revision``), when the folder has none or has a card as mtl-text
    wrote it (for the folder's name or another id); a card edited by hand is uploaded as it is.
    The card keeps the license it states unless ``license`` gives another.

    Args:
        directory: the model folder.
        repo_id: ``owner/name``, or ``owner/name@branch`` (the same as ``revision``).
        token: a Hub token (default: ``huggingface_hub``'s stored login or ``$HF_TOKEN``).
        private: create the repository private.
        commit_message: the commit's message.
        api: an ``huggingface_hub.HfApi`` (default: a new one; tests pass one for another endpoint).
        revision: the branch to commit to, created from ``main`` if it does not exist (default:
            ``main``).
        create_pr: open a pull request against that branch instead of committing to it (as
            transformers' ``push_to_hub(create_pr=True)``); until it is merged the upload reads as
            ``OWNER/NAME@refs/pr/N``.
        license: the model's license for the card (see :func:`write_model_card`).

    Returns:
        The URL of the commit (its last part is the commit hash, for ``OWNER/NAME@COMMIT``), or with
        ``create_pr`` the pull request's.

    Raises:
        ModelLoadError: the folder is not a saved model.
        ConfigError: ``repo_id`` is not ``owner/name[@branch]``, or names another branch than ``revision``;
            a ``license`` that is no Hub license identifier; LoRA adapters saved apart from a base
            model that is a local folder (``--lora-save adapters``), which the Hub's users lack.
    """
    from huggingface_hub import HfApi, ModelCard

    given, (repo_id, branch) = repo_id, upload_target(repo_id)
    check_license(license)
    if branch is not None and revision is not None and branch != revision:
        raise ConfigError(f"{given}: the branch is given twice, {branch!r} after '@' and revision={revision!r}")
    revision = branch or revision
    directory = Path(directory)
    from .model import MultiTaskModel

    check_adapter_base(MultiTaskModel.read_config(directory)["encoder"].get("lora", {}).get("base_model"),
                       f"{directory} holds LoRA adapters saved alone")
    name = f"{repo_id}@{revision}" if revision else repo_id  # what the card's commands call the model (a pull request's once merged)
    card = directory / CARD_NAME
    text = card.read_text(encoding="utf-8") if card.is_file() else None
    if text is None or card_is_unedited(text, directory):
        license = license or (ModelCard(text).data.license if text is not None else None)  # the card's own, read above
        write_model_card(directory, name, license)  # none, or the card mtl-text wrote (for the folder or another id): by this id now
        logger.info("%s: model card written for %s", card, name)
    elif license:
        logger.warning("%s: the card was edited by hand, so it is uploaded as it is, without license %r: state it in the card's "
                       "metadata (license: %s)", card, license, license)
    else:
        logger.info("%s: the card was edited; uploaded as it is", card)
    api = api or HfApi(token=token)
    prepare_upload(repo_id, revision, private, api)
    commit = api.upload_folder(repo_id=repo_id, folder_path=str(directory), commit_message=commit_message, repo_type="model",
                               revision=revision, create_pr=create_pr or None,
                               ignore_patterns=["checkpoints/*", ".mtl-text.lock", ".saving-*", "runs/*", "mtl-text/*"])
    if commit.pr_url:
        logger.info("opened the pull request %s against %s; until it is merged, --model %s@%s reads it", commit.pr_url, name, repo_id,
                    commit.pr_revision)
        return commit.pr_url
    logger.info("pushed to %s as commit %s; --model %s@%s names this upload for good", name, commit.oid, repo_id, commit.oid)
    return commit.commit_url


def check_adapter_base(base: str | None, what: str) -> None:
    """LoRA adapters saved alone load their base model (``base``; ``None``: no such adapters), so
    they go to the Hub only on a base that is a Hub id: a local folder is one that nobody loading
    the model from the Hub has.

    Raises:
        ConfigError: ``base`` is a local folder; the message starts with ``what``.
    """
    if base is not None and not is_hub_id(base, owner=False):
        raise ConfigError(f"{what}: the adapters' base model is the local folder {base}, which nobody loading the model from the "
                          "Hub has: give the base's Hub id (--model-name-or-path OWNER/NAME), or --lora-save merged")


def prepare_upload(repo_id: str, branch: str | None = None, private: bool = False, api=None, token: str | None = None) -> None:
    """The repository ``repo_id`` created if it does not exist (``private`` then), and ``branch``
    created from ``main`` if given and missing: what an upload needs first, done by itself before a
    training run that ends in one (as transformers' ``Trainer`` creates its repository at start), so
    that a token that cannot create it fails before the training rather than after.

    Raises:
        whatever ``huggingface_hub`` raises (HTTP errors, no network).
    """
    from huggingface_hub import HfApi

    api = api or HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if branch:
        api.create_branch(repo_id, branch=branch, exist_ok=True, repo_type="model")


def check_license(license: str | None) -> None:
    """A license as the Hub names them (lower-case: ``apache-2.0``, ``mit``, ``cc-by-4.0``,
    ``other``; https://huggingface.co/docs/hub/repositories-licenses), or ``None``.

    Raises:
        ConfigError: another form.
    """
    if license is not None and not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", license):
        raise ConfigError(f"license {license!r}: expected a Hugging Face Hub license identifier such as apache-2.0, mit, cc-by-4.0 "
                          "or other (https://huggingface.co/docs/hub/repositories-licenses)")


def upload_target(repo_id: str) -> tuple[str, str | None]:
    """A repository to upload to, ``OWNER/NAME`` or ``OWNER/NAME@BRANCH``, as ``(OWNER/NAME, BRANCH
    or None)``.

    Raises:
        ConfigError: another form (the message names it).
    """
    name, branch = split_revision(repo_id)
    if not REPO_ID.match(name) or branch == "":
        raise ConfigError(f"repository id {repo_id!r}: expected OWNER/NAME or OWNER/NAME@BRANCH (letters, digits, '-', '_', '.')")
    return name, branch


def split_revision(name: str | os.PathLike) -> tuple[str, str | None]:
    """``OWNER/NAME@REVISION`` -> ``("OWNER/NAME", "REVISION")``; without ``@``, ``(name, None)``.
    A revision is a branch, a tag or a commit hash, and may hold ``/`` (``refs/pr/1``)."""
    repo_id, at, revision = str(name).partition("@")
    return (repo_id, revision) if at else (repo_id, None)


def is_hub_id(name_or_path: str | os.PathLike, owner: bool = True) -> bool:
    """Whether ``name_or_path`` is taken for a Hub id: it reads ``OWNER/NAME`` or ``OWNER/NAME@REVISION``
    and neither it nor a folder ``OWNER`` exists here (a path whose parent folder exists,
    ``runs/typo``, is a local typo). ``owner=False`` also takes an id without an owner (``gpt2``),
    as transformers' models have."""
    path = Path(name_or_path)
    repo_id, _ = split_revision(name_or_path)
    shaped = bool(REPO_ID.match(repo_id) or not owner and REPO_ID.match(f"_/{repo_id}"))
    return shaped and not path.exists() and not Path(path.parts[0]).exists()


def hub_reference(name_or_path: str | os.PathLike, revision: str | None = None, owner: bool = True) -> tuple[str, str | None]:
    """The repository id and the revision of a Hub id (:func:`is_hub_id`, ``owner`` as there), from
    ``@REVISION`` or ``revision`` (``None``: the Hub's ``main``); a local path comes back as it is,
    with ``None``.

    Raises:
        ConfigError: an empty revision after ``@``; ``@REVISION`` and ``revision`` both given and
            different; ``revision`` given for a path that exists here (a local folder has no
            revisions).
    """
    if not is_hub_id(name_or_path, owner):
        if revision is not None:
            raise ConfigError(f"revision {revision!r}: {name_or_path} names a path here, not a Hugging Face Hub id; a revision "
                              "pins a Hub repository's branch, tag or commit")
        return str(name_or_path), None
    repo_id, pinned = split_revision(name_or_path)
    if pinned == "":
        raise ConfigError(f"{name_or_path}: no revision after '@'; expected OWNER/NAME@REVISION (a branch, tag or commit)")
    if pinned is not None and revision is not None and pinned != revision:
        raise ConfigError(f"{name_or_path}: the revision is given twice, {pinned!r} after '@' and revision={revision!r}")
    return repo_id, pinned if pinned is not None else revision


def hub_commit(directory: str | os.PathLike) -> str | None:
    """The commit hash of a folder that :func:`resolve_model` downloaded (its name in
    ``huggingface_hub``'s cache, ``.../snapshots/<commit hash>``); ``None`` for any other folder."""
    directory = Path(directory)
    return directory.name if COMMIT_HASH.match(directory.name) and directory.parent.name == "snapshots" else None


def download_failure(error: Exception) -> str:
    """huggingface_hub's error in one line, for our messages: its type and its first line."""
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def resolve_model(name_or_path: str | os.PathLike, revision: str | None = None, token: str | None = None,
                  also: Sequence[str] = ()) -> Path:
    """A local model folder for a folder path or a Hub id, ``OWNER/NAME`` or ``OWNER/NAME@REVISION``
    (see the module's text; ``revision``: the same as ``@REVISION``, for Python callers). ``also``:
    more files to download beside those ``config.json`` lists (an ONNX export's ``onnx.json`` and
    graphs, which it checks itself), where the repository has them.

    Raises:
        ModelLoadError: neither a folder here nor a Hub repository that can be downloaded (the
            message names both tries), or a repository that is not an mtl-text model.
        ConfigError: a revision that does not fit (see :func:`hub_reference`).
    """
    if not is_hub_id(name_or_path):
        hub_reference(name_or_path, revision)  # a revision for a local folder is an error
        return Path(name_or_path)
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError

    repo_id, revision = hub_reference(name_or_path, revision)
    try:
        config_path = Path(hf_hub_download(repo_id, CONFIG_NAME, revision=revision, token=token))
        files = list(json.loads(config_path.read_text()).get("files", {}))
        commit = hub_commit(config_path.parent) or revision  # the rest from config.json's own commit
        local = snapshot_download(repo_id, revision=commit, token=token, allow_patterns=[CONFIG_NAME, CARD_NAME, *files, *also])
    except (OSError, ValueError, EntryNotFoundError) as e:  # huggingface_hub's errors: HTTP, offline, not found
        raise ModelLoadError(f"{name_or_path}: no such model folder here, and not downloadable from the Hugging Face Hub "
                             f"({download_failure(e)})") from None
    return Path(local)


def resolve_config(name_or_path: str | os.PathLike, revision: str | None = None, token: str | None = None) -> Path:
    """A local ``config.json`` for a file, a model folder or a Hub id (``mtl-text train --config``,
    ``--init-from``): a folder gives its ``config.json``; a Hub id (:func:`is_hub_id`, with or
    without ``@REVISION``) downloads that one file.

    Raises:
        ConfigError: a Hub id whose ``config.json`` cannot be downloaded (the message names the id
            and huggingface_hub's error); a revision that does not fit (see :func:`hub_reference`).
    """
    if not is_hub_id(name_or_path):
        hub_reference(name_or_path, revision)
        path = Path(name_or_path)
        return path / CONFIG_NAME if path.is_dir() else path
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    repo_id, revision = hub_reference(name_or_path, revision)
    try:
        return Path(hf_hub_download(repo_id, CONFIG_NAME, revision=revision, token=token))
    except (OSError, ValueError, EntryNotFoundError) as e:
        raise ConfigError(f"{name_or_path}: no such file or folder here, and no {CONFIG_NAME} to download from the Hugging Face "
                          f"Hub ({download_failure(e)})") from None
