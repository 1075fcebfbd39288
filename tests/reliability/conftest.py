"""The reliability tests never skip under CI: a missing part fails them with its reason."""

from __future__ import annotations

import os
import shutil

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip locally when ``condition`` fails; under CI=true fail instead."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs every reliability test)")
    pytest.skip(reason)


@pytest.fixture
def posix_entries():
    """Symlinks and FIFOs, which the corpus makes."""
    require(hasattr(os, "mkfifo") and shutil.which("ln") is not None, "needs a POSIX file system (FIFOs)")
