"""The run-time set-up: Accelerate's per-step package probe is answered once per process, with the
answer Accelerate itself gives."""

import accelerate.accelerator
import accelerate.optimizer
import accelerate.utils

from mtl_text import TrainingConfig
from mtl_text.training.runtime import cache_accelerate_probes, make_accelerator


def test_accelerate_s_lomo_probe_is_cached_with_its_own_answer(tmp_path, monkeypatch):
    uncached = accelerate.utils.is_lomo_available
    monkeypatch.setattr(accelerate.optimizer, "is_lomo_available", uncached)  # as Accelerate ships it
    monkeypatch.setattr(accelerate.accelerator, "is_lomo_available", uncached)
    make_accelerator(TrainingConfig.from_options(tasks=["trec"], output_dir=str(tmp_path)))
    for module in (accelerate.optimizer, accelerate.accelerator):
        assert module.is_lomo_available is not uncached and hasattr(module.is_lomo_available, "cache_info")
        assert module.is_lomo_available() == uncached()
    calls = accelerate.optimizer.is_lomo_available.cache_info()
    accelerate.optimizer.is_lomo_available()
    assert accelerate.optimizer.is_lomo_available.cache_info().hits == calls.hits + 1  # no search of the path again
    assert cache_accelerate_probes() is False  # already cached: left as it is
