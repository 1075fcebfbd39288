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


def _absent_fixture_file(error: BaseException) -> Path | None:
    """The fixture file an error is about, when that file is absent from the fixture set in use."""
    from timbrel.core.errors import BadInputError
    from timbrel.weights.cache import MissingWeightError

    if isinstance(error, FileNotFoundError) and error.filename:
        path = Path(error.filename)
    elif isinstance(error, (BadInputError, MissingWeightError)) and error.path is not None:
        path = Path(error.path)
    else:
        return None
    root = fixtures_root()
    path = path.resolve()
    if path.exists() or not path.is_relative_to(root):
        return None
    # An absent file inside a folder of the set (not a temporary copy) is a fixture this set does not carry.
    return path


def _skip_for_absent_fixture(outcome_error: BaseException) -> None:
    path = _absent_fixture_file(outcome_error)
    if path is None:
        return
    message = f"fixture {path.relative_to(fixtures_root())} is not in the set at {fixtures_root()}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    """A fixture set may lack files another set has (see fixtures/set2/README.md): tests that need such a file
    skip locally, naming it, and fail under CI."""
    try:
        return (yield)
    except Exception as error:
        _skip_for_absent_fixture(error)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except Exception as error:
        _skip_for_absent_fixture(error)
        raise
