"""RVC's f0 for training files (2a coarse / 2b continuous) and for inference (Pipeline.get_f0).

Both take the raw curve of any extractor on the 16 kHz signal. ``fill_unvoiced=True`` is the
current reference (unvoiced frames linearly interpolated); False is classic RVC (they stay 0 Hz,
coarse 1), which is what makes ``protect`` act.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from timbrel.features.pitch.coarse import coarse_pitch
from timbrel.features.pitch.interpolate import fill_unvoiced
from timbrel.features.pitch.key_shift import shift_key
from timbrel.features.pitch.median import rvc_median_filter


@dataclass(frozen=True)
class RvcF0:
    """f0_hz (frames,) float: continuous f0, the model's ``pitchf`` (2b-f0nsf when training);
    coarse (frames,) int64 in 1..255: the model's ``pitch`` (2a_f0 when training)."""

    f0_hz: np.ndarray
    coarse: np.ndarray


def rvc_training_f0(f0_hz: np.ndarray, fill_unvoiced_frames: bool = True) -> RvcF0:
    """f0_hz: (frames,) raw extractor output -> what extract_f0 saves.

    A piece with no voiced frame (a breath, a consonant cluster) stays at 0 Hz, coarse 1, as in
    classic RVC: the current reference skips such a file ("pitch all 0"), which loses a good piece
    of the recording; inference treats an all-unvoiced input the same way.
    The frame count is the extractor's (pm: len // 160; rmvpe: len // 160 + 1, trimmed later by
    the data loader).
    """
    if fill_unvoiced_frames and np.any(f0_hz > 0):
        f0_hz = fill_unvoiced(f0_hz)
    return RvcF0(f0_hz=np.asarray(f0_hz), coarse=coarse_pitch(f0_hz))


def rvc_inference_f0(
    f0_hz: np.ndarray,
    n_frames: int,
    key_shift_semitones: float = 0.0,
    fill_unvoiced_frames: bool = True,
    filter_radius: int = 0,
) -> RvcF0:
    """f0_hz: (frames,) raw extractor output on the padded 16 kHz audio -> (n_frames,) each.

    n_frames is len(padded audio) // 160. Order as in Pipeline.get_f0: median filter (classic
    RVC passes the UI's filter_radius, default 3, for harvest only; 0 = off), unvoiced fill,
    key shift, coarse code, cut to n_frames.
    """
    if filter_radius:
        f0_hz = rvc_median_filter(f0_hz, filter_radius)
    if fill_unvoiced_frames and np.any(f0_hz > 0):  # an input with no voiced frame stays at 0 Hz
        f0_hz = fill_unvoiced(f0_hz)
    f0_hz = shift_key(f0_hz, key_shift_semitones)
    return RvcF0(f0_hz=f0_hz[:n_frames], coarse=coarse_pitch(f0_hz)[:n_frames])
