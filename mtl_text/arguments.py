"""Typed options: dataclasses whose fields are the options of the command line and of the Python
API alike (in the style of transformers' ``TrainingArguments`` and ``HfArgumentParser``).

A numeric field declares its valid range once, in its type: ``Annotated[int, Range(min=1)]``
(``PositiveInt``), or ``PositiveInt | None`` for an optional one.
:class:`Arguments` checks every option's type (:func:`type_error`) and range (:func:`range_error`)
when an instance is built, from Python or from the command line, before anything is loaded, and
raises :class:`~mtl_text.errors.ConfigError` naming the option. The command line's parser
(:mod:`mtl_text.cli.parsing`) also prints each range in ``--help``.

An option that gives values per task (``--max-length sst2=64 trec=32``) declares how its values
read once, in its type too: ``Annotated[list[str], TaskValues(...)]`` (:class:`TaskValues`).

The options several commands share (``--data-dir``, ``--task-file``, ``--seed``) are defined here,
once.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .errors import ConfigError


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric option: ``min``/``max`` bounds (``None``: unbounded), each
    inclusive unless ``*_exclusive`` says otherwise."""

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    def __contains__(self, value) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.min is not None and (value < self.min or (self.min_exclusive and value == self.min)):
            return False
        return not (self.max is not None and (value > self.max or (self.max_exclusive and value == self.max)))

    def __str__(self) -> str:
        if self.min is not None and self.max is not None:
            return f"in {'(' if self.min_exclusive else '['}{self.min:g}, {self.max:g}{')' if self.max_exclusive else ']'}"
        if self.min is not None:
            return f"{'>' if self.min_exclusive else '>='} {self.min:g}"
        if self.max is not None:
            return f"{'<' if self.max_exclusive else '<='} {self.max:g}"
        return "any number"


# The ranges many options share, declared once: ``batch_size: PositiveInt = field(...)``.
FRACTION_RANGE = Range(min=0, max=1, min_exclusive=True, max_exclusive=True)  # in (0, 1): a share of a split, a decay
PositiveInt = Annotated[int, Range(min=1)]
NonNegativeInt = Annotated[int, Range(min=0)]
Probability = Annotated[float, Range(min=0, max=1, max_exclusive=True)]  # in [0, 1): a dropout rate
Fraction = Annotated[float, FRACTION_RANGE]
CONFIDENCE_RANGE = Range(min=0, max=1, min_exclusive=True)  # in (0, 1]: a minimum probability
Confidence = Annotated[float, CONFIDENCE_RANGE]
PositiveFloat = Annotated[float, Range(min=0, min_exclusive=True)]  # a learning rate, a temperature
NonNegativeFloat = Annotated[float, Range(min=0)]  # a weight, a number of seconds
SEED_RANGE = Range(min=0)  # numpy's generators take non-negative seeds
Seed = Annotated[int, SEED_RANGE]

DEFAULT_VALIDATION_SIZE = 0.1  # the share of a task's train split held out for validation, in training and the baselines


@dataclass(frozen=True)
class TaskValues:
    """How the items of a ``TASK=VALUE`` option read (``--max-length sst2=64 trec=32``), declared
    once in the option's type: ``Annotated[list[str], TaskValues("TASK=N with N >= 1",
    positive_integer)]``. :class:`Arguments` checks every item when an instance is built and takes
    a Python user's mapping (``max_length={"sst2": 64}``) as the same items; :meth:`read` gives
    the option as task -> value.

    Attributes:
        expected: what an item must be, for messages: ``"TASK=N with N >= 1"``.
        parse: one ``VALUE`` (the text after the first ``=``) -> its value; raises
            :class:`ValueError` where the text does not fit.
        several: a task may be named several times, its values kept in order (``--distill-texts``);
            otherwise a task named twice is an error, never a silent "last one wins".
        bare: an item without ``TASK=`` applies to every task not named, under the key ``"*"``
            (``--pooling max sst2=mean``).
        hint: added to the message where an item has no ``=`` (and ``bare`` is off), e.g. that a
            text was taken for an item.
    """

    expected: str
    parse: Callable[[str], Any] = str
    several: bool = False
    bare: bool = False
    hint: str = ""

    def items(self, mapping: Mapping[str, Any]) -> list[str]:
        """A Python user's ``{task: value}`` as the command line's items: a list or tuple value is
        one comma-joined ``VALUE`` (``{"cola": [1, 2]}`` -> ``cola=1,2``), or, where a task takes
        several values, one item each; ``None`` is ``none`` (``{"cola": None}`` -> ``cola=none``); the
        key ``"*"`` of a ``bare`` option is a bare item."""
        items = []
        for task, value in mapping.items():
            for one in value if self.several and isinstance(value, (list, tuple)) else [value]:
                text = ",".join(map(str, one)) if isinstance(one, (list, tuple)) else "none" if one is None else str(one)
                items.append(text if self.bare and task == "*" else f"{task}={text}")
        return items

    def read(self, option: str, items: Iterable[str] | None) -> dict[str, Any]:
        """``items`` (the option's value; ``None``: none) as task -> value, in the items' order;
        task -> list of values where :attr:`several`.

        Raises:
            ConfigError: an item that is not ``TASK=VALUE`` with a ``VALUE`` :attr:`parse` takes, or
                a task named twice; the message names ``option`` and the item.
        """
        values: dict[str, Any] = {}
        for item in items or ():
            task, sep, text = str(item).partition("=")
            if not sep and self.bare:
                task, text = "*", task
            try:
                if not (sep or self.bare) or not task:
                    raise ValueError
                value = self.parse(text)
            except ValueError:
                raise ConfigError(f"{option}: expected {self.expected}, got {item!r}" + ("" if sep or self.bare else self.hint)) from None
            if self.several:
                values.setdefault(task, []).append(value)
            elif task in values:
                raise ConfigError(f"{option}: {'the bare value' if task == '*' else task} given twice ({' '.join(map(str, items))})")
            else:
                values[task] = value
        return values


