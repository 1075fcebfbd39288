"""Weight files that ship inside other pip packages (Resemblyzer, speechmos), found without importing them.

Those packages import heavy or compiled dependencies at import time (librosa, webrtcvad), so
Timbrel reads only their data files: `pip install --no-deps resemblyzer speechmos` is enough.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from timbrel.weights.cache import MissingWeightError, cache_dir


def packaged_file(package: str, relative: str) -> Path | None:
    """``relative`` inside the installed top-level ``package``, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


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
