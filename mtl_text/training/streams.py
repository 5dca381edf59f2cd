"""Training streams: each task's batches as an endless, resumable stream (the *order* within a task;
which task a step draws from is :mod:`mtl_text.data.sampling`'s job)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthGroupedSampler(Sampler[int]):
    """Indices of one task epoch in which neighbouring batches hold texts of similar length: the
    examples are shuffled, cut into mega-batches of 50 batches, each sorted by length (longest
    first), as transformers' ``group_by_length`` (``get_length_grouped_indices``). Padding, and the
    compute spent on it, shrinks; batches still come in random order.

    The order is a function of ``seed`` and the epoch (``set_epoch``, called by the stream and by
    Accelerate), so a resumed run replays it.

    Args:
        lengths: each example's length in tokens.
        batch_size: examples per batch.
        seed: the run's seed.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = list(lengths), batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


class TaskBatches:
    """An endless stream of one task's training batches: each pass over the (prepared) dataloader is
    one task epoch, reshuffled through ``set_epoch`` (the order is a function of the seed and the
    epoch). ``state()`` / ``restore()`` save and replay the position, for resuming."""

    def __init__(self, dataloader):
        self.dataloader = dataloader
        self.epoch = 0
        self.position = 0  # batches taken in the current epoch
        self._it = None

    def _start_epoch(self):
        if hasattr(self.dataloader, "set_epoch"):
            self.dataloader.set_epoch(self.epoch)
        self._it = iter(self.dataloader)
        self.position = 0

    def next(self):
        while True:
            if self._it is None:
                self._start_epoch()
            try:
                batch = next(self._it)
                self.position += 1
                return batch
            except StopIteration:
                self._it = None
                self.epoch += 1

    def state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict) -> None:
        """Continue after the first ``position`` batches of epoch ``epoch`` (same seed, same batches)."""
        self.epoch, self._it = int(state["epoch"]), None
        if state["position"]:
            self._start_epoch()
            for _ in range(int(state["position"])):
                next(self._it)
            self.position = int(state["position"])
