"""Shared test fixtures.

Parity tests read the reference fixtures from $TIMBREL_FIXTURES (default ../shared/fixtures
beside the clone) and take every input, setting and expected value from those files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# xdist runs one worker per core: more threads per worker only oversubscribe the machine.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]


def fixtures_root() -> Path:
    return Path(os.environ.get("TIMBREL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures")).resolve()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The parity fixture folder. Missing fixtures fail under CI and skip elsewhere."""
    root = fixtures_root()
    if not root.is_dir():
        message = f"parity fixtures not found at {root} (set TIMBREL_FIXTURES)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root
