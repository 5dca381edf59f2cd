"""bf16 autocast against fp32 for a transformer on this CPU: seconds per batch of its forward pass
(prediction) and of a training step (forward and backward), the two settings alternating.

Whether ``accelerate launch --mixed_precision bf16`` pays on a CPU depends on its instructions
(mtl_text.utils.hardware): with AVX512-BF16 or AMX it is faster than fp32, without them slower.

    python benchmarks/bf16_cpu.py --model ../shared/models/all-MiniLM-L6-v2
    python benchmarks/bf16_cpu.py --model ../shared/models/all-MiniLM-L6-v2 --batch-size 16 --seq-len 256 --seconds 5
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModel

from mtl_text.bench.benchmark import machine_description


def seconds_per_batch(model, input_ids: torch.Tensor, train: bool, bf16: bool, seconds: float) -> float:
    """Mean seconds of one forward pass (``train``: forward and backward of the mean hidden state)
    over ``(batch, seq_len)`` ids, repeated for at least ``seconds`` after one warm-up pass."""
    mask = torch.ones_like(input_ids)

    def once():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if train:
            hidden.float().mean().backward()

    with torch.set_grad_enabled(train):
        model.train(train)
        once()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            once()
            n += 1
    model.zero_grad(set_to_none=True)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a Hugging Face model folder or Hub id")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    parser.add_argument("--seq-len", type=int, default=256, help="tokens per text (random ids, no padding)")
    parser.add_argument("--seconds", type=float, default=4.0, help="timing of each measurement, at least")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of fp32 then bf16")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = AutoModel.from_pretrained(args.model)
    ids = torch.randint(1000, 20000, (args.batch_size, args.seq_len))
    print(f"Machine: {machine_description()}, {torch.get_num_threads()} threads. Batches of {args.batch_size} x {args.seq_len} tokens.\n")
    print("| pass | fp32 (s per batch) | bf16 autocast (s per batch) | bf16 / fp32 time |")
    print("|---|---:|---:|---:|")
    for train in (False, True):
        fp32, bf16 = [], []
        for _ in range(args.rounds):
            fp32.append(seconds_per_batch(model, ids, train, False, args.seconds))
            bf16.append(seconds_per_batch(model, ids, train, True, args.seconds))
        a, b = sum(fp32) / len(fp32), sum(bf16) / len(bf16)
        print(f"| {'training step' if train else 'forward (prediction)'} | {a:.3f} | {b:.3f} | {b / a:.2f} |", flush=True)


if __name__ == "__main__":
    main()
