"""What a bug report needs to know about the machine and the installation (``mtl-text env``), as
``transformers env`` and ``accelerate env`` report theirs: the versions of mtl-text, Python and the
packages it runs on (extras included, or "not installed"), the CPU and its bf16 support, the GPUs,
Accelerate's default configuration, the data folder and the Hugging Face Hub settings. Nothing
secret is reported: of a Hub token, only whether one is set."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

# the distributions reported, each with the feature that needs it (the core first, then the extras)
PACKAGES = {
    "torch": "core", "transformers": "core", "tokenizers": "core", "datasets": "core", "accelerate": "core",
    "gensim": "core", "scikit-learn": "core", "scipy": "core", "safetensors": "core", "huggingface_hub": "core",
    "numpy": "core", "tqdm": "core",
    "peft": "--lora-r", "torchjd": "--task-balancing pcgrad|upgrad|mgda", "tensorboard": "--report-to tensorboard",
    "onnx": "export-onnx", "onnxscript": "export-onnx", "onnxruntime": "--backend onnx",
    "fastapi": "serve", "uvicorn": "serve",
    "fasttext-community": "the benchmark's fastText baseline", "matplotlib": "the benchmark's plots",
}
NOT_INSTALLED = "not installed"


def package_version(distribution: str) -> str | None:
    """The installed version of ``distribution`` (a name as pip knows it), or ``None`` where it is
    not installed. Read from the package's metadata: nothing is imported."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name`` on Linux), else what
    :func:`platform.processor` or :func:`platform.machine` says."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def memory_gib() -> float | None:
    """The machine's physical memory in GiB, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def cpu_description() -> str:
    """The CPU as benchmark figures and bug reports name it: model, instruction sets (the widest
    vector ones and bf16: :func:`~mtl_text.utils.hardware.cpu_summary`), cores and memory, e.g.
    ``"Intel(R) Xeon(R) Processor (AVX512, AVX512-BF16, AMX-BF16), 2 cores, 24 GiB memory"``."""
    from .hardware import cpu_capabilities, cpu_summary

    isa, memory = cpu_summary(cpu_capabilities()), memory_gib()
    return f"{cpu_name()}{f' ({isa})' if isa else ''}, {os.cpu_count()} cores" + (f", {memory:.0f} GiB memory" if memory else "")


def _gpus() -> str:
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        backend = f"ROCm {torch.version.hip}" if torch.version.hip else f"CUDA {torch.version.cuda}"
        return f"{len(names)} ({', '.join(names)}), {backend}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple MPS"
    return "none" + (f" (this torch is built for CUDA {torch.version.cuda})" if torch.version.cuda else " (a CPU build of torch)")


def _accelerate_config() -> str:
    from accelerate.commands.config import default_config_file

    return default_config_file if os.path.isfile(default_config_file) else f"none ({default_config_file} does not exist)"


def _data_folder(data_dir: str | os.PathLike | None) -> str:
    from ..arguments import DATA_DIR_ENV
    from ..data.splits import resolve_data_dir

    folder = resolve_data_dir(data_dir)
    if folder is None:
        return f"not set (--data-dir or ${DATA_DIR_ENV}): the tasks download from their real sources"
    source = "--data-dir" if data_dir is not None else f"${DATA_DIR_ENV}"
    if not folder.is_dir():
        return f"{folder} (from {source}): does not exist or is not a folder"
    entries = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    return f"{folder.resolve()} (from {source}), {len(entries)} entries: {', '.join(entries)}"


def _hub() -> str:
    from huggingface_hub import constants

    token = bool(os.environ.get("HF_TOKEN")) or Path(constants.HF_TOKEN_PATH).is_file()
    return (f"cache {constants.HF_HUB_CACHE}, {'offline (HF_HUB_OFFLINE)' if constants.HF_HUB_OFFLINE else 'online'}, "
            f"token {'set' if token else 'not set'}")


def environment_report(data_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The report, field -> value, in the order it is printed.

    Args:
        data_dir: the data folder to report (as ``--data-dir``); ``None``: ``$MTL_TEXT_DATA_DIR``'s.

    Returns:
        ``{"mtl-text": "0.3.23", "Python": ..., "platform": ..., "CPU": ..., "GPUs": ..., "torch threads": ...,
        "Accelerate config": ..., "data folder": ..., "Hugging Face Hub": ..., <distribution>: version or
        "not installed", ...}``, every value a string (JSON as it is).
    """
    import torch

    from .. import __version__

    report = {
        "mtl-text": __version__,
        "Python": f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        "platform": platform.platform(),
        "CPU": cpu_description(),
        "GPUs": _gpus(),
        "torch threads": str(torch.get_num_threads()),
        "Accelerate config": _accelerate_config(),
        "data folder": _data_folder(data_dir),
        "Hugging Face Hub": _hub(),
    }
    for distribution, needed_by in PACKAGES.items():
        version = package_version(distribution) or NOT_INSTALLED
        report[distribution] = version if needed_by == "core" else f"{version} (for {needed_by})"
    return report
