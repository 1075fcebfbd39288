"""Where standard weight files live: a path the user gives, or Timbrel's cache folder.

The cache folder is $TIMBREL_HOME, else $XDG_CACHE_HOME/timbrel, else ~/.cache/timbrel.
`timbrel download` fills it; every command that needs a standard file looks there. Inside it:
the files under their catalogue names (hubert_base.pt, pretrained_v2/f0G40k.pth, content-vec-best/,
...), checksums.json (what the downloads verified) and .partial/ (transfers in progress).
"""

from __future__ import annotations

import os
from pathlib import Path

from timbrel.core.errors import TimbrelError
from timbrel.weights.catalogue import STANDARD_WEIGHTS, StandardWeight

__all__ = ["STANDARD_WEIGHTS", "MissingWeightError", "StandardWeight", "cache_dir", "find_weight"]


class MissingWeightError(TimbrelError):
    """A standard weight file that is not where it was looked for (`path`, when one place was named)."""

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path


def cache_dir() -> Path:
    if home := os.environ.get("TIMBREL_HOME"):
        return Path(home)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "timbrel"


def find_weight(name: str, explicit: str | Path | None = None) -> Path:
    """The given path if it exists, else the first cached candidate; an error says where it looked."""
    if name not in STANDARD_WEIGHTS:
        raise KeyError(f"unknown standard weight {name!r}; known: {sorted(STANDARD_WEIGHTS)}")
    weight = STANDARD_WEIGHTS[name]
    if explicit is not None:
        path = Path(explicit)
        if path.exists():
            return path
        raise MissingWeightError(
            f"{name} weights not found at {path}. Get them with {weight.how_to_get}.", path
        )
    looked = [cache_dir() / candidate for candidate in weight.candidates]
    for path in looked:
        if path.exists():
            return path
    raise MissingWeightError(
        f"{name} weights not found; looked in {', '.join(map(str, looked))}. "
        f"Get them with {weight.how_to_get}."
    )
