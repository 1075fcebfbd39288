"""Resampling with soxr, or resampy where a reference used it.

soxr "HQ" is what librosa's default ``res_type="soxr_hq"`` runs, so RVC's 16 kHz training
files match to float rounding. RIFT's preparation runs resampy's kaiser_best
(``resample_kaiser_best``); RVC's loader ffmpeg's swr, which differs from soxr by the small amounts
the parity tests record.
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


def resample_kaiser_best(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """samples: (n,) or (channels, n) -> same layout at ``to_rate``, through resampy's kaiser_best
    filter (what RIFT-SVC's preparation runs; soxr differs from it by up to 6e-3 on broadband input)."""
    if from_rate == to_rate:
        return samples
    import resampy  # numba compiles its kernel at first use, so only callers that need it pay

    return resampy.resample(samples, from_rate, to_rate, filter="kaiser_best", axis=-1)
