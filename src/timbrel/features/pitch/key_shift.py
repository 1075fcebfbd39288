"""Transposition of an f0 curve by a number of semitones."""

from __future__ import annotations

import numpy as np


def shift_key(f0_hz: np.ndarray, key_shift_semitones: float) -> np.ndarray:
    """f0_hz: (frames,) -> (frames,) same dtype, multiplied by 2^(semitones/12); 0 stays 0."""
    f0_hz = np.asarray(f0_hz)
    return f0_hz * 2 ** (key_shift_semitones / 12)
