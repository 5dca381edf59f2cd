"""What the CPU can do for mixed precision: whether it has bf16 instructions, and the warning for a
bf16 run on a CPU that lacks them.

On a CPU, ``accelerate launch --mixed_precision bf16`` runs the model under ``torch.autocast("cpu",
dtype=torch.bfloat16)``. Its matrix products are fast only where the CPU multiplies bf16 numbers
itself: x86 CPUs with AVX512-BF16 (Intel Cooper Lake and later, AMD Zen 4 and later) or AMX (Intel
Sapphire Rapids and later), Arm CPUs with the BF16 extension. Elsewhere PyTorch emulates them, and
bf16 is slower than fp32. Measured on all-MiniLM-L6-v2, both threads (docs/transfer.md):

* 2-core AMD EPYC with AVX512-BF16: a training step about 1.25 times faster in bf16 than in fp32;
* 2-core AMD EPYC with AVX2 only (``python benchmarks/bf16_cpu.py``): bf16 **6.8 times slower** for
  a forward pass over 64 texts of 256 word pieces (20.9 s against 3.1 s), 11.9 times slower for a
  training step over 16 such texts (63.3 s against 5.3 s).

The capabilities come from ``torch.cpu.get_capabilities()`` (PyTorch 2.6 and later); with an older
PyTorch they are unknown and nothing is said.
"""

from __future__ import annotations

from collections.abc import Mapping

# x86: AVX512-BF16 and AMX's bf16 tiles; Arm: the BF16 extension (NEON and SVE); PyTorch's name -> label
BF16_CAPABILITIES = {"avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16", "bf16": "BF16", "sve_bf16": "SVE-BF16"}


def cpu_capabilities() -> Mapping[str, object] | None:
    """The CPU's instruction sets as PyTorch reads them (``torch.cpu.get_capabilities()``: name ->
    ``True``/``False``, and a few sizes); ``None`` where this PyTorch cannot tell."""
    import torch

    get = getattr(torch.cpu, "get_capabilities", None)
    try:
        return dict(get()) if get is not None else None
    except Exception:  # noqa: BLE001 - a probe: an unknown answer, not an error
        return None


def has_native_bf16(capabilities: Mapping[str, object] | None) -> bool | None:
    """Whether the CPU multiplies bf16 numbers itself (see the module's text); ``None``: unknown."""
    if capabilities is None:
        return None
    return any(capabilities.get(name) is True for name in BF16_CAPABILITIES)


def cpu_summary(capabilities: Mapping[str, object] | None) -> str:
    """The CPU's widest vector instructions and its bf16 support, e.g. ``"AVX2, no bf16
    instructions"`` or ``"AVX512, AVX512-BF16"``, for the logs and the benchmark's machine line;
    ``""`` where unknown."""
    if capabilities is None:
        return ""
    vector = next((label for name, label in (("avx512_f", "AVX512"), ("avx2", "AVX2"), ("sve", "SVE"), ("neon", "NEON"))
                   if capabilities.get(name) is True), "no AVX2")
    bf16 = [label for name, label in BF16_CAPABILITIES.items() if capabilities.get(name) is True]
    return ", ".join([vector, *bf16]) if bf16 else f"{vector}, no bf16 instructions"


def emulated_bf16_warning(device_type: str, mixed_precision: str, capabilities: Mapping[str, object] | None) -> str | None:
    """The warning for bf16 mixed precision on a CPU without bf16 instructions, else ``None``.

    Args:
        device_type: the run's device (``"cpu"``, ``"cuda"``, ...).
        mixed_precision: Accelerate's setting (``"no"``, ``"fp16"``, ``"bf16"``, ...).
        capabilities: :func:`cpu_capabilities`.
    """
    if device_type != "cpu" or mixed_precision != "bf16" or has_native_bf16(capabilities) is not False:
        return None
    return (f"bf16 mixed precision on this CPU ({cpu_summary(capabilities)}): PyTorch emulates bf16 here, "
            "and it runs several times slower than fp32 (measured in docs/transfer.md); leave out "
            "--mixed_precision bf16 on this machine")
