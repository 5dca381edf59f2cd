"""Framework overhead: our training loop (:func:`mtl_text.training.fit`) against a plain PyTorch
loop over the same model, the same task sequence and the same batches, in one process and one run.
Both start every task at epoch 0; the plain loop's ``DataLoader`` takes the index batches of our
prepared (seeded) dataloader for that epoch, so the two loops see identical batches.

The plain loop is what a user would write by hand: take the scheduled task's next batch from its
``DataLoader``, forward, cross-entropy, backward, clip, step. Ours adds Accelerate's wrappers
(prepared model, optimizer, scheduler and dataloaders, ``accumulate``), the task streams, loss
bookkeeping, logging and the progress bar. Validation and saving are left out of our figure
(``fit`` times them separately). The two loops alternate in ABBA order, ``repeats`` times each,
after a warm-up.

``scripts/benchmark_overhead.py`` calls :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import get_scheduler

from .optimization import parameter_groups
from .evaluation import model_inputs
from .training import TrainingSetup, build_parser, fit, make_accelerator, setup_training

logger = logging.getLogger("mtl_text.overhead")


def plain_loop(run: TrainingSetup, args: argparse.Namespace, steps: int) -> float:
    """``steps`` optimizer steps of a hand-written loop over the tasks ``run.schedule`` picks for steps
    ``0 .. steps - 1`` (the same sequence as :func:`~mtl_text.training.fit`); returns training
    examples per second."""
    model = run.accelerator.unwrap_model(run.model).train()
    device = run.accelerator.device
    optimizer = torch.optim.AdamW(parameter_groups(model, args.learning_rate, args.head_learning_rate, args.layer_lr_decay,
                                                   args.weight_decay), lr=args.learning_rate, fused=True)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=steps)
    epochs = dict.fromkeys(run.train_streams, 0)

    def start_epoch(name):
        """A plain DataLoader over the batches (dataset indices, same collator) that our prepared
        stream of ``name`` gives in its current epoch: both loops see the same batches."""
        prepared = run.train_streams[name].dataloader
        prepared.set_epoch(epochs[name])
        return iter(DataLoader(prepared.dataset, batch_sampler=list(prepared.batch_sampler), collate_fn=prepared.collate_fn))

    iterators = {name: start_epoch(name) for name in run.train_streams}
    start = time.perf_counter()
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
        loss = torch.nn.functional.cross_entropy(logits, batch["labels"])
        loss.backward()
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return steps * args.batch_size / (time.perf_counter() - start)


def measure(args: argparse.Namespace, repeats: int = 2, warmup_steps: int = 5) -> dict:
    """Time the plain loop and ours, ``args.max_steps`` steps each, ``repeats`` times, in ABBA order
    (plain first in even repeats, ours first in odd ones), so that a drift of the machine's speed
    during the measurement does not favour the loop that always runs first or second.

    Returns:
        samples/s of each repeat of each loop, their means, ``ratio`` = ours / plain of the means
        (1.0: no overhead; 0.95: our loop is 5% slower), and ``repeat_ratios``, ours / plain within
        each repeat (their spread shows the noise of the measurement).
    """
    accelerator = make_accelerator(args)
    if accelerator.num_processes != 1:
        raise SystemExit("the overhead measurement runs in one process: launch it with python, not with several processes")
    args.eval_every = args.max_steps  # one validation, at the end, timed apart from the steps
    args.patience = 0
    run = setup_training(args, accelerator)
    plain_loop(run, args, warmup_steps)
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:

        def time_ours() -> float:
            for stream in run.train_streams.values():  # ours starts from the first batch of epoch 0 too: the same batches
                stream.restore({"epoch": 0, "position": 0})
            return fit(run, args, Path(tmp))["train_samples_per_second"]

        for i in range(repeats):
            plain_first = i % 2 == 0
            if plain_first:
                plain.append(plain_loop(run, args, args.max_steps))
            ours.append(time_ours())
            if not plain_first:
                plain.append(plain_loop(run, args, args.max_steps))
            logger.info("repeat %d (%s first): plain loop %.2f samples/s, ours %.2f samples/s", i + 1,
                        "plain" if plain_first else "ours", plain[-1], ours[-1])
    result = {"steps": args.max_steps, "batch_size": args.batch_size, "order": "ABBA (plain first in odd-numbered repeats)",
              "plain_samples_per_second": plain, "ours_samples_per_second": ours,
              "plain_mean": sum(plain) / repeats, "ours_mean": sum(ours) / repeats,
              "repeat_ratios": [o / p for o, p in zip(ours, plain)]}
    result["ratio"] = result["ours_mean"] / result["plain_mean"]
    return result


def main(argv=None) -> None:
    parser = build_parser()
    parser.prog = "benchmark_overhead.py"
    parser.description = ("Training throughput of mtl-text's loop against a plain PyTorch loop over the same model and batches. "
                          "Takes train.py's options; --max-steps is the number of timed steps per loop and repeat.")
    parser.add_argument("--repeats", type=int, default=2, help="times each loop is timed, in ABBA order (an even number balances it)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the result here")
    from .training import parse_args

    args = parse_args(argv, parser)
    if not args.max_steps:
        args.max_steps = 50
    result = measure(args, repeats=args.repeats)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(f"our loop / plain loop throughput: {result['ratio']:.3f} ({result['ours_mean']:.1f} vs {result['plain_mean']:.1f} samples/s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
