"""Loudness change of a conversion in LU: integrated loudness (ITU-R BS.1770-4, pyloudnorm) of the
converted file minus that of its source. 0 means the conversion kept the level."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm

GATE_BLOCK_S = 0.4  # BS.1770's gating block: shorter clips have no integrated loudness


def integrated_lufs(samples: np.ndarray, sample_rate: int) -> float:
    """samples: (n,) -> LUFS; NaN when shorter than one gating block or entirely below the -70 LUFS gate."""
    if len(samples) < GATE_BLOCK_S * sample_rate:
        return math.nan
    lufs = pyloudnorm.Meter(sample_rate).integrated_loudness(np.asarray(samples, dtype=np.float64))
    return float(lufs) if np.isfinite(lufs) else math.nan


def loudness_difference_lu(
    converted: np.ndarray, converted_rate: int, source: np.ndarray, source_rate: int
) -> float:
    """Converted minus source integrated loudness in LU (NaN when either has none)."""
    return integrated_lufs(converted, converted_rate) - integrated_lufs(source, source_rate)