def positive_integer(text: str) -> int:
    """``VALUE`` of a ``TASK=N`` option: an integer >= 1 written in digits (:class:`ValueError` otherwise)."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(text)
    return int(text)


def number_in(valid: Range) -> Callable[[str], float]:
    """A parser of ``VALUE``: a number inside ``valid`` (:class:`ValueError` otherwise)."""
    def parse(text: str) -> float:
        number = float(text)
        if number not in valid:
            raise ValueError(text)
        return number
    return parse


def non_empty(text: str) -> str:
    """``VALUE`` of a ``TASK=FILE`` option: any text but an empty one (:class:`ValueError` otherwise)."""
    if not text:
        raise ValueError(text)
    return text


def field_task_values(cls) -> dict[str, TaskValues]:
    """Field name -> the :class:`TaskValues` its type declares, for a dataclass type."""
    hints = typing.get_type_hints(cls, include_extras=True)
    found = {}
    for name, hint in hints.items():
        for option in (hint, *typing.get_args(hint)):  # Annotated[...] itself, or inside `... | None`
            if typing.get_origin(option) is Annotated:
                spec = next((m for m in option.__metadata__ if isinstance(m, TaskValues)), None)
                if spec is not None:
                    found[name] = spec
    return found


def option_name(name: str) -> str:
    """The command-line spelling of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def declared_range(hint) -> Range | None:
    """The :class:`Range` a type declares: ``Annotated[int, Range(min=1)]``, also inside an
    optional type (``PositiveInt | None``: the range holds for every value but ``None``) or a list
    (``list[Confidence]``: it holds for each value); ``None`` where it declares none."""
    if typing.get_origin(hint) is Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, Range)), None)
    if typing.get_origin(hint) is list:
        return declared_range(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [r for r in map(declared_range, typing.get_args(hint)) if r is not None]
        return found[0] if len(found) == 1 else None
    return None


def field_ranges(cls) -> dict[str, Range]:
    """Field name -> its declared :class:`Range` (:func:`declared_range`), for a dataclass type."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: valid for name, hint in hints.items() if (valid := declared_range(hint)) is not None}


# an option type's name for messages: one value, several in a list
TYPE_NAMES = {bool: ("a boolean", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings")}


def type_error(hint, value) -> str | None:
    """Why ``value`` (from JSON or Python) does not fit the option type ``hint``, or ``None`` where it
    does: ``bool``, ``int``, ``float`` (an integer too), ``str``, ``Literal`` choices, ``list[...]``
    of those, and their optional forms. Ranges are :func:`range_error`'s to check."""
    if typing.get_origin(hint) is Annotated:
        return type_error(typing.get_args(hint)[0], value)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = [type_error(option, value) for option in options if option is not type(None)]
        return None if None in errors else " or ".join(errors)
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        return None if value in choices else "one of " + ", ".join(map(repr, choices))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list) or any(type_error(item, v) for v in value):
            item = typing.get_args(item)[0] if typing.get_origin(item) is Annotated else item
            return f"a list of {TYPE_NAMES[item][1] if item in TYPE_NAMES else 'values'}"
        return None
    if hint not in TYPE_NAMES:
        return None  # a type this checker does not know: the dataclass's own checks apply
    fits = isinstance(value, (int, float)) if hint is float else isinstance(value, hint)
    return None if fits and (hint is bool or not isinstance(value, bool)) else TYPE_NAMES[hint][0]


