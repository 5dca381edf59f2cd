"""``mtl-text env``: the environment, for a bug report: versions of mtl-text, Python and every package
it runs on (the extras too), the CPU and its bf16 support, the GPUs, Accelerate's default
configuration, the data folder and the Hugging Face Hub settings (of a token, only whether one is
set). Paste its lines into the issue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..arguments import Arguments, data_dir_option
from .parsing import ArgumentParser


@dataclass
class EnvArguments(Arguments):
    data_dir: str | None = data_dir_option()
    json: bool = field(default=False, metadata={"help": "print one JSON object (field -> value) instead of Markdown lines"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from ..utils.environment import environment_report

    (args,), _ = ArgumentParser(EnvArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    report = environment_report(args.data_dir)
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print("Copy and paste the lines below into your issue, with the command you ran and what it printed.\n")
        print("\n".join(f"- {name}: {value}" for name, value in report.items()))
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
