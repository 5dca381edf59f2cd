"""How accurate is a model on texts without labels? Estimates of a single-label head's accuracy on a
target sample (unlabelled texts, say from a new domain or a later period) from its confidences
there and on a labelled source split (the validation split the model was trained with):

* **ATC**, average thresholded confidence (Garg et al. 2022, "Leveraging Unlabeled Data to Predict
  Out-of-Distribution Performance"): the threshold ``t`` on the source confidences below which the
  share of source texts equals the source error rate; the estimate is the share of target texts
  whose confidence reaches ``t``.
* **DoC**, difference of confidences (Guillory et al. 2021, "Predicting with Confidence on Unseen
  Distributions"): the source accuracy moved by the change of the mean confidence from source to
  target.

Both assume that confidence falls with accuracy where the data shift; neither is a guarantee. The
confidence of a text is its predicted label's probability (:meth:`~mtl_text.modeling.heads.Head.calibration_forecasts`).
"""

from __future__ import annotations

import torch


def average_thresholded_confidence(source_confidence: torch.Tensor, source_correct: torch.Tensor,
                                   target_confidence: torch.Tensor) -> dict[str, float]:
    """ATC (see the module's text) from the source's ``(n,)`` confidences and correctness (1 where
    right) and the target's ``(m,)`` confidences.

    Returns:
        ``threshold``: the confidence that as many source texts reach as the source has right
        answers (the ``k``-th highest, ``k`` = the number right; ties kept); ``estimate``: the share
        of target texts whose confidence reaches it.

    Raises:
        ValueError: an empty source or target.
    """
    source = source_confidence.detach().cpu().double().flatten()
    target = target_confidence.detach().cpu().double().flatten()
    if len(source) == 0 or len(target) == 0:
        raise ValueError(f"ATC needs source and target texts; got {len(source)} and {len(target)}")
    right = int(round(float(source_correct.detach().cpu().double().sum())))
    ranked = torch.sort(source, descending=True).values
    threshold = float(ranked[right - 1]) if right > 0 else float("inf")
    return {"threshold": threshold, "estimate": float((target >= threshold).double().mean())}


def difference_of_confidences(source_confidence: torch.Tensor, source_correct: torch.Tensor, target_confidence: torch.Tensor) -> float:
    """DoC (see the module's text): ``source accuracy - (mean source confidence - mean target
    confidence)``, clipped to ``[0, 1]``; shapes as :func:`average_thresholded_confidence`.

    Raises:
        ValueError: an empty source or target.
    """
    if source_confidence.numel() == 0 or target_confidence.numel() == 0:
        raise ValueError(f"DoC needs source and target texts; got {source_confidence.numel()} and {target_confidence.numel()}")
    accuracy = float(source_correct.detach().cpu().double().mean())
    shift = float(source_confidence.detach().cpu().double().mean()) - float(target_confidence.detach().cpu().double().mean())
    return min(1.0, max(0.0, accuracy - shift))


def estimate_accuracy(head, source_logits: torch.Tensor, source_references: torch.Tensor, target_logits: torch.Tensor) -> dict | None:
    """A head's estimated accuracy on target texts from its logits ``(n, num_outputs)`` on a labelled
    source split (with ``source_references``) and ``(m, num_outputs)`` on the target texts.

    Returns:
        ``source_accuracy``, ``source_confidence`` and ``target_confidence`` (mean confidences),
        ``atc`` and ``atc_threshold`` (:func:`average_thresholded_confidence`), ``doc``
        (:func:`difference_of_confidences`), ``source_examples``, ``target_examples``; ``None`` for a
        head type without one confidence per text (``can_abstain``: multi-label, regression).
    """
    if not head.can_abstain:
        return None
    source_confidence, source_correct = head.calibration_forecasts(source_logits, source_references)
    # the target's confidences as the head defines them; without labels its own predictions stand in (only correctness needs them)
    target_confidence, _ = head.calibration_forecasts(target_logits, head.decode(target_logits))
    atc = average_thresholded_confidence(source_confidence, source_correct, target_confidence)
    return {"source_accuracy": float(source_correct.double().mean()), "source_confidence": float(source_confidence.double().mean()),
            "target_confidence": float(target_confidence.double().mean()), "atc": atc["estimate"], "atc_threshold": atc["threshold"],
            "doc": difference_of_confidences(source_confidence, source_correct, target_confidence),
            "source_examples": len(source_confidence), "target_examples": len(target_confidence)}


def estimate_model_accuracy(model_dir, texts: list[str], text_pairs: list[str] | None = None, tasks: list[str] | None = None,
                            data_dir: str | None = None, seed: int | None = None, validation_size: float | None = None,
                            batch_size: int = 128, verify_hashes: bool = True, token: str | None = None,
                            backend: str = "torch") -> dict[str, dict]:
    """A saved model's estimated accuracy on unlabelled ``texts`` (or pairs), per single-label head
    that takes them (``tasks``: those heads; default: every such head), against the validation split
    the model was trained with (carved as :func:`~mtl_text.inference.evaluation.evaluate_model`
    carves it): :func:`estimate_accuracy` for each, in one process. Both sides' logits come from the
    same :class:`~mtl_text.Predictor` (``backend``: ``"torch"``, or ``"onnx"`` for the folder's
    ONNX export, e.g. its int8 graphs, whose own confidences are then estimated).

    Raises:
        ModelLoadError: the folder is not a saved model (or, with ``backend="onnx"``, holds no export).
        UnknownHeadError: a task the model has no head for.
        ConfigError: no single-label head among the tasks, or none that takes this kind of input;
            several processes (:func:`~mtl_text.inference.evaluation.evaluate_predictor`).
        InputError: no texts.
        UnknownTaskError, DataNotFoundError, DataFormatError: as in loading the tasks' data.
    """
    from ..errors import ConfigError, InputError
    from ..inference.evaluation import evaluate_predictor
    from ..inference.prediction import Predictor

    if not texts:
        raise InputError("no texts to estimate the accuracy on")
    predictor = Predictor.from_pretrained(model_dir, batch_size=batch_size, verify_hashes=verify_hashes, backend=backend, token=token)
    names = [t for t in predictor.input_tasks(tasks, pairs=text_pairs is not None) if predictor.model.head(t).can_abstain]
    if not names:
        raise ConfigError(f"accuracy estimates are for single-label classification heads; the tasks "
                          f"{predictor.input_tasks(tasks, pairs=text_pairs is not None)} have none")
    validation: dict = {}  # task -> the validation split's (logits, references), carved as the model's training carved it
    evaluate_predictor(predictor, names, "validation", data_dir, seed, validation_size, logits=validation)
    target = predictor.predict_logits(texts, names, text_pairs)
    return {name: estimate_accuracy(predictor.model.head(name), *validation[name], target[name]) for name in names}
