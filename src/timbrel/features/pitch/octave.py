"""Octave-error repair, beyond the references (off unless called).

Extractors sometimes report half or double the sung pitch for a few frames, most often on very
high notes where the true f0 nears their ceiling. A voiced frame that sits a whole number of
octaves (within a tolerance) away from the median of its voiced neighbours is moved back by that
many octaves. Jumps longer than half the window are taken as real and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbrel.features.pitch.median import sliding_nanmedian


@dataclass(frozen=True)
class OctaveCorrectionConfig:
    """window_frames: neighbourhood of the reference median; tolerance_octaves: how close to a
    whole octave a jump must be; min_f0_hz: only frames whose reference or value is at least this
    are touched (the "very high notes" case; 0 repairs everywhere)."""

    window_frames: int = 21
    tolerance_octaves: float = 0.15
    min_f0_hz: float = 0.0


def correct_octave_errors(f0_hz: np.ndarray, config: OctaveCorrectionConfig | None = None) -> np.ndarray:
    """f0_hz: (frames,) 0 = unvoiced -> (frames,) float64 with octave jumps folded back."""
    config = config or OctaveCorrectionConfig()
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    voiced = f0_hz > 0
    log2_f0 = np.where(voiced, np.log2(np.where(voiced, f0_hz, 1.0)), np.nan)
    reference = sliding_nanmedian(log2_f0, config.window_frames)
    distance = log2_f0 - reference
    octaves = np.rint(np.nan_to_num(distance))
    high_enough = np.maximum(f0_hz, np.exp2(np.nan_to_num(reference, nan=-np.inf))) >= config.min_f0_hz
    repair = voiced & (octaves != 0) & (np.abs(distance - octaves) <= config.tolerance_octaves) & high_enough
    corrected = f0_hz.copy()
    corrected[repair] = f0_hz[repair] * np.exp2(-octaves[repair])
    return corrected
