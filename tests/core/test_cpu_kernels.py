from __future__ import annotations

import os

from timbrel.core.cpu_kernels import BOUNDED_CAPACITY, CACHE_CAPACITY_VARIABLE, bound_primitive_cache


def test_the_cache_is_bounded_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv(CACHE_CAPACITY_VARIABLE, raising=False)
    bound_primitive_cache()
    assert os.environ[CACHE_CAPACITY_VARIABLE] == str(BOUNDED_CAPACITY)
    monkeypatch.setenv(CACHE_CAPACITY_VARIABLE, "7")
    bound_primitive_cache()
    assert os.environ[CACHE_CAPACITY_VARIABLE] == "7"
