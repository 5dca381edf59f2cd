"""``mtl-text calibrate``: temperature scaling of a saved model's classification heads: each head's
logits are divided by one temperature, fitted on the validation split the model was trained with, so
that its probabilities match how often it is right (Guo et al. 2017); the predictions and accuracy
are unchanged. The calibrated model is written to a new folder, scored on the test splits (the ECE
column shows the change) with its test results and model card beside it, as training writes them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arguments import Arguments, PositiveInt, data_dir_option, task_file_option, token_option
from .parsing import ArgumentParser


@dataclass
class CalibrateArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training, or a Hugging Face Hub id (OWNER/NAME, or OWNER/NAME@REVISION for a branch, tag or commit) where no such folder exists"})
    output_dir: str = field(metadata={"help": "the folder of the calibrated model (created; not the model's own folder)"})
    tasks: list[str] | None = field(default=None, metadata={
        "metavar": "TASK|all",
        "help": "the heads to calibrate (default: every classification head; regression heads have no probabilities)"})
    overwrite_output_dir: bool = field(default=False, metadata={
        "help": "replace a model already in --output-dir, removing its checkpoints, metrics.jsonl and test results first, as "
                "training does (other files stay)"})
    task_file: list[str] = task_file_option()
    data_dir: str | None = data_dir_option()
    batch_size: PositiveInt = field(default=128, metadata={"help": "examples per batch and process"})
    verify_hashes: bool = field(default=True, metadata={
        "help": "check the SHA-256 of every model file against config.json (sizes are always checked); --no-verify-hashes skips "
                "it for very large models"})
    token: str | None = token_option("read a private or gated Hub model")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from accelerate import Accelerator

    from ..data.tasks import load_task_file
    from ..inference.calibration import calibrate_model
    from ..inference.evaluation import format_table
    from ..utils.log import setup_logging

    (args,), _ = ArgumentParser(CalibrateArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    accelerator = Accelerator()
    setup_logging(accelerator.is_main_process)
    for spec in args.task_file:
        load_task_file(spec)
    metrics: dict = {}
    report = calibrate_model(args.model, args.output_dir, args.tasks, args.data_dir, args.batch_size, accelerator, args.verify_hashes,
                             args.token, args.overwrite_output_dir, metrics)
    if accelerator.is_main_process:
        print("| task | temperature | validation loss | validation ECE |\n|---|---|---|---|")
        for name, r in report.items():
            print(f"| {name} | {r['temperature']:.4f} | {r['loss_before']:.4f} -> {r['loss_after']:.4f} | "
                  f"{r['ece_before']:.4f} -> {r['ece_after']:.4f} |")
        print(f"\nTest results (calibrated model):\n{format_table(metrics)}\nCalibrated model saved to {args.output_dir}")
    accelerator.end_training()
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
