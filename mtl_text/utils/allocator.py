"""glibc ``malloc`` settings for PyTorch on CPU: fewer page faults, faster and steadier steps.

PyTorch's CPU tensors come from the C library's ``malloc``. By default glibc serves a request above
its *dynamic* mmap threshold (128 KiB at first) with freshly mapped pages, and hands freed memory back
to the kernel once the free top of the heap passes its trim threshold. A training step allocates and
frees tensors of several MiB (activations, gradients, padded batches), so each step maps new memory and
touches it page by page again: many minor page faults a second, time spent in the kernel that also
varies from run to run. The PyTorch performance tuning guide ("CPU specific
optimizations: switch memory allocator") recommends jemalloc or TCMalloc for this reason.

:func:`tune_malloc` does the same with glibc itself, through ``mallopt(3)``, and needs nothing
installed: the mmap threshold is fixed at glibc's maximum, 32 MiB (``M_MMAP_THRESHOLD``), and the trim
threshold at 1 GiB (``M_TRIM_THRESHOLD``), so freed blocks up to 32 MiB are reused from the heap. The
cost: the process keeps freed memory for reuse instead of returning it, so its resident memory stays
near its peak, and the peak can rise (fragmentation). Measured on the 2-core CPU machine of the README:

* word vectors, 20 Newsgroups + SST-2, ``scripts/train.py --max-steps 600 --eval-every 300
  --cache-dir none --save-total-limit 0`` with ``MTL_TEXT_TUNE_MALLOC=0`` / unset: minor page faults
  5.6M / 3.2M, system time 11.6 s / 7.1 s, 978 / 1008 training examples/s, peak resident memory
  1.59 / 1.78 GiB, identical test accuracy;
* MiniLM fine-tuning, the same tasks, 40 steps of a plain PyTorch loop (a one-off timing script, not
  kept), glibc's defaults / the same two settings given as ``MALLOC_MMAP_THRESHOLD_`` and
  ``MALLOC_TRIM_THRESHOLD_``: page faults of the whole process 8.9M / 2.5M, system time 18.6 s /
  5.8 s, 11.0 / 13.2 training examples/s.

It does nothing where the user has chosen these settings already (glibc's ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_MAX_`` or ``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES`` with a
``glibc.malloc`` entry, or another allocator in ``LD_PRELOAD``: jemalloc, TCMalloc, mimalloc), nor on
a C library other than glibc. ``MTL_TEXT_TUNE_MALLOC=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

OPT_OUT_ENV = "MTL_TEXT_TUNE_MALLOC"
M_TRIM_THRESHOLD = -1  # mallopt(3) parameter numbers, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest accepted value on 64-bit systems (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1024 * 1024 * 1024
GLIBC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_")

_done: str | None = None


def user_allocator_settings(environ=os.environ) -> list[str]:
    """The environment variables through which the user already chose allocator settings."""
    chosen = [k for k in GLIBC_ENV if k in environ]
    if "glibc.malloc" in environ.get("GLIBC_TUNABLES", ""):
        chosen.append("GLIBC_TUNABLES")
    if any(name in environ.get("LD_PRELOAD", "") for name in ("jemalloc", "tcmalloc", "mimalloc")):
        chosen.append("LD_PRELOAD")
    return chosen


def tune_malloc(environ=os.environ) -> str:
    """Fix glibc's mmap threshold at 32 MiB and its trim threshold at 1 GiB for this process (see the
    module's text); once per process, later calls repeat the first answer.

    Returns:
        what was done or why not, in one line for the logs. Never raises: where the settings cannot
        be made the process simply runs with the allocator's defaults.
    """
    global _done
    if _done is None:
        _done = _tune(environ)
    return _done


def _tune(environ) -> str:
    if environ.get(OPT_OUT_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return f"malloc settings left at their defaults ({OPT_OUT_ENV}={environ[OPT_OUT_ENV]})"
    chosen = user_allocator_settings(environ)
    if chosen:
        return f"malloc settings left as the environment sets them ({', '.join(chosen)})"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "malloc settings left at their defaults (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError) as e:
        return f"malloc settings left at their defaults (mallopt unavailable: {e})"
    if not ok:
        return "malloc settings left at their defaults (mallopt refused them)"
    return (f"glibc malloc: mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB "
            f"(fewer page faults on CPU; {OPT_OUT_ENV}=0 to keep glibc's defaults)")
