"""ONNX Runtime against PyTorch for saved models (``python scripts/benchmark_onnx.py --help``).

For each model: exported to ONNX in fp32 and in int8 (dynamic quantization), then scored on a
task's test split by three predictors (PyTorch, ONNX fp32, ONNX int8), each through the same
:class:`~mtl_text.Predictor` (same tokenization and decoding): throughput at each batch size (texts
scored in batches, passes repeated for at least ``--min-seconds``; :func:`mtl_text.bench.speed.measure`),
the test accuracy of the task's head, and the largest absolute logit difference from PyTorch.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..arguments import Arguments, NonNegativeFloat, PositiveInt, data_dir_option


@dataclass
class OnnxBenchmarkArguments(Arguments):
    models: list[str] = field(metadata={"help": "saved model folders to compare (each must have a head for --task)"})
    task: str = field(default="sst2", metadata={"help": "the task whose test texts are scored (single texts)"})
    data_dir: str | None = data_dir_option()
    batch_sizes: list[int] = field(default_factory=lambda: [1, 64], metadata={"help": "texts per call"})
    min_seconds: NonNegativeFloat = field(default=3.0, metadata={"help": "per throughput figure, at least this long"})
    max_texts: PositiveInt | None = field(default=None, metadata={"help": "time only the first N test texts"})
    output_dir: str = field(default="benchmarks/onnx", metadata={"help": "where results.json and results.md go"})
    work_dir: str = field(default="runs/onnx", metadata={"help": "where the exports are written (an existing export is reused)"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """ONNX Runtime (fp32, int8) against PyTorch: throughput at batch 1 and 64, test accuracy, logit difference."""
    import torch

    from ..cli.parsing import ArgumentParser
    from ..data.splits import column, load_test_split
    from ..data.tasks import get_task
    from ..inference.onnx import export_onnx
    from ..inference.prediction import Predictor
    from ..utils.allocator import tune_malloc
    from ..utils.log import setup_logging
    from .benchmark import machine_description
    from .experiments import write_results
    from .speed import measure

    (args,), _ = ArgumentParser(OnnxBenchmarkArguments, prog=prog or "python scripts/benchmark_onnx.py", description=main.__doc__).parse(argv)
    setup_logging()
    tune_malloc()
    test = load_test_split(get_task(args.task), args.data_dir)
    texts, references = column(test, "text"), np.asarray(column(test, "label"))
    timed = texts[: args.max_texts]
    rows = []
    for model in args.models:
        name = Path(model).name
        exports = {"onnx-fp32": Path(args.work_dir) / f"{name}-fp32", "onnx-int8": Path(args.work_dir) / f"{name}-int8"}
        for backend, folder in exports.items():
            if not (folder / "onnx.json").is_file():
                export_onnx(model, folder, quantize=backend == "onnx-int8")
        reference_logits = None
        for backend, folder in [("torch", Path(model)), *exports.items()]:
            predictor = Predictor.from_pretrained(folder, batch_size=max(args.batch_sizes), backend="torch" if backend == "torch" else "onnx")
            logits = predictor.predict_logits(texts, [args.task])[args.task]
            reference_logits = logits if reference_logits is None else reference_logits
            row = {"model": name, "backend": backend, "accuracy": float((logits.argmax(-1).numpy() == references).mean()),
                   "max_abs_logit_difference": float((logits - reference_logits).abs().max()),
                   "file_mb": sum(f.stat().st_size for f in folder.glob("*.onnx")) / 1e6 if backend != "torch" else
                   (Path(model) / "model.safetensors").stat().st_size / 1e6}
            for batch in args.batch_sizes:
                predictor.batch_size = batch
                with torch.inference_mode():
                    result = measure(lambda t, p=predictor: p.predict_labels(t, [args.task]), timed, batch_size=batch,
                                     min_seconds=args.min_seconds, latency_texts=1)
                row[f"texts_per_second_batch_{batch}"] = result["texts_per_second"]
            rows.append(row)
            print(f"{name} {backend}: accuracy {row['accuracy']:.4f}, " + ", ".join(
                f"batch {b}: {row[f'texts_per_second_batch_{b}']:,.0f} texts/s" for b in args.batch_sizes), flush=True)
    command = "python scripts/benchmark_onnx.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    head = "| model | backend | " + " | ".join(f"texts/s, batch {b}" for b in args.batch_sizes) + \
        f" | {args.task} test accuracy | max abs logit difference from torch | weights (MB) |"
    lines = [f"Machine: {machine_description()}. Command: `{command}`. {len(timed)} test texts timed; accuracy on all {len(texts)}.", "",
             head, "|---|---|" + "---:|" * (len(args.batch_sizes) + 3)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['backend']} | " + " | ".join(f"{r[f'texts_per_second_batch_{b}']:,.0f}" for b in args.batch_sizes)
                     + f" | {r['accuracy']:.4f} | {r['max_abs_logit_difference']:.2e} | {r['file_mb']:.1f} |")
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    write_results(Path(args.output_dir), {"machine": machine_description(), "command": command, "arguments": args.to_dict(), "rows": rows},
                  "\n".join(lines) + "\n")
    return 0
