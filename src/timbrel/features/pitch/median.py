"""Median filters for f0 curves.

RVC (classic, harvest only) smooths with a zero-padded 3-tap median once the UI's filter radius
exceeds 2. RIFT's robust f0 uses a NaN-aware median whose window is clipped at the ends.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.signal import medfilt

RVC_MEDIAN_MIN_RADIUS = 3  # the reference filters when filter_radius > 2


def rvc_median_filter(f0_hz: np.ndarray, filter_radius: int) -> np.ndarray:
    """f0_hz: (frames,) -> (frames,) float64: a 3-tap median if filter_radius >= 3, else a copy.

    The window is always 3 whatever the radius, as in the reference.
    """
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    if filter_radius < RVC_MEDIAN_MIN_RADIUS:
        return f0_hz.copy()
    return medfilt(f0_hz, 3)


def sliding_nanmedian(values: np.ndarray, window: int) -> np.ndarray:
    """values: (frames,) with NaN for missing -> (frames,) float64.

    Frame i takes the median of the finite values among [i - window//2, i + window//2] clipped to
    the array (the mean of the middle two for an even count); NaN where there are none.
    """
    values = np.asarray(values, dtype=np.float64)
    half = window // 2
    padded = np.pad(values, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are expected and give NaN
        return np.nanmedian(windows, axis=-1)


def nanmedian_rows(stacked: np.ndarray) -> np.ndarray:
    """stacked: (k, frames) -> (frames,) NaN-median over k, NaN where all are NaN."""
    valid = ~np.isnan(stacked)
    ordered = np.sort(stacked, axis=0)  # NaN sorts last
    count = valid.sum(axis=0)
    frames = np.arange(stacked.shape[1])
    low = ordered[np.maximum((count - 1) // 2, 0), frames]
    high = ordered[np.maximum(count // 2, 0), frames]
    return np.where(count > 0, (low + high) / 2, np.nan)
