"""Run-time set-up of a training job: the ``Accelerator`` (processes, devices, mixed precision and
experiment trackers come from ``accelerate launch`` and the configuration), logging, the
process's malloc settings, and the seeds."""

from __future__ import annotations

import logging
import os

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, GradientAccumulationPlugin, set_seed

from ..errors import ConfigError
from ..utils.allocator import tune_malloc
from ..utils.hardware import cpu_capabilities, emulated_bf16_warning
from ..utils.log import setup_logging
from .config import TrainingConfig

logger = logging.getLogger("mtl_text.train")


def cache_accelerate_probes() -> bool:
    """Remember, for this process, Accelerate's answer to "is the optional ``lomo_optim`` package
    installed?". Accelerate 1.x asks it twice in every ``AcceleratedOptimizer.step``
    (``accelerate.utils.is_lomo_available``: an ``importlib.util.find_spec`` search of ``sys.path``,
    not cached; also once in ``prepare_optimizer`` and in ``lomo_backward``). With the default word-vector model on a
    2-core CPU (a training step of about 15 ms) our loop ran at 0.929 [0.918, 0.941] of a
    hand-written loop's speed; with the answer cached, 0.969 [0.955, 0.984] and, in a second
    measurement, 0.952 [0.937, 0.969] (``python scripts/benchmark_overhead.py --tasks 20newsgroups
    sst2 --data-dir ../shared/data --max-steps 400 --repeats 8``, then ``--repeats 16``; 95%
    intervals of the mean repeat ratio). The answer cannot change while the process runs unless
    the package is installed meanwhile.

    Returns:
        whether the probe was replaced by a cached one (``False``: already cached, or an Accelerate
        version without it).
    """
    import functools

    from accelerate import accelerator as accelerator_module
    from accelerate import optimizer as optimizer_module

    probe = getattr(optimizer_module, "is_lomo_available", None)
    if probe is None or hasattr(probe, "cache_info"):
        return False
    cached = functools.cache(probe)
    for module in (optimizer_module, accelerator_module):
        if getattr(module, "is_lomo_available", None) is probe:
            module.is_lomo_available = cached
    return True


def make_accelerator(config: TrainingConfig) -> Accelerator:
    """The run's ``Accelerator``, with logging set up, the malloc settings applied
    (:func:`mtl_text.utils.allocator.tune_malloc`), Accelerate's per-step package probe cached
    (:func:`cache_accelerate_probes`) and every generator seeded with ``--seed``; it warns where bf16
    mixed precision would run emulated on a CPU without bf16 instructions (:mod:`mtl_text.utils.hardware`).

    Raises:
        ConfigError: the launcher started several processes that Accelerate sees as alone (torchrun
            on a CPU machine without ``ACCELERATE_USE_CPU=1``): each would train alone and write the
            same output folder.
    """
    trackers = [t for t in config.evaluation.report_to if t != "none"]
    cache_accelerate_probes()
    accelerator = Accelerator(
        # The loop's step is --gradient-accumulation-steps batches, whatever task each comes from. Accelerate would also
        # step the optimizer at the end of each prepared dataloader; here a task's epoch ends in the middle of the
        # stream of steps, which gave one optimizer step too many per epoch end and a half-sized one.
        gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=config.optimization.gradient_accumulation_steps,
                                                                sync_with_dataloader=False),
        # Each step trains one task's head; the other heads get no gradient on any rank in that step.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        log_with=trackers or None,
        project_dir=str(config.output_dir),
    )
    setup_logging(accelerator.is_main_process)
    logger.info("running on %d process(es), device %s, mixed precision %s, %d CPU thread(s) per process", accelerator.num_processes,
                accelerator.device, accelerator.mixed_precision, torch.get_num_threads())
    logger.info(tune_malloc())
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world > accelerator.num_processes:  # e.g. torchrun on a CPU machine without ACCELERATE_USE_CPU=1
        raise ConfigError(f"launched as {world} processes (WORLD_SIZE={world}) but Accelerate sees {accelerator.num_processes}: "
                          "each would train alone and write the same output folder. On a CPU machine set ACCELERATE_USE_CPU=1 "
                          "(e.g. ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 scripts/train.py ...)")
    cores = os.cpu_count() or 1
    if accelerator.device.type == "cpu" and torch.get_num_threads() == 1 and cores > accelerator.num_processes:
        logger.warning("PyTorch uses 1 CPU thread of %d cores (OMP_NUM_THREADS=%s; `accelerate launch` without --cpu sets 1): "
                       "pass `--num_cpu_threads_per_process %d` to accelerate launch", cores, os.environ.get("OMP_NUM_THREADS"),
                       cores // accelerator.num_processes)
    warning = emulated_bf16_warning(accelerator.device.type, str(accelerator.mixed_precision), cpu_capabilities())
    if warning:
        logger.warning(warning)
    set_seed(config.optimization.seed)
    return accelerator


def tracker_config(config: TrainingConfig) -> dict:
    """The configuration flattened for experiment trackers (``group/option`` -> scalar or string):
    TensorBoard's hyper-parameter table takes scalars and strings only."""
    flat = {}
    for group, options in config.to_dict().items():
        for name, value in options.items():
            flat[f"{group}/{name}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
