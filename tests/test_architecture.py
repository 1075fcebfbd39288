"""Networks are pure modules (design rule 4): nothing under models/, vocoders/ or nn/ reads a file.
Files are read by weights/ (foreign formats), dataset/ (layouts) and train/ (training sets)."""

from __future__ import annotations

import ast
from pathlib import Path

import timbrel

PURE_PACKAGES = ("models", "vocoders", "nn")
READING_FUNCTIONS = {"open"}
READING_ATTRIBUTES = {("np", "load"), ("numpy", "load"), ("json", "load"), ("torch", "load")}
READING_METHODS = {"read_text", "read_bytes"}


def file_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) for every call in ``tree`` that reads a file."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id in READING_FUNCTIONS:
            found.append((node.lineno, f"{function.id}()"))
        elif isinstance(function, ast.Attribute):
            owner = function.value.id if isinstance(function.value, ast.Name) else None
            if (owner, function.attr) in READING_ATTRIBUTES or function.attr in READING_METHODS:
                found.append((node.lineno, f"{owner or '...'}.{function.attr}()"))
    return found


def test_the_pure_packages_read_no_file():
    root = Path(timbrel.__file__).parent
    offences = [
        f"{path.relative_to(root.parent)}:{line}: {call}"
        for package in PURE_PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        for line, call in file_reads(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    ]
    assert not offences, "file reads in pure modules:\n" + "\n".join(offences)


def test_the_walk_finds_each_kind_of_read():
    source = """
open(p)
np.load(p)
numpy.load(p)
json.load(f)
torch.load(p)
path.read_text()
Path(p).read_bytes()
np.save(p, x)
"""
    assert [line for line, _ in file_reads(ast.parse(source))] == [2, 3, 4, 5, 6, 7, 8]
