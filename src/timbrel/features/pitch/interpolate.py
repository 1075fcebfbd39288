"""Filling unvoiced frames by linear interpolation over the voiced ones (RVC's current rule).

Classic RVC keeps unvoiced frames at 0 Hz; the current reference fills them before saving the
training f0 and before synthesis. Leading and trailing unvoiced frames take the first and last
voiced value (np.interp holds its ends).
"""

from __future__ import annotations

import numpy as np

from timbrel.features.pitch.errors import AllUnvoicedError


def fill_unvoiced(f0_hz: np.ndarray) -> np.ndarray:
    """f0_hz: (frames,) with 0 where unvoiced -> (frames,) same dtype, no zeros.

    Raises AllUnvoicedError when every frame is 0.
    """
    f0_hz = np.asarray(f0_hz)
    unvoiced = f0_hz == 0
    if not unvoiced.any():
        return f0_hz.copy()
    if unvoiced.all():
        raise AllUnvoicedError(f"all {len(f0_hz)} f0 frames are unvoiced; nothing to interpolate from")
    frames = np.arange(len(f0_hz))
    filled = f0_hz.copy()
    filled[unvoiced] = np.interp(frames[unvoiced], frames[~unvoiced], f0_hz[~unvoiced])
    return filled
