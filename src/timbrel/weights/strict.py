"""Strict loading: a foreign state dict fits a module exactly, or the error names every key that does not."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError


def check_state(
    found: Mapping[str, Any] | Collection[str],
    expected: Mapping[str, Any] | Collection[str],
    where: str | Path,
    what: str = "weights",
    ignored: Collection[str] = (),
) -> None:
    """Raise BadInputError naming missing, unexpected and mis-shaped keys. Key collections without
    tensors are compared by name only; ``ignored`` keys may be present without being expected."""
    missing = sorted(k for k in expected if k not in found)
    unexpected = sorted(k for k in found if k not in expected and k not in ignored)
    mis_shaped = []
    if isinstance(found, Mapping) and isinstance(expected, Mapping):
        for key, value in found.items():
            if (
                key in expected
                and hasattr(value, "shape")
                and tuple(value.shape) != tuple(expected[key].shape)
            ):
                mis_shaped.append(f"{key}: file {tuple(value.shape)}, model {tuple(expected[key].shape)}")
    problems = [
        f"{label} {items}"
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", sorted(mis_shaped)),
        )
        if items
    ]
    if problems:
        raise BadInputError(where, f"{what} do not fit the model: " + "; ".join(problems))


def load_strict(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], where: str | Path, what: str = "weights"
) -> None:
    """``module.load_state_dict(state, strict=True)`` after ``check_state`` has named any bad key."""
    check_state(state, module.state_dict(), where, what)
    module.load_state_dict(state, strict=True)