def range_error(hint, valid: Range, value) -> str | None:
    """What a numeric option of type ``hint`` (its hint without ``Annotated`` extras: ``int | None``)
    expects, e.g. ``"an integer >= 1"``, where ``value`` is not a number of that type inside
    ``valid``; ``None`` where it is, or where ``value`` is ``None``. A list option (``list[float] |
    None``) expects each of its values inside ``valid``: ``"a list of numbers in (0, 1]"``."""
    if value is None:
        return None
    if isinstance(value, list):
        item = next((typing.get_args(h)[0] for h in (hint, *typing.get_args(hint)) if typing.get_origin(h) is list), hint)
        if any(range_error(item, valid, v) for v in value):
            return f"a list of {'integers' if item is int else 'numbers'} {valid}"
        return None
    wants_int = int in (typing.get_args(hint) or (hint,)) and float not in typing.get_args(hint)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (wants_int and not isinstance(value, int)) or value not in valid:
        return f"{'an integer' if wants_int else 'a number'} {valid}"
    return None


def option_error(hint, valid: Range | None, value) -> str | None:
    """What an option of type ``hint`` with the declared range ``valid`` expects, where ``value`` does
    not fit it: its type first (:func:`type_error`), then its range (:func:`range_error`); ``None``
    where it fits. One check for the Python API, the command line and options files."""
    return type_error(hint, value) or (range_error(hint, valid, value) if valid is not None else None)


def accepts(hint, kind: type) -> bool:
    """Whether the option type ``hint`` takes values of ``kind`` (``list`` or ``str``), also inside an
    optional type."""
    if typing.get_origin(hint) is Annotated:
        return accepts(typing.get_args(hint)[0], kind)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(accepts(option, kind) for option in typing.get_args(hint))
    return hint is kind or typing.get_origin(hint) is kind


