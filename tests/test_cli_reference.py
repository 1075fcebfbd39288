"""docs/cli.md is generated from the CLI; it must match the CLI as it is."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO_ROOT


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("cli_reference", REPO_ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (REPO_ROOT / "docs" / "cli.md").read_text() == module.render(), "run scripts/cli_reference.py"
