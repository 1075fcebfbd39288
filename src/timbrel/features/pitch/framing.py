"""Matching an f0 curve's frame count to the count a pipeline expects."""

from __future__ import annotations

import numpy as np


def pad_centered(f0_hz: np.ndarray, n_frames: int) -> np.ndarray:
    """f0_hz: (n,) -> (max(n, n_frames),): zeros split around the curve, an odd one on the left.

    RVC's rule for parselmouth, whose analysis windows do not reach the signal's ends: with
    pad = (n_frames - n + 1) // 2 on the left and n_frames - n - pad on the right. A curve longer
    than n_frames is returned unchanged (callers cut it).
    """
    f0_hz = np.asarray(f0_hz)
    left = (n_frames - len(f0_hz) + 1) // 2
    right = n_frames - len(f0_hz) - left
    if left > 0 or right > 0:
        return np.pad(f0_hz, (left, right), mode="constant")
    return f0_hz


def fit_length(f0_hz: np.ndarray, n_frames: int) -> np.ndarray:
    """f0_hz: (n,) -> (n_frames,): cut, or zero-padded on the right."""
    f0_hz = np.asarray(f0_hz)
    if len(f0_hz) >= n_frames:
        return f0_hz[:n_frames]
    return np.pad(f0_hz, (0, n_frames - len(f0_hz)), mode="constant")
