"""Framework overhead: our training loop (:func:`mtl_text.training.loop.fit`) against a plain PyTorch
loop over the same model, the same task sequence and the same batches, in one process and one run.
Both start every task at epoch 0, inside the timed span (ours starts its epochs in its first
steps; so does the plain loop, since the version after mtl-text 0.2.0); the plain loop's
``DataLoader`` takes the index batches of our prepared (seeded) dataloader for that epoch, so the
two loops see identical batches.

The plain loop is what a user would write by hand: take the scheduled task's next batch from its
``DataLoader``, forward, the head's loss, backward, clip, step (with the run's optimizer: AdamW, or
:class:`~mtl_text.training.optimization.LazyAdamW` where the run updates its lookup tables lazily). Ours adds Accelerate's wrappers
(prepared model, optimizer, scheduler and dataloaders, ``accumulate``), the task streams, loss
bookkeeping, logging and the progress bar. Validation and saving are left out of our figure
(``fit`` times them separately). The two loops alternate in ABBA order, ``repeats`` times each,
after a warm-up.

``scripts/benchmark_overhead.py`` calls :func:`main`.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import get_scheduler

from ..arguments import Arguments, PositiveInt
from ..errors import ConfigError
from ..inference.evaluation import model_inputs
from ..training.build import TrainingSetup, build_training
from ..training.config import GROUPS, TrainingConfig
from ..training.loop import fit
from ..training.optimization import LazyAdamW, clip_grad_norm, parameter_groups
from ..training.outputs import RunLog
from ..training.runtime import make_accelerator
from ..transfer.significance import mean_interval

logger = logging.getLogger("mtl_text.overhead")


def plain_loop(run: TrainingSetup, config: TrainingConfig, steps: int) -> float:
    """``steps`` optimizer steps of a hand-written loop over the tasks ``run.schedule`` picks for steps
    ``0 .. steps - 1`` (the same sequence as :func:`~mtl_text.training.loop.fit`); returns training
    examples per second."""
    opt = config.optimization
    model = run.accelerator.unwrap_model(run.model).train()
    device = run.accelerator.device
    # the run's optimizer and clipping: with lazy updates the lookup tables' gradients are sparse
    optimizer_type, clip = (LazyAdamW, clip_grad_norm) if run.lazy_updates else (torch.optim.AdamW, torch.nn.utils.clip_grad_norm_)
    optimizer = optimizer_type(parameter_groups(model, opt.learning_rate, opt.head_learning_rate, config.encoder.layer_lr_decay,
                                                   opt.weight_decay), lr=opt.learning_rate, fused=True)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=steps)
    epochs = dict.fromkeys(run.train_streams, 0)

    def start_epoch(name):
        """A plain DataLoader over the batches (dataset indices, same collator) that our prepared
        stream of ``name`` gives in its current epoch: both loops see the same batches."""
        prepared = run.train_streams[name].dataloader
        prepared.set_epoch(epochs[name])
        return iter(DataLoader(prepared.dataset, batch_sampler=list(prepared.batch_sampler), collate_fn=prepared.collate_fn))

    start = time.perf_counter()  # starting the tasks' first epochs is timed, as in our loop (which starts them in its first steps)
    iterators = {name: start_epoch(name) for name in run.train_streams}
    for step in range(steps):
        task = run.schedule.task_at(step)
        try:
            batch = next(iterators[task])
        except StopIteration:
            epochs[task] += 1
            iterators[task] = start_epoch(task)
            batch = next(iterators[task])
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**model_inputs(batch), task=task)
        loss = model.heads[task].loss(logits, batch["labels"])
        loss.backward()
        if opt.max_grad_norm > 0:
            clip(model.parameters(), opt.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return steps * opt.batch_size / (time.perf_counter() - start)


def measure(config: TrainingConfig, repeats: int = 2, warmup_steps: int = 5) -> dict:
    """Time the plain loop and ours, ``--max-steps`` steps each, ``repeats`` times, in ABBA order
    (plain first in even repeats, ours first in odd ones), so that a drift of the machine's speed
    during the measurement does not favour the loop that always runs first or second.

    Returns:
        samples/s of each repeat of each loop, their means, ``ratio`` = ours / plain of the means
        (1.0: no overhead; 0.95: our loop is 5% slower), ``repeat_ratios``, ours / plain within
        each repeat (their spread shows the noise of the measurement), and ``ratio_interval``, the
        95% Student-t interval of the mean of the repeat ratios (``None`` for one repeat):
        an overhead of at most 3% is shown only where its lower end is at least 0.97.
    """
    steps = config.optimization.max_steps
    config.evaluation.eval_every = steps  # one validation, at the end, timed apart from the steps
    config.evaluation.patience = 0
    accelerator = make_accelerator(config)
    if accelerator.num_processes != 1:
        raise ConfigError("the overhead measurement runs in one process: launch it with python, not with several processes")
    run = build_training(config, accelerator)
    plain_loop(run, config, warmup_steps)
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        config.checkpoints.output_dir = tmp
        log = RunLog(accelerator, Path(tmp))

        def time_ours() -> float:
            for stream in run.train_streams.values():  # ours starts from the first batch of epoch 0 too: the same batches
                stream.restore({"epoch": 0, "position": 0})
            return fit(run, config, log)["train_samples_per_second"]

        for i in range(repeats):
            plain_first = i % 2 == 0
            if plain_first:
                plain.append(plain_loop(run, config, steps))
            ours.append(time_ours())
            if not plain_first:
                plain.append(plain_loop(run, config, steps))
            logger.info("repeat %d (%s first): plain loop %.2f samples/s, ours %.2f samples/s", i + 1,
                        "plain" if plain_first else "ours", plain[-1], ours[-1])
    result = {"steps": steps, "batch_size": config.optimization.batch_size, "order": "ABBA (plain first in odd-numbered repeats)",
              "plain_samples_per_second": plain, "ours_samples_per_second": ours,
              "plain_mean": sum(plain) / repeats, "ours_mean": sum(ours) / repeats,
              "repeat_ratios": [o / p for o, p in zip(ours, plain)]}
    result["ratio"] = result["ours_mean"] / result["plain_mean"]
    result["ratio_interval"] = list(mean_interval(result["repeat_ratios"])) if repeats > 1 else None
    return result


@dataclass
class OverheadArguments(Arguments):
    _argument_group_name = "overhead measurement"

    repeats: PositiveInt = field(default=2, metadata={
        "help": "times each loop is timed, in ABBA order (an even number balances it)"})
    json: str | None = field(default=None, metadata={"metavar": "FILE", "help": "also write the result here"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Training throughput of mtl-text's loop against a plain PyTorch loop over the same model and batches. Takes the
    training options; --max-steps is the number of timed steps per loop and repeat (default 50)."""
    from ..cli.parsing import ArgumentParser

    parser = ArgumentParser([*GROUPS.values(), OverheadArguments], prog=prog or "benchmark_overhead.py", description=main.__doc__)
    (*groups, options), _ = parser.parse(argv)
    config = TrainingConfig(*groups)
    if not config.optimization.max_steps:
        config.optimization.max_steps = 50
    result = measure(config, repeats=options.repeats)
    text = json.dumps(result, indent=2)
    print(text)
    if options.json:
        Path(options.json).write_text(text + "\n")
    interval = result["ratio_interval"]
    print(f"our loop / plain loop throughput: {result['ratio']:.3f} ({result['ours_mean']:.1f} vs {result['plain_mean']:.1f} samples/s)"
          + (f"; mean of the {options.repeats} repeat ratios {sum(result['repeat_ratios']) / options.repeats:.3f}, 95% interval "
             f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    from ..cli import exit_with

    exit_with(main)
