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
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm


class FeatureDataset(Dataset):
    """Cached pooled vectors and their labels.

    Args:
        features: ``(num_examples, pooled_dim)`` floats.
        labels: ``(num_examples,)`` class ids, or ``(num_examples, k)`` floats (multi-hot labels,
            regression targets).
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
def cache_features(model, dataset, task: str, accelerator, batch_size: int, collate_fn, desc: str | None = None) -> FeatureDataset:
    """Pooled vectors of every example of a tokenized split, in the dataset's order.

    The examples are encoded shortest first, so that each batch holds texts of similar length and
    little padding; the vectors are then put back in the dataset's order.

    Args:
        model: the (unwrapped) :class:`~mtl_text.modeling.MultiTaskModel`.
        dataset: the split, with ``input_ids`` and ``labels``.
        task: whose pooling to apply.
        accelerator: the run's ``Accelerator``: each process encodes its share of the batches, and
            ``gather_for_metrics`` joins them without the duplicates that even sharding adds.
        batch_size: examples per encoder pass and process.
        collate_fn: pads a batch (the tokenizer's collator).
        desc: the progress bar's label (default ``Encoding <task>``), shown on the main process.

    Returns:
        a :class:`FeatureDataset` on the CPU, float32, the same on every process.
    """
    lengths = torch.tensor([len(ids) for ids in dataset["input_ids"]])
    order = torch.argsort(lengths, stable=True)
    loader = accelerator.prepare_data_loader(DataLoader(Subset(dataset, order.tolist()), batch_size=batch_size, collate_fn=collate_fn))
    was_training = model.training
    model.eval()
    feats, labels = [], []
    for batch in tqdm(loader, desc=desc or f"Encoding {task}", disable=not accelerator.is_main_process, dynamic_ncols=True, leave=False):
        with accelerator.autocast():
            pooled = model.pooled_features(batch["input_ids"], batch["attention_mask"], task, batch.get("token_type_ids"))
        pooled, y = accelerator.gather_for_metrics((pooled.float(), batch["labels"]))
        feats.append(pooled.cpu())
        labels.append(y.cpu())
    model.train(was_training)
    feats, labels = torch.cat(feats), torch.cat(labels)
    in_order_feats, in_order_labels = torch.empty_like(feats), torch.empty_like(labels)
    in_order_feats[order], in_order_labels[order] = feats, labels
    return FeatureDataset(in_order_feats, in_order_labels)
