"""Gradient checkpointing (``--gradient-checkpointing``) against plain training of a transformer
encoder: peak resident memory and seconds per training step on real 20 Newsgroups posts, each
setting in a fresh process (so that its peak memory is its own), the two settings alternating.

Each child builds a model as ``mtl-text train --encoder transformer`` does (the pretrained encoder
with ``--window-length`` windows, mean pooling, a head for the task), reads the same batches of the
task's training posts (drawn with ``--seed``, cut at ``--max-length`` tokens) and runs one warm-up
step, then ``--steps`` timed AdamW steps (forward, backward, update). It reports the resident
memory before the first step and its peak during the steps (Linux's ``VmHWM``, reset before them).
Their difference is what training adds: the gradients, AdamW's two moments and the activations,
which checkpointing shrinks. Linux only (``/proc/self``).

    python benchmarks/gradient_checkpointing.py --model ../shared/models/all-MiniLM-L6-v2 --data-dir ../shared/data
    python benchmarks/gradient_checkpointing.py --model ../shared/models/all-MiniLM-L6-v2 --data-dir ../shared/data \\
        --window-length 256 --max-length 1024 --batch-size 16 --bf16
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def status_mib(field: str) -> float:
    """A memory figure of this process from Linux's ``/proc/self/status`` (``VmRSS``: resident now,
    ``VmHWM``: the peak), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 2**10  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_rss() -> None:
    """Start the peak (``VmHWM``) again from the resident memory now (Linux 4.0+: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def child(args: argparse.Namespace) -> dict:
    """One setting's measurement in this process: resident MiB before the first step and at the
    peak, and the median seconds per step."""
    import torch
    from transformers import AutoTokenizer

    from mtl_text.data.collation import PaddingCollator
    from mtl_text.data.splits import load_task_splits
    from mtl_text.data.tasks import get_task
    from mtl_text.modeling.encoders import TransformerEncoder
    from mtl_text.modeling.model import MultiTaskModel

    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    encoder = TransformerEncoder.from_pretrained(args.model, window_length=args.window_length)
    if args.checkpointing:
        encoder.enable_gradient_checkpointing()
    task = get_task(args.task)
    model = MultiTaskModel(encoder, {task.name: {"labels": list(task.labels), "max_length": args.max_length}}, pooling="mean").train()
    train = load_task_splits(task, args.data_dir, seed=args.seed)["train"].shuffle(seed=args.seed)
    n = args.batch_size * (args.steps + 1)
    encoded = tokenizer(train["text"][:n], truncation=True, max_length=args.max_length)
    collate = PaddingCollator(tokenizer)
    batches = [collate({"input_ids": encoded["input_ids"][i: i + args.batch_size],
                        "attention_mask": encoded["attention_mask"][i: i + args.batch_size],
                        "labels": train["label"][i: i + args.batch_size]}) for i in range(0, n, args.batch_size)]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    before = status_mib("VmRSS")
    reset_peak_rss()  # the peak of the steps alone, not of loading the data
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(batch["input_ids"], batch["attention_mask"], task=task.name, labels=batch["labels"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - start)
    peak = status_mib("VmHWM")
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[1:])
    return {"rss_before_mib": before, "peak_rss_mib": peak, "seconds_per_step": statistics.median(seconds[1:]),
            "tokens_per_step": tokens / args.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face model folder or Hub id")
    parser.add_argument("--data-dir", default=None, help="the local data folder (e.g. ../shared/data); default: download")
    parser.add_argument("--task", default="20newsgroups", help="the registered task whose training texts are read")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens kept per text")
    parser.add_argument("--window-length", type=int, default=256, help="--window-length of the encoder (0: no windows)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per step")
    parser.add_argument("--steps", type=int, default=8, help="timed steps after one warm-up step")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of without, then with checkpointing, each in a new process")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, as accelerate launch --mixed_precision bf16")
    parser.add_argument("--seed", type=int, default=42, help="which posts make the batches")
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)  # a child's setting
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.window_length = args.window_length or None
    if args.child:
        print(json.dumps(child(args)))
        return

    from mtl_text.bench.benchmark import machine_description

    results: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(args.rounds):
        for checkpointing in (False, True):
            cmd = [sys.executable, __file__, "--child", *sys.argv[1:]] + (["--checkpointing"] if checkpointing else [])
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            results[checkpointing].append(json.loads(out.strip().splitlines()[-1]))
    first = results[False][0]
    print(f"Machine: {machine_description()}. {args.model}, {args.task} training posts cut at {args.max_length} tokens, windows of "
          f"{args.window_length or 'none'}, batches of {args.batch_size} ({first['tokens_per_step']:,.0f} tokens per step), "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}; medians of {args.rounds} processes per setting, {args.steps} steps each.\n")
    print("| setting | resident before the steps (MiB) | peak resident (MiB) | added by training (MiB) | s per step |")
    print("|---|---:|---:|---:|---:|")
    for checkpointing, runs in results.items():
        before = statistics.median(r["rss_before_mib"] for r in runs)
        peak = statistics.median(r["peak_rss_mib"] for r in runs)
        step = statistics.median(r["seconds_per_step"] for r in runs)
        print(f"| {'gradient checkpointing' if checkpointing else 'plain'} | {before:,.0f} | {peak:,.0f} | {peak - before:,.0f} | "
              f"{step:.2f} |")


if __name__ == "__main__":
    main()
