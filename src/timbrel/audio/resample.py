"""Resampling with soxr.

soxr "HQ" is what librosa's default ``res_type="soxr_hq"`` runs, so RVC's 16 kHz training
files match to float rounding. RIFT's preparation used resampy (kaiser_best) and RVC's loader
ffmpeg's swr; their outputs differ from soxr by the small amounts the parity tests record.
"""

from __future__ import annotations

import numpy as np
import soxr


def resample(samples: np.ndarray, from_rate: int, to_rate: int, quality: str = "HQ") -> np.ndarray:
    """samples: (n,) or (channels, n) -> same layout at ``to_rate``, same dtype (float32 or float64)."""
    if from_rate == to_rate:
        return samples
    if samples.ndim == 1:
        return soxr.resample(samples, from_rate, to_rate, quality=quality)
    # soxr takes (n, channels)
    return np.ascontiguousarray(soxr.resample(samples.T, from_rate, to_rate, quality=quality).T)
