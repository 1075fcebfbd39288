"""Shared test fixtures.

Parity tests read the reference fixtures from $TIMBREL_FIXTURES (default ../shared/fixtures
beside the clone) and take every input, setting and expected value from those files.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import pytest
import torch

# xdist runs one worker per core: more threads per worker only oversubscribe the machine.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(condition: object, reason: str) -> None:
    """Skip the calling test when ``condition`` is false; under CI=true fail it instead, since CI
    installs every part and a test that silently skipped there would prove nothing."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI is missing a required part: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)  # also from a module's top, as importorskip


def require_module(name: str, reason: str) -> ModuleType:
    """The imported module ``name``, or the ``require`` outcome when it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        require(False, f"{reason} ({error})")
        raise  # unreachable: require skipped or failed


def fixtures_root() -> Path:
    return Path(os.environ.get("TIMBREL_FIXTURES", REPO_ROOT.parent / "shared" / "fixtures")).resolve()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The parity fixture folder. Missing fixtures fail under CI and skip elsewhere."""
    return present_fixtures_root()


def present_fixtures_root() -> Path:
    root = fixtures_root()
    require(root.is_dir(), f"parity fixtures not found at {root} (set TIMBREL_FIXTURES)")
    return root


def fixture_file(path: Path) -> Path:
    """``path`` inside the fixture set, by the ``require`` outcome when this set does not carry it (a
    subprocess or a reader that does not raise FileNotFoundError cannot be told apart otherwise)."""
    require(
        path.exists(), f"fixture {path.relative_to(fixtures_root())} is not in the set at {fixtures_root()}"
    )
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reads the reference fixtures is a parity test (``-m parity``): CI runs
    those a second time under reduced SIMD dispatch and one thread (scripts/test.sh)."""
    for item in items:
        if "fixtures" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.parity)


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
    require(False, f"fixture {path.relative_to(fixtures_root())} is not in the set at {fixtures_root()}")


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
