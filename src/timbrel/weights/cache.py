"""Where standard weight files live: a path the user gives, or Timbrel's cache folder.

The cache folder is $TIMBREL_HOME, else $XDG_CACHE_HOME/timbrel, else ~/.cache/timbrel.
`timbrel download` fills it; every command that needs a standard file looks there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from timbrel.core.errors import TimbrelError


@dataclass(frozen=True)
class StandardWeight:
    """A file (or folder) the pipeline needs, the names it may have in the cache, and where it comes from."""

    name: str
    candidates: tuple[str, ...]
    how_to_get: str


STANDARD_WEIGHTS = {
    weight.name: weight
    for weight in (
        StandardWeight(
            "hubert",
            ("hubert_base", "hubert_base.pt"),
            "`timbrel download hubert`, or pass the path of RVC's hubert_base.pt (or assets/hubert_base/)",
        ),
        StandardWeight(
            "rmvpe", ("rmvpe.pt",), "`timbrel download rmvpe`, or pass the path of RVC's rmvpe.pt"
        ),
        StandardWeight(
            "contentvec",
            ("content-vec-best",),
            "`timbrel download contentvec`, or pass RIFT-SVC's pretrained/content-vec-best folder",
        ),
        StandardWeight(
            "nsf-hifigan",
            ("nsf_hifigan_44.1k_hop512_128bin_2024.02",),
            "`timbrel download nsf-hifigan`, or pass the vocoder folder (config.json + model.ckpt)",
        ),
    )
}


class MissingWeightError(TimbrelError):
    """A standard weight file that is not where it was looked for."""


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
        raise MissingWeightError(f"{name} weights not found at {path}. Get them with {weight.how_to_get}.")
    looked = [cache_dir() / candidate for candidate in weight.candidates]
    for path in looked:
        if path.exists():
            return path
    raise MissingWeightError(
        f"{name} weights not found; looked in {', '.join(map(str, looked))}."
        f" Get them with {weight.how_to_get}."
    )
