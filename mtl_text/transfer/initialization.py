"""Sequential transfer (``--init-from MODEL_DIR``): a run starts from a saved mtl-text model.

* the **encoder** (architecture and weights) and the **tokenizer** (a word-vector model's
  vocabulary, a transformer's tokenizer) are the saved model's; the new run's freezing options
  apply to it: ``--freeze-encoder`` (feature extraction from the source encoder), ``--freeze-layers``,
  or full fine-tuning;
* the **heads** (and poolings) of tasks the saved model already has, with the same name, labels,
  problem type and input, start from the saved ones; every other task gets a new head;
* the saved ``config.json`` of the new model records its **lineage**: the source folder (or Hub id,
  with the commit it was downloaded from), its tasks and its own lineage, so a chain of transfers
  can be traced back.

This is "parameter transfer" in the survey of Pan & Yang 2010 ("A survey on transfer learning"), the
sequential transfer of Ruder 2019 (PhD thesis, "Neural transfer learning for natural language
processing"), and, with a frozen encoder, feature-extraction transfer.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..modeling.encoders import build_encoder
from ..modeling.model import MultiTaskModel

logger = logging.getLogger("mtl_text.train")


def load_source(model_dir: str | Path):
    """The saved model (a folder, or a Hub id ``OWNER/NAME[@REVISION]`` downloaded once), its
    tokenizer, its ``config.json``, and for a Hub id the commit its files came from (else ``None``;
    for :func:`lineage`).

    Raises:
        ModelLoadError: the folder is not a valid saved model (see
            :meth:`~mtl_text.modeling.model.MultiTaskModel.from_pretrained`), or the Hub id cannot be
            downloaded.
        ConfigError: an empty revision after ``@``.
    """
    from ..inference.prediction import load_tokenizer
    from ..modeling.hub import hub_commit, resolve_model

    directory = resolve_model(model_dir)
    config = MultiTaskModel.read_config(directory)
    return MultiTaskModel.from_pretrained(directory), load_tokenizer(directory), config, hub_commit(directory)


def transferred_encoder(source: MultiTaskModel, freeze: bool, freeze_layers: int | None = None):
    """A copy of ``source``'s encoder, with the new run's freezing: the same architecture rebuilt from
    its config (``freeze``, ``freeze_layers`` replaced) and the source's weights loaded into it.

    Raises:
        ConfigError: ``freeze_layers`` does not fit the encoder (from the encoder's constructor).
    """
    config = {**source.encoder.config_dict(), "freeze": freeze}
    if config["type"] == "transformer":
        config["freeze_layers"] = freeze_layers
    encoder = build_encoder(config)
    encoder.load_state_dict(source.encoder.state_dict())
    return encoder


def transfer_heads(model: MultiTaskModel, source: MultiTaskModel) -> list[str]:
    """Copy into ``model`` the pooling and head (and wide part) of every task that ``source`` has with
    the same labels, problem type, input (single texts or pairs), pooling mode, head size and wide
    part; returns their names."""
    reused = []
    for name, info in model.tasks.items():
        old = source.tasks.get(name)
        same = old is not None and all(old[k] == info[k] for k in ("labels", "problem_type", "text_pair")) \
            and source.pooling_modes[name] == model.pooling_modes[name] \
            and (source.wide_buckets, source.wide_ngrams) == (model.wide_buckets, model.wide_ngrams) \
            and (source.wide is not None and name in source.wide) == (model.wide is not None and name in model.wide) \
            and source.heads[name].state_dict().keys() == model.heads[name].state_dict().keys() \
            and all(a.shape == b.shape for a, b in zip(source.heads[name].state_dict().values(), model.heads[name].state_dict().values()))
        if same:
            model.poolers[name].load_state_dict(source.poolers[name].state_dict())
            model.heads[name].load_state_dict(source.heads[name].state_dict())
            if model.wide is not None and name in model.wide:
                model.wide[name].load_state_dict(source.wide[name].state_dict())
            reused.append(name)
        elif old is not None:
            logger.warning("task %s: the source model's head differs (labels, problem type, pooling, size or wide part); a new head "
                           "is trained", name)
    return reused


def lineage(model_dir: str | Path, source_config: dict, reused: list[str], commit: str | None = None) -> dict:
    """The ``lineage`` entry of the new model's ``config.json``: where it started from (for a Hub id,
    ``init_from_commit``: the commit it was downloaded from, which pins ``main`` after the fact)."""
    pinned = {"init_from_commit": commit} if commit else {}
    return {"init_from": str(model_dir), **pinned, "source_tasks": list(source_config["tasks"]), "heads_reused": reused,
            "source_encoder": source_config["encoder"].get("source") or source_config["encoder"]["type"],
            "source_lineage": source_config.get("lineage")}
