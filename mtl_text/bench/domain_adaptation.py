"""Domain adaptation on the multi-domain Amazon reviews (Blitzer et al. 2007): for each pair of domains
``S -> T`` and each seed, a sentiment model trained on S's labels is scored on T's test split

* **source only**: trained on S alone (vocabulary and Word2Vec from S's text);
* **+ target text**: ``--adapt S=T --mmd-weight 0``: T's training texts (labels ignored) join the
  vocabulary and the Word2Vec corpus, no MMD loss;
* **MMD**: ``--adapt S=T --mmd-weight λ``: the same, plus ``λ · MMD²`` between S's and T's pooled vectors
  in every step (:mod:`mtl_text.transfer.mmd`);
* **in-domain**: trained on T's own labels (the ceiling).

Every difference comes with a 95% paired-bootstrap interval over T's 400 test reviews (mean over
seeds per resample); the mean over pairs with a t-interval over pairs. Writes ``results.json`` and
``results.md`` in ``--output-dir`` (``python scripts/domain_adaptation.py --help``).
"""

from __future__ import annotations

import itertools
import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..arguments import Arguments, PositiveFloat, data_dir_option
from .experiments import compare, fmt, fmt_score, mean_of, run_training, write_results

logger = logging.getLogger("mtl_text.experiments")

DOMAINS = ("books", "dvd", "electronics", "kitchen")


@dataclass
class DomainAdaptationArguments(Arguments):
    pairs: list[str] = field(default_factory=lambda: [f"{s}:{t}" for s, t in itertools.permutations(DOMAINS, 2)], metadata={
        "metavar": "SOURCE:TARGET", "help": f"domain pairs (domains: {', '.join(DOMAINS)}); default all 12"})
    seeds: list[int] = field(default_factory=lambda: [42, 43, 44], metadata={"help": "seeds; every condition runs once per seed"})
    mmd_weight: PositiveFloat = field(default=1.0, metadata={"help": "λ of the MMD rows"})
    data_dir: str | None = data_dir_option()
    train_args: str = field(default="", metadata={"help": "extra training options for every run, as on the command line, one string"})
    output_dir: str = field(default="benchmarks/domain-adaptation", metadata={"help": "where results.json and results.md go"})
    work_dir: str = field(default="runs/domain-adaptation", metadata={"help": "per-run results (a finished run is not trained again)"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Source-only vs MMD-adapted sentiment across Amazon review domains, with paired-bootstrap intervals."""
    from ..cli.parsing import ArgumentParser
    from ..utils.log import setup_logging
    from .benchmark import machine_description

    setup_logging()
    (args,), _ = ArgumentParser(DomainAdaptationArguments, prog=prog or "domain_adaptation.py", description=main.__doc__).parse(argv)
    command = "python scripts/domain_adaptation.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    extra = [*(["--data-dir", args.data_dir] if args.data_dir else []), *shlex.split(args.train_args)]
    out, work = Path(args.output_dir), Path(args.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    pairs = [tuple(p.split(":")) for p in args.pairs]
    conditions = {"source only": None, "+ target text": 0.0, "MMD": args.mmd_weight}

    def run(name: str, source: str, target: str, seed: int, mmd_weight: float | None) -> dict:
        s, t = f"amazon_{source}", f"amazon_{target}"
        argv = ["--tasks", s, "--seed", str(seed), *extra]
        if mmd_weight is not None:
            argv += ["--adapt", f"{s}={t}", "--mmd-weight", str(mmd_weight)]
        record = run_training(argv, work / f"{source}-{target}" / name.replace(" ", "-").replace("+", "plus") / f"seed-{seed}",
                              cross={t: s}, data_dir=args.data_dir)
        scored = record["cross"][t]
        return {"predictions": scored["predictions"], "references": scored["references"], "score": scored["metrics"]["accuracy"]}

    in_domain = {d: [] for d in {t for _, t in pairs}}
    for target in in_domain:
        for seed in args.seeds:
            record = run_training(["--tasks", f"amazon_{target}", "--seed", str(seed), *extra], work / "in-domain" / target / f"seed-{seed}")
            p = record["predictions"][f"amazon_{target}"]
            in_domain[target].append({"predictions": p["predictions"], "references": p["references"],
                                      "score": record["metrics"][f"amazon_{target}"]["accuracy"]})
    rows = []
    for source, target in pairs:
        runs = {c: [run(c, source, target, seed, o) for seed in args.seeds] for c, o in conditions.items()}
        row = {"source": source, "target": target, "accuracy": {c: mean_of([r["score"] for r in rs]) for c, rs in runs.items()},
               "in_domain": mean_of([r["score"] for r in in_domain[target]]),
               "mmd_vs_source_only": compare(runs["MMD"], runs["source only"]),
               "mmd_vs_target_text": compare(runs["MMD"], runs["+ target text"]),
               "target_text_vs_source_only": compare(runs["+ target text"], runs["source only"])}
        rows.append(row)
        logger.info("%s -> %s: source only %.4f, + target text %.4f, MMD %.4f, in-domain %.4f; MMD - source only %s", source, target,
                    row["accuracy"]["source only"]["mean"], row["accuracy"]["+ target text"]["mean"], row["accuracy"]["MMD"]["mean"],
                    row["in_domain"]["mean"], fmt(row["mmd_vs_source_only"]))
    summary = {key: mean_of([r[key]["delta"] for r in rows]) for key in ("mmd_vs_source_only", "mmd_vs_target_text", "target_text_vs_source_only")}
    results = {"command": command, "machine": machine_description(), "date": time.strftime("%Y-%m-%d"), "seeds": args.seeds,
               "mmd_weight": args.mmd_weight, "train_args": args.train_args, "rows": rows, "mean_over_pairs": summary,
               "wall_seconds": round(time.time() - start, 1)}
    write_results(out, results, markdown(results))
    return 0


def markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']}. Command: `{results['command']}`. Seeds {results['seeds']}, λ = {results['mmd_weight']}; "
             "target-domain test accuracy (400 reviews), mean ± std over seeds; differences with 95% paired-bootstrap intervals over "
             "the test reviews (`*`: the interval excludes 0).", "",
             "| source → target | source only | + target text | MMD | in-domain | MMD − source only | MMD − (+ target text) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        acc = r["accuracy"]
        lines.append(f"| {r['source']} → {r['target']} | " + " | ".join(fmt_score(acc[c]) for c in ("source only", "+ target text", "MMD"))
                     + f" | {r['in_domain']['mean']:.4f} | {fmt(r['mmd_vs_source_only'])} | {fmt(r['mmd_vs_target_text'])} |")
    s = results["mean_over_pairs"]
    lines += ["", "Mean over the pairs (95% t-interval over pairs): " + "; ".join(
        f"{k.replace('_', ' ')} {v['mean']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}]" for k, v in s.items()) + "."]
    return "\n".join(lines) + "\n"
