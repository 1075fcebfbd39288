"""Reading a PyTorch file (``torch.save`` output) that someone else wrote, without running it.

``torch.load(weights_only=True)`` refuses any pickle that names a class or function beyond
tensors and plain containers. Before it runs, the first bytes must be one of torch's two
layouts, so that random bytes or a text file are reported as what they are rather than as a
pickle that "would run code": the zip archive (torch >= 1.6, starts ``PK\\x03\\x04``) or the
legacy stream (a pickle, protocol 2 or later, starts ``\\x80`` and the protocol number).
"""

from __future__ import annotations

import pickle
import re
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from timbrel.core.errors import BadInputError

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOLS = range(2, 6)
# what torch.load raises on files that are torch's layout but broken (truncated, a zip of other
# things, a corrupt record); its safe unpickler lets some malformed streams out as IndexError & co.
UNREADABLE_ERRORS = (
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zipfile.BadZipFile,
)


def torch_layout(path: Path) -> str | None:
    """'zip' or 'legacy' from the file's first bytes, None when it is neither."""
    with path.open("rb") as file:
        head = file.read(4)
    if head == _ZIP_MAGIC:
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "legacy"
    return None


def read_torch_file(
    path: str | Path,
    what: str = "PyTorch checkpoint",
    *,
    mmap: bool = False,
    safe_globals: Sequence[Any] = (),
) -> Any:
    """The object a ``torch.save`` file holds, loaded with torch's weights-only unpickler onto
    the CPU; BadInputError naming the file when it is missing, not a torch file, refused
    (it needs code or objects to load) or unreadable (truncated, corrupt).

    mmap: map the tensors' storage instead of reading it (zip layout only; many small files
    read lazily). safe_globals: (class, "module.name") pairs the unpickler may also build."""
    path = Path(path)
    check_torch_layout(path, what)
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        reason = unpickler_reason(error)
        if "global" not in reason:
            raise BadInputError(
                path,
                f"refused: its pickle holds an instruction no weights file contains (corrupt, or built "
                f"to run code): {reason}",
            ) from None
        raise BadInputError(
            path,
            "refused: loading it would run code or build objects beyond tensors and plain "
            f"containers, which a weights file never needs ({reason})",
        ) from None
    except UNREADABLE_ERRORS as error:
        raise BadInputError(
            path, f"not a readable {what} (truncated or corrupt?): {first_line(error)}"
        ) from None


def check_torch_layout(path: Path, what: str) -> None:
    """BadInputError naming ``path`` unless it is a non-empty file in one of torch's layouts."""
    if not path.is_file():
        raise BadInputError(path, "no such file")
    if path.stat().st_size == 0:
        raise BadInputError(path, f"empty file: not a {what}")
    if torch_layout(path) is None:
        raise BadInputError(
            path, f"not a {what}: the file is neither torch's zip archive nor its legacy pickle format"
        )


def unpickler_reason(error: BaseException) -> str:
    """torch's refusal names the offending global after its advice paragraph; keep just that."""
    match = re.search(r"Unsupported global: GLOBAL \S+|Unsupported operand[^\n]*", str(error))
    return match.group(0) if match else first_line(error)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
