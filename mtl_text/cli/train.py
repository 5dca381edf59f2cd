"""``mtl-text train`` / ``accelerate launch scripts/train.py``: train tasks jointly. The options are
the fields of :class:`~mtl_text.training.config.TrainingConfig`'s groups."""

from __future__ import annotations

from ..data.tasks import get_task, list_tasks, load_task_file
from ..training.config import GROUPS, TrainingConfig, read_options_file
from .parsing import ArgumentParser


def build_parser(prog: str | None = None) -> ArgumentParser:
    parser = ArgumentParser(
        list(GROUPS.values()), prog=prog,
        description="Train one shared encoder with one head per task, jointly on several tasks. Launch with "
        "`accelerate launch scripts/train.py ...` (or `accelerate launch -m mtl_text train ...`) for several processes or GPUs, "
        "or plainly for one process.")
    parser.add_argument("--list-tasks", action="store_true", help="print the registered tasks (and those of --task-file) and exit")
    parser.add_argument("--config", metavar="FILE_OR_MODEL", help=(
        "read options from a JSON file, the options on the command line overriding it: flat option names "
        "({\"tasks\": [\"sst2\"], \"batch_size\": 16}), the groups of TrainingConfig.to_dict(), or a saved model's folder (or its "
        "config.json, or its Hugging Face Hub id OWNER/NAME[@REVISION] where no such path exists here: only config.json is downloaded) to "
        "train again with the options that run resolved, except where it wrote (--output-dir, --overwrite-output-dir, "
        "--resume-from-checkpoint, --cache-dir keep their defaults). Paths in the file are read from the working directory"))
    return parser


def parse_config(argv: list[str] | None = None, prog: str | None = None) -> tuple[TrainingConfig, bool]:
    """The configuration from command-line arguments (over those of ``--config FILE``), and whether
    ``--list-tasks`` was given.

    Raises:
        ConfigError: an option out of range or options that exclude each other; an unreadable
            ``--config`` file, or an unknown or ill-typed option in it.
    """
    parser = build_parser(prog)
    config_file = parser.parse_known_args(argv)[0].config
    if config_file:
        parser.set_defaults(**read_options_file(config_file))  # defaults: the command line's options win
    groups, rest = parser.parse(argv)
    return TrainingConfig(*groups), rest.list_tasks


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    config, listing = parse_config(argv, prog)  # before torch loads: --help and bad options answer at once
    for spec in config.data.task_file:
        load_task_file(spec)
    if listing:
        width = max(map(len, list_tasks()))
        for name in list_tasks():
            task = get_task(name)
            outputs = f"{task.num_labels} target{'s' if task.num_labels > 1 else ''}" if task.problem_type == "regression" else \
                f"{task.num_labels} labels"
            print(f"{name:{width}} {outputs:>10}  {task.problem_type:28} {'pairs' if task.text_pair else 'texts':5}  {task.pooling:9} pooling  "
                  f"{'wide SVM' if task.wide_svm else 'no wide' if not task.wide else '':8}  {task.description}")
        return 0
    from ..training.trainer import train

    train(config)
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
