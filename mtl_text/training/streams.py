"""Training streams: each task's batches as an endless, resumable stream (the *order* within a task;
which task a step draws from is :mod:`mtl_text.data.sampling`'s job)."""

from __future__ import annotations


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
