"""Missing parts skip a test locally and fail it under CI, with the reason either way."""

from __future__ import annotations

import pytest

from tests.conftest import present_fixtures_root, require, require_module


def test_a_present_part_does_nothing(monkeypatch):
    monkeypatch.setenv("CI", "true")
    require(True, "never shown")
    assert require_module("json", "never shown").dumps([1]) == "[1]"


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_a_missing_part_skips_outside_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="the widget is not installed"):
        require(False, "the widget is not installed")


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_part_fails_under_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is missing a required part: the widget"):
        require(False, "the widget is not installed")


def test_a_missing_module_names_itself(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"needs the \[x\] extra .*no_such_module_here"):
        require_module("no_such_module_here", "this needs the [x] extra")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no_such_module_here"):
        require_module("no_such_module_here", "this needs the [x] extra")


def test_missing_fixtures_fail_under_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("TIMBREL_FIXTURES", str(tmp_path / "absent"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="parity fixtures not found"):
        present_fixtures_root()
