"""The pitch extractor interface every method implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class PitchTrack:
    """f0 on a fixed frame grid.

    f0_hz: (frames,) float, 0 where unvoiced. Frame i is centred on sample i * hop_length
    (or as the method's reference defines its grid; the method's docstring says which).
    periodicity: (frames,) in [0, 1] where the method reports a voicing confidence, else None.
    """

    f0_hz: np.ndarray
    sample_rate: int
    hop_length: int
    periodicity: np.ndarray | None = None

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length


class PitchExtractor(Protocol):
    """A pitch method with its reference settings bound. samples: (n,) float32 at sample_rate."""

    name: str
    sample_rate: int
    hop_length: int

    def extract(self, samples: np.ndarray) -> PitchTrack: ...
