"""The process's malloc settings (mtl_text.allocator): applied on glibc, never over the user's own choice."""

import platform

import pytest

from mtl_text.utils import allocator


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(allocator, "_done", None)


def test_applies_on_glibc_and_answers_the_same_afterwards():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt settings are glibc's")
    first = allocator.tune_malloc({})
    assert first.startswith("glibc malloc: mmap threshold 32 MiB, trim threshold 1024 MiB")
    assert allocator.tune_malloc({allocator.OPT_OUT_ENV: "0"}) == first  # once per process


@pytest.mark.parametrize("environ, named", [
    ({"MALLOC_MMAP_THRESHOLD_": "65536"}, "MALLOC_MMAP_THRESHOLD_"),
    ({"MALLOC_TRIM_THRESHOLD_": "0", "MALLOC_TOP_PAD_": "0"}, "MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_"),
    ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}, "GLIBC_TUNABLES"),
    ({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}, "LD_PRELOAD"),
])
def test_the_users_own_allocator_settings_win(environ, named):
    assert allocator.tune_malloc(environ) == f"malloc settings left as the environment sets them ({named})"


def test_opt_out_and_unrelated_variables():
    assert allocator.tune_malloc({allocator.OPT_OUT_ENV: "0"}) == "malloc settings left at their defaults (MTL_TEXT_TUNE_MALLOC=0)"
    assert allocator.user_allocator_settings({"MALLOC_ARENA_MAX": "2", "GLIBC_TUNABLES": "glibc.pthread.rseq=0", "LD_PRELOAD": "libfoo.so"}) == []
