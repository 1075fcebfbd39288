"""Timbrel's own training-state files: the loop's resume state and whole task states.

Plain dicts of tensors, numbers, strings, lists and tuples written with ``torch.save`` and read
back with ``weights_only=True``. Writes are atomic (temporary file + rename).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError
from timbrel.core.files import write_bytes_atomic
from timbrel.weights.torch_file import read_torch_file

FORMAT_VERSION = 1


def write_state(path: str | Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, "state": state}, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def read_state(path: str | Path) -> dict[str, Any]:
    data = read_torch_file(path, "training state")
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise BadInputError(path, f"not a training state of format version {FORMAT_VERSION}")
    return data["state"]