@dataclass
class Arguments:
    """Base of every options dataclass: checks every option's type and declared range on
    construction, from Python as from the command line.

    Three spellings Python users write are taken as what they mean: a tuple for a list option
    (``tasks=("sst2", "trec")``) becomes a list, a :class:`os.PathLike` for a string option
    (``output_dir=Path("runs/x")``) becomes its string, and a mapping for a ``TASK=VALUE`` option
    (``max_length={"sst2": 64}``) becomes its items (:meth:`TaskValues.items`).

    Raises:
        ConfigError: a value of the wrong type, outside its range or its choices, or an item of a
            ``TASK=VALUE`` option that does not read (:meth:`TaskValues.read`); the message names
            the option, e.g. ``--batch-size must be an integer >= 1, got 0`` or ``--tasks must be a
            list of strings, got 'sst2'``.
    """

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        ranges = field_ranges(type(self))
        per_task = field_task_values(type(self))
        for name, hint in hints.items():
            value = getattr(self, name)
            if isinstance(value, tuple) and accepts(hint, list):
                setattr(self, name, value := list(value))
            elif isinstance(value, os.PathLike) and accepts(hint, str):
                setattr(self, name, value := os.fspath(value))
            elif isinstance(value, Mapping) and name in per_task:
                setattr(self, name, value := per_task[name].items(value))
            expected = option_error(hint, ranges.get(name), value)
            if expected is not None:
                raise ConfigError(f"{option_name(name)} must be {expected}, got {value!r}")
            if name in per_task:
                per_task[name].read(option_name(name), value)

    def task_values(self, name: str) -> dict[str, Any]:
        """The ``TASK=VALUE`` option ``name`` (a field name: ``"max_length"``) as task -> value
        (:meth:`TaskValues.read`)."""
        return field_task_values(type(self))[name].read(option_name(name), getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-able dict (nested option groups become nested dicts)."""
        return dataclasses.asdict(self)


# --- options shared by several commands ------------------------------------------------------------

DATA_DIR_ENV = "MTL_TEXT_DATA_DIR"


def data_dir_option() -> Any:
    return field(default=None, metadata={"help": f"folder holding the tasks' data files (default: ${DATA_DIR_ENV}); where files "
                                                 "are absent the tasks download from their real sources"})


def task_file_option() -> Any:
    return field(default_factory=list, metadata={
        "metavar": "FILE_OR_MODULE",
        "help": "Python files (or dotted modules) that register extra tasks with mtl_text.register_task. A task file is "
                "code: it runs when loaded (also for --list-tasks), as any plugin does"})


def seed_option(default: int | None = 42, help: str = "seeds the validation split, the task schedule, shuffling and initialisation") -> Any:
    return field(default=default, metadata={"help": help})


def ensemble_option(usage: str) -> Any:
    """``--ensemble-with MODEL ...`` (predict, serve, evaluate, compare): more models that answer with
    ``--model`` as one :class:`~mtl_text.inference.ensemble.Ensemble`; ``usage`` ends the help."""
    return field(default=None, metadata={
        "metavar": "MODEL", "help": "more model folders (or Hub ids, each OWNER/NAME[@REVISION]) answering with --model as one ensemble: each task's logits are "
                                    "the mean of every model's, decoded by --model's heads (mtl_text.Ensemble); " + usage})


Backend = Literal["torch", "onnx"]  # what runs a saved model: PyTorch, or its ONNX export through ONNX Runtime


def check_backend(backend: str, option: str = "--backend") -> None:
    """Raises:
        ConfigError: ``backend`` is not one of :data:`Backend`'s values (the message names ``option``)."""
    if backend not in typing.get_args(Backend):
        raise ConfigError(f"{option} must be {' or '.join(typing.get_args(Backend))}, got {backend!r}")


def backend_option(usage: str = "") -> Any:
    """``--backend torch|onnx`` (predict, serve, evaluate, compare): the runtime that scores the model;
    ``usage``, where given, ends the help."""
    return field(default="torch", metadata={
        "help": "torch: the PyTorch model; onnx: the graphs of a folder written by mtl-text export-onnx, run by ONNX Runtime (CPU)"
                + (f"; {usage}" if usage else "")})


def token_option(use: str) -> Any:
    """``--token`` (predict, evaluate, serve, export-onnx, push-to-hub): a Hugging Face token, kept
    out of the options' ``repr``; ``use`` says what it is for."""
    return field(default=None, repr=False, metadata={
        "help": f"a Hugging Face token to {use} (default: the stored `hf auth login`, or $HF_TOKEN; prefer those: a token on the "
                "command line stays in the shell's history)"})


@dataclass
class SelectionArguments(Arguments):
    """Selective prediction's minimum confidences (``mtl-text predict``, ``mtl-text serve``): one for
    every single-label head, and each head's own."""

    _argument_group_name = "selective prediction"

    min_confidence: Confidence | None = field(default=None, metadata={
        "metavar": "P", "help": "each single-label head's output also says \"abstain\": true where its label's probability is below P "
                                "(false otherwise), to set those texts aside for a person; mtl-text evaluate --risk-coverage shows how "
                                "many texts a minimum keeps and their accuracy, --target-accuracy finds one with a guarantee "
                                "(calibrate the model first: mtl-text calibrate). Other heads' outputs are unchanged"})
    task_min_confidence: Annotated[list[str], TaskValues(
        f"TASK=P with P {CONFIDENCE_RANGE}", number_in(CONFIDENCE_RANGE),
        hint=": a text? --task-min-confidence takes several values, so put texts before it or after '--'")] | None = field(default=None, metadata={
        "metavar": "TASK=P", "help": "like --min-confidence for one head, its own minimum (e.g. sst2=0.968268 20newsgroups=0.54072, "
                                     "as evaluate --target-accuracy finds them; P in (0, 1]); --min-confidence then applies to the "
                                     "single-label heads not named, and without it they are not marked"})

    def min_confidences(self) -> float | dict[str, float] | None:
        """The options as :class:`~mtl_text.inference.prediction.Predictor` takes a minimum
        confidence: one number for every single-label head, or task -> its own, with ``"*"`` for the
        heads not named; ``None`` for neither.

        Raises:
            ConfigError: an item of ``--task-min-confidence`` that is not ``TASK=P`` with ``P`` in
                ``(0, 1]``, or one task twice.
        """
        if not self.task_min_confidence:
            return self.min_confidence
        minimums = self.task_values("task_min_confidence")
        return {**minimums, **({"*": self.min_confidence} if self.min_confidence is not None else {})}


def group_validation_option(help: str) -> Any:
    """``--group-validation`` / ``--no-group-validation``: carve the validation split by a task's
    ``validation_groups`` (on by default, the same in training and in the baselines, so that both
    see the same splits)."""
    return field(default=True, metadata={"help": help})


def chosen_tasks(option: str, chosen: Sequence[str], names: Iterable[str], asked: Iterable[str] = ()) -> list[str]:
    """The tasks a ``TASK|all|none`` option picks among ``names``, in their order: those it names,
    every one for ``all``, none for ``none``; given nothing, ``asked`` (the tasks whose
    :class:`~mtl_text.data.tasks.Task` asks for it by default, as ``wide_svm`` and ``calibrate`` do).

    Raises:
        ConfigError: a name that is not one of ``names``, or ``none`` beside names (``option`` named).
    """
    names = list(names)
    unknown = sorted(set(chosen) - set(names) - {"all", "none"})
    if unknown:
        raise ConfigError(f"{option} names task(s) not among the tasks {names}: {unknown}")
    if "none" in chosen and len(chosen) > 1:
        raise ConfigError(f"{option}: 'none' excludes task names, got {list(chosen)}")
    if "all" in chosen:
        return names
    picked = set(chosen or asked)
    return [name for name in names if name in picked]
