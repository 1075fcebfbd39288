from __future__ import annotations

import ctypes
import os
import sys

import pytest

from timbrel.core import cpu_kernels
from timbrel.core.cpu_kernels import (
    BOUNDED_CAPACITY,
    CACHE_CAPACITY_VARIABLE,
    bound_primitive_cache,
    fix_mmap_threshold,
)


def test_the_cache_is_bounded_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv(CACHE_CAPACITY_VARIABLE, raising=False)
    bound_primitive_cache()
    assert os.environ[CACHE_CAPACITY_VARIABLE] == str(BOUNDED_CAPACITY)
    monkeypatch.setenv(CACHE_CAPACITY_VARIABLE, "7")
    bound_primitive_cache()
    assert os.environ[CACHE_CAPACITY_VARIABLE] == "7"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_mmap_threshold_is_fixed_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    if getattr(ctypes.CDLL(None), "mallopt", None) is not None:  # glibc
        assert fix_mmap_threshold()
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert not fix_mmap_threshold()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_only_long_inputs_fix_the_mmap_threshold(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_kernels, "fix_mmap_threshold", lambda: calls.append(True))
    cpu_kernels.prepare_for_input(cpu_kernels.LONG_INPUT_SECONDS / 2)
    assert not calls
    cpu_kernels.prepare_for_input(cpu_kernels.LONG_INPUT_SECONDS)
    assert calls
