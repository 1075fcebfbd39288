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
    """Raise BadInputError naming missing, unexpected, mis-shaped, mistyped and non-finite keys.
    Key collections without tensors are compared by name only; ``ignored`` keys may be present
    without being expected. A key whose model tensor is floating point must hold a floating-point
    tensor of finite values (an integer tensor would be cast silently, and NaN weights only show
    as a silent output)."""
    missing = sorted(k for k in expected if k not in found)
    unexpected = sorted(k for k in found if k not in expected and k not in ignored)
    mis_shaped, mistyped, non_finite = [], [], []
    if isinstance(found, Mapping) and isinstance(expected, Mapping):
        for key, value in found.items():
            if key not in expected:
                continue
            model_value = expected[key]
            if not isinstance(value, torch.Tensor):
                mistyped.append(f"{key}: file {type(value).__name__}, model a tensor")
            elif tuple(value.shape) != tuple(model_value.shape):
                mis_shaped.append(f"{key}: file {tuple(value.shape)}, model {tuple(model_value.shape)}")
            elif model_value.is_floating_point() and not value.is_floating_point():
                mistyped.append(f"{key}: file {value.dtype}, model {model_value.dtype}")
            elif value.is_floating_point() and not bool(torch.isfinite(value).all()):
                non_finite.append(key)
    problems = [
        f"{label} {items}"
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", sorted(mis_shaped)),
            ("of the wrong type", sorted(mistyped)),
            ("with NaN or infinite values", sorted(non_finite)),
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


def check_finite(state: Mapping[str, Any], where: str | Path, what: str = "weights") -> None:
    """Raise BadInputError naming the floating-point tensors that hold NaN or infinite values."""
    bad = sorted(
        key
        for key, value in state.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(value.isfinite().all())
    )
    if bad:
        raise BadInputError(
            where, f"{what} hold NaN or infinite values: {bad[:5]}" + (" ..." if len(bad) > 5 else "")
        )
