"""Strict state-dict loading: every key and shape must match, and a mismatch names the key."""

from __future__ import annotations

from pathlib import Path

import torch

from timbrel.core.errors import BadInputError


def check_keys(found: set[str], expected: set[str], where: str | Path) -> None:
    """Raise BadInputError listing the missing and unexpected keys, if any."""
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise BadInputError(where, f"state dict keys differ: missing {missing}, unexpected {unexpected}")


def load_exact(module: torch.nn.Module, state: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load `state` into `module` with strict keys, raising BadInputError on the first shape mismatch."""
    own = module.state_dict()
    check_keys(set(state), set(own), where)
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise BadInputError(where, f"{key}: shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
    module.load_state_dict(state, strict=True)
