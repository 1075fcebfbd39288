"""The help text and default of a config field, as its dataclass declares them.

Each option's help lives once, in ``field(metadata={"help": ...})`` on the config it sets, and
its default once, on the same field. The CLI shows both, but importing a config's module
imports torch, which would make every command, `timbrel --help` included, wait for it. So the
declarations are read from the module's source with ``ast``: literals only, nothing runs.
tests/cli/test_fields.py checks that this reading agrees with the imported dataclasses.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import timbrel


@functools.cache
def _declared(module: str, class_name: str) -> dict[str, ast.expr | None]:
    """field name -> the expression after ``=`` in the class body (None: no default)."""
    # find_spec would import the module's parent packages, and with them torch
    package, *parts = module.split(".")
    assert package == "timbrel", module
    source = Path(timbrel.__file__).parent.joinpath(*parts).with_suffix(".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                item.target.id: item.value
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    raise LookupError(f"{module} has no class {class_name}")


def _field_keywords(module: str, class_name: str, name: str) -> dict[str, ast.expr]:
    value = _declared(module, class_name)[name]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "field":
        return {keyword.arg: keyword.value for keyword in value.keywords if keyword.arg}
    return {} if value is None else {"default": value}


def help_of(module: str, class_name: str, name: str) -> str:
    """The ``help`` in the metadata of field ``name`` of ``module.class_name``."""
    metadata = ast.literal_eval(_field_keywords(module, class_name, name)["metadata"])
    return metadata["help"]


def scoped_help(scope: str, module: str, class_name: str, name: str) -> str:
    """``RVC: how much ...`` from the help of an option that applies within ``scope`` only."""
    text = help_of(module, class_name, name)
    return f"{scope}: {text[0].lower() + text[1:] if text[1:2].islower() else text}"


def default_of(module: str, class_name: str, name: str) -> Any:
    """The literal default of field ``name`` of ``module.class_name``."""
    return ast.literal_eval(_field_keywords(module, class_name, name)["default"])
