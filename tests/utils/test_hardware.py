"""The CPU's bf16 support (mtl_text.utils.hardware) and the warning for an emulated bf16 run."""

import logging

from mtl_text.utils.hardware import cpu_capabilities, cpu_summary, emulated_bf16_warning, has_native_bf16

ZEN3 = {"avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_bf16": False, "num_physical_cores": 2}  # AVX2 only
ZEN4 = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}
SAPPHIRE_RAPIDS = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": True}
GRAVITON3 = {"neon": True, "sve": True, "bf16": True, "sve_bf16": True}


def test_bf16_support_from_the_capabilities():
    assert has_native_bf16(ZEN3) is False and has_native_bf16({}) is False
    assert has_native_bf16(ZEN4) and has_native_bf16(SAPPHIRE_RAPIDS) and has_native_bf16(GRAVITON3)
    assert has_native_bf16(None) is None  # a PyTorch that cannot tell
    assert cpu_summary(ZEN3) == "AVX2, no bf16 instructions"
    assert cpu_summary(ZEN4) == "AVX512, AVX512-BF16" and cpu_summary(SAPPHIRE_RAPIDS) == "AVX512, AVX512-BF16, AMX-BF16"
    assert cpu_summary(GRAVITON3) == "SVE, BF16, SVE-BF16" and cpu_summary(None) == ""


def test_warns_only_for_bf16_on_a_cpu_without_bf16_instructions():
    warning = emulated_bf16_warning("cpu", "bf16", ZEN3)
    assert "AVX2, no bf16 instructions" in warning and "slower than fp32" in warning and "--mixed_precision bf16" in warning
    for device, precision, caps in (("cpu", "bf16", ZEN4), ("cpu", "no", ZEN3), ("cpu", "fp16", ZEN3), ("cuda", "bf16", ZEN3),
                                    ("cpu", "bf16", None)):
        assert emulated_bf16_warning(device, precision, caps) is None, (device, precision, caps)


def test_this_machines_capabilities_are_read():
    """PyTorch 2.6+ reports the CPU's instruction sets; the summary agrees with them."""
    caps = cpu_capabilities()
    assert caps is not None and isinstance(caps.get("avx2", caps.get("neon")), bool)
    assert ("no bf16 instructions" in cpu_summary(caps)) == (not has_native_bf16(caps))


def test_the_trainer_logs_the_warning(monkeypatch, caplog, data_dir):
    """make_accelerator asks with the run's device, mixed precision and the CPU's capabilities, and
    logs the warning (Accelerate's state is per process, so the run itself stays fp32 here)."""
    import mtl_text.training.runtime as runtime
    from mtl_text import TrainingConfig

    seen = []
    monkeypatch.setattr(runtime, "cpu_capabilities", lambda: ZEN3)
    monkeypatch.setattr(runtime, "emulated_bf16_warning", lambda *asked: seen.append(asked) or "the warning")
    config = TrainingConfig.from_options(tasks=["sst2"], data_dir=str(data_dir))
    with caplog.at_level(logging.WARNING, logger="mtl_text.train"):
        runtime.make_accelerator(config)
    assert seen == [("cpu", "no", ZEN3)]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING][-1] == "the warning"


def test_the_benchmarks_machine_line_names_the_instruction_sets(monkeypatch):
    """Benchmark figures depend on the CPU's instructions (bf16 above all): the machine line says them."""
    import mtl_text.utils.hardware as hardware
    from mtl_text.bench.benchmark import machine_description

    monkeypatch.setattr(hardware, "cpu_capabilities", lambda: ZEN3)
    known = machine_description()
    monkeypatch.setattr(hardware, "cpu_capabilities", lambda: None)
    unknown = machine_description()  # nothing said
    assert " (AVX2, no bf16 instructions), " in known and known.replace(" (AVX2, no bf16 instructions)", "", 1) == unknown
