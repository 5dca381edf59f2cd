"""The command-line parser: generated from the library's option dataclasses by transformers'
``HfArgumentParser`` (every option has one definition: its dataclass field), with each option's
valid range added to its ``--help`` text."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from transformers import HfArgumentParser

from ..arguments import field_ranges
from ..errors import InputError


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except one that says nothing: ``None`` or an empty list (the
    option's help then says what happens without it, e.g. "default: twice per epoch")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(HfArgumentParser):
    """``HfArgumentParser`` that shows ranges and the hyphenated option names (``--batch-size``;
    ``--batch_size`` is accepted too) in ``--help``, and builds the dataclasses strictly (unknown
    options are an argparse error, exit status 2)."""

    def __init__(self, dataclass_types, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(dataclass_types, **kwargs)
        ranges = {name: r for dtype in self.dataclass_types for name, r in field_ranges(dtype).items()}
        for action in self._actions:
            if action.dest in ranges and action.help:
                action.help += f" (valid: {ranges[action.dest]})"
            # the hyphenated spelling first (usage and help show it; both are accepted)
            action.option_strings.sort(key=lambda option: "_" in option)

    def parse(self, argv: list[str] | None = None) -> tuple[list, argparse.Namespace]:
        """Parse ``argv`` into one instance per dataclass (whose construction checks the values:
        :class:`~mtl_text.errors.ConfigError`), and a namespace of the other options."""
        namespace = self.parse_args(argv)
        values = vars(namespace)
        instances, used = [], set()
        for dtype in self.dataclass_types:
            keys = {f.name for f in dataclasses.fields(dtype) if f.init}
            instances.append(dtype(**{k: values[k] for k in keys if k in values}))
            used |= keys
        rest = argparse.Namespace(**{k: v for k, v in values.items() if k not in used})
        return instances, rest


def input_file(path: str, option: str = "--input") -> Path:
    """``path`` checked to be readable as a file: it exists and is not a folder (a named pipe, as
    ``--input <(zcat texts.jsonl.gz)`` gives, is read as a file).

    Raises:
        InputError: ``path`` does not exist, or is a folder (named with ``option``).
    """
    file = Path(path)
    if not file.exists():
        raise InputError(f"{option}: {file} not found")
    if file.is_dir():
        raise InputError(f"{option}: {file} is a folder; give a file")
    return file


def output_file(path: str | None, option: str) -> Path | None:
    """``path`` checked to be writable as a file before any work is done: not a folder, in a folder
    that exists (``None`` stays ``None``). The commands then write it whole or not at all
    (:func:`~mtl_text.utils.files.atomic_open`).

    Raises:
        InputError: ``path`` is a folder, or its folder does not exist (named with ``option``).
    """
    if path is None:
        return None
    file = Path(path)
    if file.is_dir():
        raise InputError(f"{option} {file}: a folder; expected a file name")
    if not file.parent.is_dir():
        raise InputError(f"{option} {file}: the folder {file.parent} does not exist")
    return file
