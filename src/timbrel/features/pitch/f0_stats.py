"""A voice model's training-set f0 statistics and the key shift that matches a singer to them.

Classic RVC and RIFT-SVC store nothing about the voice's range, so users guess ``key``. Timbrel keeps the
training set's voiced-frame f0 distribution beside the model (see ``weights.rvc``) and offers
``auto_key``: the whole-semitone shift that moves the input's median f0 onto the model's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class F0Stats:
    """Voiced-frame (f0 > 0) statistics in Hz. quantiles_hz: quantile (0-1) -> Hz."""

    median_hz: float
    quantiles_hz: dict[float, float]
    voiced_frames: int

    @classmethod
    def from_f0(cls, f0_hz: Iterable[np.ndarray]) -> F0Stats:
        """f0_hz: per-file f0 tracks in Hz (0 = unvoiced) -> their pooled voiced statistics."""
        voiced = np.concatenate([np.asarray(track, dtype=np.float64).ravel() for track in f0_hz] or [[]])
        voiced = voiced[voiced > 0]
        if voiced.size == 0:
            raise ValueError("no voiced frames: cannot compute f0 statistics")
        values = np.quantile(voiced, QUANTILES)
        return cls(
            median_hz=float(np.median(voiced)),
            quantiles_hz={q: float(v) for q, v in zip(QUANTILES, values, strict=True)},
            voiced_frames=int(voiced.size),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median_hz,
            "quantiles": {f"{q:g}": v for q, v in self.quantiles_hz.items()},
            "voiced_frames": self.voiced_frames,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> F0Stats:
        median = float(data["median"])
        if not 0 < median < math.inf:
            raise ValueError(f"median f0 must be positive and finite, got {median}")
        return cls(
            median_hz=median,
            quantiles_hz={float(q): float(v) for q, v in data.get("quantiles", {}).items()},
            voiced_frames=int(data.get("voiced_frames", 0)),
        )


def auto_key_semitones(f0_hz: np.ndarray, stats: F0Stats) -> int:
    """f0_hz: (frames,) of the input, 0 = unvoiced -> the shift in whole semitones that moves its
    median voiced f0 to the model's (0 when the input has no voiced frames)."""
    voiced = np.asarray(f0_hz, dtype=np.float64)
    voiced = voiced[voiced > 0]
    if voiced.size == 0:
        return 0
    return round(12 * math.log2(stats.median_hz / float(np.median(voiced))))
