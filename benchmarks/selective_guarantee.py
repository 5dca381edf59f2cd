"""Does a guaranteed minimum confidence keep its promise on new texts? Selection with guaranteed risk
(SGR, Geifman & El-Yaniv 2017; ``mtl-text evaluate --target-accuracy``) finds, on labelled texts,
the lowest minimum confidence whose kept texts reach a target accuracy with probability
``1 - delta`` for texts drawn like them. Two ways to fit it, each judged on texts it never read:

* **test halves**: the test split cut in two at random (``--repeats`` seeded cuts); fitted on one
  half, applied to the other. The two halves are drawn alike, as the guarantee assumes. Reported:
  the number of cuts where a minimum was found, the mean coverage and accuracy on the other half,
  and the number of those cuts where that accuracy fell below the target (the guarantee allows a
  share ``delta``, plus the other half's own sampling noise).
* **validation → test**: fitted on the validation split the model was trained with (carved from
  train), applied to the whole test split; one figure per target, with the kept texts' accuracy
  and its 95% Clopper-Pearson interval. Where test texts are not drawn like the training texts
  (20 Newsgroups' test posts are later than its training posts), nothing is guaranteed.

    python benchmarks/selective_guarantee.py --data-dir ../shared/data --output benchmarks/selective_guarantee.json \\
        runs/quickstart runs/default-s43 runs/default-s44

Single-label tasks only (the others have no one confidence per text).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from scipy.stats import binomtest

from mtl_text.data.tasks import get_task
from mtl_text.inference.evaluation import collect_logits, split_dataloaders, tasks_and_heads, trained_with
from mtl_text.inference.prediction import load_tokenizer
from mtl_text.modeling.heads import guaranteed_min_confidence
from mtl_text.modeling.model import MultiTaskModel


def forecasts(model, dataloaders, name: str, accelerator) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's confidence (its predicted label's probability) and correctness on a whole split."""
    logits, references, _ = collect_logits(model, dataloaders[name], name, accelerator)
    return model.head(name).calibration_forecasts(logits, references)


def applied(confidence: torch.Tensor, correct: torch.Tensor, min_confidence: float | None) -> dict:
    """The rule "keep a text whose confidence >= min_confidence" on other texts: share kept, their accuracy."""
    if min_confidence is None:
        return {"coverage": 0.0, "accuracy": None, "examples": 0}
    kept = confidence >= torch.tensor(min_confidence, dtype=confidence.dtype)
    n = int(kept.sum())
    return {"coverage": n / len(kept), "accuracy": float(correct[kept].double().mean()) if n else None, "examples": n}


def test_halves(confidence, correct, target: float, delta: float, repeats: int, seed: int) -> dict:
    """Fit on a random half of the test texts, judge on the other half, ``repeats`` times."""
    n, found, coverages, accuracies, misses = len(confidence), 0, [], [], 0
    for r in range(repeats):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + r))
        fit_on, judge_on = order[: n // 2], order[n // 2:]
        fit = guaranteed_min_confidence(confidence[fit_on], correct[fit_on], target, delta)
        if fit["min_confidence"] is None:
            continue
        found += 1
        other = applied(confidence[judge_on], correct[judge_on], fit["min_confidence"])
        coverages.append(other["coverage"])
        if other["accuracy"] is not None:
            accuracies.append(other["accuracy"])
            misses += other["accuracy"] < target
    return {"repeats": repeats, "found": found, "coverage": float(np.mean(coverages)) if coverages else 0.0,
            "accuracy": float(np.mean(accuracies)) if accuracies else None, "below_target": misses}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="saved model folders")
    parser.add_argument("--data-dir", required=True, help="the tasks' data")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.9, 0.95, 0.98], help="target accuracies")
    parser.add_argument("--delta", type=float, default=0.05, help="the probability the guarantee may fail")
    parser.add_argument("--repeats", type=int, default=200, help="random halvings of the test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first halving (then seed + 1, ...)")
    parser.add_argument("--output", help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    accelerator, results = Accelerator(), {}
    print(f"delta {args.delta}; test halves: {args.repeats} random cuts\n")
    print("| model | task | target | test halves: cuts with a minimum, mean coverage and accuracy on the other half, cuts below "
          "target | validation → test: min. confidence, "
          "validation coverage, test coverage, test accuracy [95%] |\n|---|---|---:|---|---|")
    for model_dir in args.models:
        config = MultiTaskModel.read_config(model_dir)
        model = MultiTaskModel.from_pretrained(model_dir).eval()
        tokenizer = load_tokenizer(model_dir)
        names = [name for name in model.tasks if model.head(name).can_abstain]
        pairs = tasks_and_heads({name: name for name in names}, model.check_tasks)
        splits = {split: split_dataloaders(model, tokenizer, pairs, split, args.data_dir, trained_with(config), None, None, 128, accelerator)
                  for split in ("validation", "test")}
        for name in names:
            get_task(name)  # registered: the splits above read it
            validation = forecasts(model, splits["validation"], name, accelerator)
            test = forecasts(model, splits["test"], name, accelerator)
            for target in args.targets:
                halves = test_halves(*test, target, args.delta, args.repeats, args.seed)
                fit = guaranteed_min_confidence(*validation, target, args.delta)
                on_test = applied(*test, fit["min_confidence"])
                interval = (binomtest(round(on_test["accuracy"] * on_test["examples"]), on_test["examples"]).proportion_ci(method="exact")
                            if on_test["examples"] else None)
                row = {"test_halves": halves, "validation_fit": fit, "test": {**on_test, "interval": [interval.low, interval.high]
                                                                             if interval else None}}
                results.setdefault(model_dir, {}).setdefault(name, {})[str(target)] = row
                half = (f"{halves['found']}/{args.repeats}, {halves['coverage']:.4f}, {halves['accuracy']:.4f}, "
                        f"{halves['below_target']}/{halves['found']}" if halves["accuracy"] is not None else f"0/{args.repeats}, -")
                if fit["min_confidence"] is None:
                    transfer = "none found on validation"
                else:
                    accuracy = "-" if on_test["accuracy"] is None else f"{on_test['accuracy']:.4f} [{interval.low:.4f}, {interval.high:.4f}]"
                    transfer = f"{fit['min_confidence']:.6f}, {fit['coverage']:.4f}, {on_test['coverage']:.4f}, {accuracy}"
                print(f"| {model_dir} | {name} | {target:g} | {half} | {transfer} |", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({"delta": args.delta, "repeats": args.repeats, "models": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
