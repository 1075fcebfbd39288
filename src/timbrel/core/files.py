"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one intact."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from timbrel.core.errors import BadInputError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The temporary file keeps the suffix of ``path`` so that writers that pick a format
    from the extension still work. On an exception the temporary file is removed. The file
    ends with the mode a plain ``open(path, "w")`` gives it (an existing file's mode is kept).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600: outputs would be unreadable to the user's group and other tools
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@functools.cache
def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# atomic_path's temporaries: "." + the target's stem + "." + mkstemp's 8 random characters +
# ".tmp" + the target's suffix. A killed process leaves them behind.
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.[^.]+)?")


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` is named as atomic_path names its temporary files."""
    return _TEMPORARY.fullmatch(Path(path).name) is not None


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries a killed run left anywhere under ``folder`` -> the paths removed.
    Call it as a stage starts, before it writes: a stage owns its output folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.rglob(".*.tmp*") if is_temporary(p) and p.is_file())
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def visible_files(folder: str | Path, pattern: str = "*", links_and_pipes: bool = False) -> list[Path]:
    """The files under ``folder`` matching the glob ``pattern``, sorted, leaving out every hidden
    file or folder (pathlib's glob matches them: temporaries, ledgers). ``links_and_pipes``: list
    every entry but folders, whatever it leads to, for a reader that reports the unreadable ones."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.glob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and (not p.is_dir() if links_and_pipes else p.is_file())
    )


def refuse_overwrite(output: str | Path, inputs: list[Path]) -> None:
    """A tool writes a new file: raise if ``output`` is one of its inputs."""
    output = Path(output)
    for source in inputs:
        if output.resolve() == Path(source).resolve():
            raise BadInputError(output, "is also an input; write the result to another file")
