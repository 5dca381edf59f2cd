"""Several saved models as one predictor: each task's logits are the mean of the members' logits,
decoded by the first member's heads.

Averaging the logits of independently trained networks is the plain ensemble (Hansen & Salamon
1990, "Neural network ensembles"; Lakshminarayanan et al. 2017 average probabilities instead); for
a single-label head it is the normalised geometric mean of the members' probabilities. Members may
differ in encoder, vectors and tokenizer: each scores the texts its own way, one encoder pass per
batch for all its heads. On 20 Newsgroups + SST-2, three word-vector models of the same
configuration (Word2Vec, GloVe and a CNN encoder) averaged this way beat TF-IDF + LinearSVC on both
tasks where no single one trained on the labels does (docs/benchmark.md, "Ensembles of three
encoders"), at three times the prediction cost.

    ensemble = Ensemble.from_pretrained(["runs/w2v", "runs/glove", "runs/cnn"])
    ensemble.predict(["a gripping, beautiful film"])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..errors import ConfigError, UnknownHeadError
from . import DEFAULT_MAX_BATCH_TOKENS
from .prediction import HeadOutputs, Predictor


class Ensemble(HeadOutputs):
    """Two or more predictors answering as one (see the module's text).

    The ensemble's tasks are the first member's tasks that every member has with the same head: the
    same problem type, labels (in the same order), kind of input (single texts or pairs) and, for
    regression, target scaling. Decoding (argmax, multi-label thresholds, target scaling) is the
    first member's.

    Args:
        members: the predictors (:class:`~mtl_text.inference.prediction.Predictor`).

    Raises:
        ConfigError: fewer than two members, or no task that every member has with the same head.
    """

    def __init__(self, members: Sequence[Predictor]):
        self.members = list(members)
        if len(self.members) < 2:
            raise ConfigError(f"an ensemble needs two or more models, got {len(self.members)}")
        self.model = self.members[0].model  # its heads decode
        self.directory = self.members[0].directory  # its folder: the model the ensemble's validation split is carved for
        self._tasks = [t for t in self.model.tasks if all(_same_head(self.model, m.model, t) for m in self.members[1:])]
        if not self._tasks:
            raise ConfigError(f"no task has the same head in every member (the first member's tasks: {list(self.model.tasks)}; "
                              "a head must have the same problem type, labels and kind of input)")

    @classmethod
    def from_pretrained(cls, directories: Sequence[str | os.PathLike], batch_size: int = 64, device: str | torch.device = "cpu",
                        verify_hashes: bool = True, max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
                        backend: str = "torch", token: str | None = None) -> Ensemble:
        """Load each model folder (or Hub id) as :meth:`Predictor.from_pretrained` does, with the same options
        (one ``token`` for every Hub id); a Hub id pins its own revision as ``owner/name@revision``.

        Raises:
            ModelLoadError, ConfigError: as :meth:`Predictor.from_pretrained`, and as the constructor.
        """
        return cls([Predictor.from_pretrained(d, batch_size, device, verify_hashes, max_batch_tokens, backend, token=token) for d in directories])

    @property
    def tasks(self) -> list[str]:
        """The tasks every member has with the same head."""
        return list(self._tasks)

    @property
    def device(self) -> torch.device:
        """The first member's device (:meth:`from_pretrained` puts every member on the same one)."""
        return self.members[0].device

    @property
    def encoder_passes(self) -> int:
        """Encoder passes run so far by all the members together."""
        return sum(m.encoder_passes for m in self.members)

    def check_tasks(self, tasks: Sequence[str] | None) -> list[str]:
        """``tasks`` as a list (every ensemble task when ``None``).

        Raises:
            UnknownHeadError: a task that is not an ensemble task; the message lists them.
        """
        tasks = list(self._tasks) if tasks is None else list(tasks)
        unknown = [t for t in tasks if t not in self._tasks]
        if unknown:
            raise UnknownHeadError(f"the ensemble has no head for {unknown} in every model; its tasks are {self._tasks}")
        return tasks

    def predict_logits(self, texts: Sequence[str], tasks: Sequence[str] | None = None,
                       text_pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """The mean of the members' logits for each task: task -> ``(len(texts), num_outputs)``.
        ``tasks`` (default: every ensemble task of the input's kind) as in :meth:`input_tasks`.

        Raises:
            UnknownHeadError: a task that is not an ensemble task.
            InputError: as :meth:`input_tasks`, and as :meth:`Predictor.predict_logits`.
        """
        tasks = self.input_tasks(tasks, pairs=text_pairs is not None)
        outputs = [member.predict_logits(texts, tasks, text_pairs) for member in self.members]
        return {t: self.combine([out[t] for out in outputs]) for t in tasks}

    @staticmethod
    def combine(logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ensemble's logits from the members': ``k`` tensors ``(n, num_outputs)`` -> their mean."""
        return torch.stack([torch.as_tensor(z, dtype=torch.float32) for z in logits]).mean(0)


def load_predictor(model: str | os.PathLike, ensemble_with: Sequence[str | os.PathLike] | None = None, **options) -> HeadOutputs:
    """The command line's ``--model`` and ``--ensemble-with``: ``model`` as a
    :class:`~mtl_text.inference.prediction.Predictor`, or, with ``ensemble_with``, ``[model,
    *ensemble_with]`` as an :class:`Ensemble`; ``options`` as :meth:`Predictor.from_pretrained` takes them.

    Raises:
        ModelLoadError, ConfigError: as :meth:`Predictor.from_pretrained` and :meth:`Ensemble.from_pretrained`.
    """
    if ensemble_with:
        return Ensemble.from_pretrained([model, *ensemble_with], **options)
    return Predictor.from_pretrained(model, **options)


def _same_head(first, other, task: str) -> bool:
    """Whether ``other`` has ``task``'s head as ``first`` has it: problem type, labels, kind of input,
    and for regression the same target scaling (outputs in the same units, so that their mean means
    something)."""
    if task not in other.heads:
        return False
    a, b = first.head(task), other.head(task)
    scaling = [{k: h.options().get(k) for k in ("target_mean", "target_std")} for h in (a, b)]  # a regression head's outputs
    return (type(a).problem_type == type(b).problem_type and list(a.labels) == list(b.labels) and scaling[0] == scaling[1]
            and bool(first.tasks[task].get("text_pair")) == bool(other.tasks[task].get("text_pair")))
