"""Feature extraction with a frozen encoder: compute each text's pooled vector once and train the
heads on the cached vectors.

When the encoder is frozen and a task's pooling has no parameters (see
:meth:`mtl_text.modeling.MultiTaskModel.can_cache_features`), the pooled vector of a text never
changes during training. Running the encoder over the same text every epoch and at every
validation is then wasted work: :func:`cache_features` runs it once per split, and the heads train
on :class:`FeatureDataset` batches (``{"features": (batch, pooled_dim), "labels": (batch,)}``).
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class FeatureDataset(Dataset):
    """Cached pooled vectors and their labels.

    Args:
        features: ``(num_examples, pooled_dim)`` floats.
        labels: ``(num_examples,)`` ints.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor):
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows for {len(labels)} labels")
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self.features[i], "labels": self.labels[i]}


@torch.no_grad()
def cache_features(model, dataloader, task: str, accelerator) -> FeatureDataset:
    """Pooled vectors of every example of a split, in the dataset's order.

    Args:
        model: the (unwrapped) :class:`~mtl_text.modeling.MultiTaskModel`.
        dataloader: the split's tokenized batches in order (not shuffled), prepared by ``accelerator``:
            each process encodes its share, and ``gather_for_metrics`` puts the pieces back in order
            without the duplicates that even sharding adds.
        task: whose pooling to apply.
        accelerator: the run's ``Accelerator`` (device, mixed precision, processes).

    Returns:
        a :class:`FeatureDataset` on the CPU, float32, the same on every process.
    """
    was_training = model.training
    model.eval()
    feats, labels = [], []
    for batch in dataloader:
        with accelerator.autocast():
            pooled = model.pooled_features(batch["input_ids"], batch["attention_mask"], task)
        pooled, y = accelerator.gather_for_metrics((pooled.float(), batch["labels"]))
        feats.append(pooled.cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return FeatureDataset(torch.cat(feats), torch.cat(labels))
