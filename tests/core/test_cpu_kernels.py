from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from timbrel.core import cpu_kernels
from timbrel.core.cpu_kernels import CACHE_CAPACITIES, bound_primitive_cache

GLIBC = sys.platform.startswith("linux") and getattr(ctypes.CDLL(None), "mallopt", None) is not None


def test_the_caches_are_bounded_unless_the_user_chose(monkeypatch):
    for variable, _ in CACHE_CAPACITIES:
        monkeypatch.delenv(variable, raising=False)
    bound_primitive_cache()
    assert [os.environ[variable] for variable, _ in CACHE_CAPACITIES] == [
        str(capacity) for _, capacity in CACHE_CAPACITIES
    ]
    for variable, _ in CACHE_CAPACITIES:
        monkeypatch.setenv(variable, "7")
    bound_primitive_cache()
    assert all(os.environ[variable] == "7" for variable, _ in CACHE_CAPACITIES)


def _run(code: str, **environment: str) -> str:
    """``code`` in a fresh interpreter (the threshold and the heap are the process's) -> its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env | environment, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_the_mmap_threshold_is_fixed_unless_the_user_chose():
    code = "from timbrel.core.cpu_kernels import fix_mmap_threshold; print(fix_mmap_threshold())"
    assert _run(code) == "True"
    assert _run(code, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536") == "False"


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_trimming_returns_freed_heap_between_live_blocks():
    # 1 MiB blocks (heap, below the fixed threshold) each followed by a small block that stays:
    # freeing the large ones leaves holes that glibc keeps resident until the heap is trimmed.
    code = """
from timbrel.core.cpu_kernels import fix_mmap_threshold, release_freed_heap
import numpy as np
fix_mmap_threshold()
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20
large, small = [], []
for _ in range(200):
    large.append(np.ones(1 << 18, dtype=np.float32))
    small.append(np.ones(1024, dtype=np.float32))
del large
before = rss()
released = release_freed_heap()
print(released, before - rss())
"""
    released, freed_mb = _run(code).split()
    assert released == "True"
    assert int(freed_mb) >= 150  # of the 200 MiB of holes


def test_only_long_inputs_fix_the_mmap_threshold(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_kernels, "fix_mmap_threshold", lambda: calls.append(True))
    assert not cpu_kernels.prepare_for_input(cpu_kernels.LONG_INPUT_SECONDS / 2)
    assert not calls
    assert cpu_kernels.prepare_for_input(cpu_kernels.LONG_INPUT_SECONDS)
    assert calls
