"""Checkpoint averaging: one model whose weights are the mean of a run's last K checkpoints, saved as
a model folder and scored on each task's test split (``test_predictions.json``, which
``benchmarks/compare_runs.py`` compares with the run's own best-validation model and with baselines).

    python scripts/train.py --tasks 20newsgroups sst2 --data-dir ../shared/data --wide-buckets 262144 --wide-svm none --num-epochs 2 \\
        --seed 42 --eval-every 555 --save-total-limit 20 --output-dir runs/avg/s42
    python benchmarks/average_checkpoints.py runs/avg/s42 --last 2 --data-dir ../shared/data --output-dir runs/avg/s42-avg2
    python benchmarks/compare_runs.py runs/avg/s42-avg2:runs/avg/s42

Averaging the weights of the last few checkpoints of one run is Vaswani et al. 2017 ("Attention is
all you need", the last 5 or 20 checkpoints; fairseq's ``scripts/average_checkpoints.py``) and,
along a trajectory, Izmailov et al. 2018 (stochastic weight averaging): one model, one encoder pass
per prediction, unlike an ensemble. A training run keeps a checkpoint at each validation
(``--save-total-limit`` of them); the weights averaged are each checkpoint's ``model.safetensors``,
so the result has the run's architecture, tokenizer and heads. Without the wide part's SVM only
(``--wide-svm none``; by default 20 Newsgroups' wide part gains one): the SVM is fitted into the saved
best model after training, not into the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from mtl_text.inference.evaluation import evaluate_model, format_table
from mtl_text.inference.prediction import load_tokenizer
from mtl_text.modeling.model import MultiTaskModel
from mtl_text.training.checkpointing import list_checkpoints


def averaged_weights(checkpoints: list[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean (in float32, cast back) of the checkpoints' ``model.safetensors``.

    Raises:
        ValueError: checkpoints whose tensors differ in names or shapes (naming the first that differs).
    """
    states = [load_file(str(c / "model.safetensors")) for c in checkpoints]
    for path, state in zip(checkpoints[1:], states[1:]):
        bad = [n for n in states[0] if n not in state or state[n].shape != states[0][n].shape] + [n for n in state if n not in states[0]]
        if bad:
            raise ValueError(f"{path / 'model.safetensors'}: tensor {bad[0]!r} differs in name or shape from {checkpoints[0]}")
    return {n: torch.stack([s[n].float() for s in states]).mean(0).to(t.dtype) for n, t in states[0].items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a training output folder (its model and its checkpoints/)")
    parser.add_argument("--last", type=int, default=2, metavar="K", help="average the last K checkpoints (default 2)")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--output-dir", required=True, help="where the averaged model, test_predictions.json and test_results.json go")
    args = parser.parse_args(argv)
    run = Path(args.run)
    checkpoints = list_checkpoints(run)
    if args.last < 1 or args.last > len(checkpoints):
        sys.exit(f"error: --last {args.last}: {run} holds {len(checkpoints)} checkpoint(s) "
                 f"({', '.join(c.name for c in checkpoints) or 'none'}); keep more with --save-total-limit")
    config = MultiTaskModel.read_config(run)
    if config.get("wide_svm") or config.get("training_config", {}).get("heads", {}).get("wide_svm") not in (None, [], ["none"]):
        sys.exit(f"error: {run} has a linear SVM in a wide part (--wide-svm; 20 Newsgroups' by default): it is in the saved model, not in the "
                 "checkpoints; train with --wide-svm none")
    chosen = checkpoints[-args.last:]
    model = MultiTaskModel.from_pretrained(run)
    try:
        model.load_state_dict(averaged_weights(chosen))
    except (ValueError, RuntimeError) as e:
        sys.exit(f"error: {e}")
    out = Path(args.output_dir)
    steps = [int(c.name.split("-")[1]) for c in chosen]
    model.save_pretrained(out, load_tokenizer(run), {"training_config": config.get("training_config", {}), "averaged_steps": steps})
    predictions: dict = {}
    results = evaluate_model(out, data_dir=args.data_dir, predictions=predictions)
    (out / "test_predictions.json").write_text(json.dumps(predictions) + "\n")
    (out / "test_results.json").write_text(json.dumps({"run": str(run), "averaged_steps": steps, "metrics": results}, indent=2) + "\n")
    print(f"the weights of steps {steps} averaged; test split:")
    print(format_table(results))


if __name__ == "__main__":
    main()
