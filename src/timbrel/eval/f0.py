"""F0 accuracy of a conversion: does the output sing the source's melody, moved by the key shift?

Both curves come from the same extractor on the same frame grid. With s and c the source and
converted f0 in Hz and k the key shift in semitones, on frames voiced in both:

    error_cents = 1200 * log2(c / (s * 2 ** (k / 12)))
    rmse_cents  = sqrt(mean(error_cents ** 2))
    correlation = Pearson correlation of log2(s) and log2(c)   (log pitch, as it is heard)

and on all frames, ``vuv_error_rate`` = the fraction whose voicing (f0 > 0) differs.
Curves of different lengths (an output a few samples longer) are compared over the shorter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from timbrel.features.pitch.base import PitchExtractor, PitchTrack


@dataclass(frozen=True)
class F0Metrics:
    """rmse_cents and correlation are NaN when fewer than 2 frames are voiced in both (correlation
    also when either curve is constant there)."""

    rmse_cents: float
    correlation: float
    vuv_error_rate: float
    voiced_frames: int
    frames: int


def f0_metrics(
    source_f0_hz: np.ndarray, converted_f0_hz: np.ndarray, key_shift_semitones: float = 0.0
) -> F0Metrics:
    """source_f0_hz, converted_f0_hz: (frames,) on one grid, 0 where unvoiced -> F0Metrics."""
    frames = min(len(source_f0_hz), len(converted_f0_hz))
    source = np.asarray(source_f0_hz[:frames], dtype=np.float64)
    converted = np.asarray(converted_f0_hz[:frames], dtype=np.float64)
    source_voiced, converted_voiced = source > 0, converted > 0
    both = source_voiced & converted_voiced
    vuv = float(np.mean(source_voiced != converted_voiced)) if frames else math.nan
    n_both = int(both.sum())
    if n_both < 2:
        return F0Metrics(math.nan, math.nan, vuv, n_both, frames)
    source_log2 = np.log2(source[both]) + key_shift_semitones / 12.0
    converted_log2 = np.log2(converted[both])
    error_cents = 1200.0 * (converted_log2 - source_log2)
    rmse = float(np.sqrt(np.mean(error_cents**2)))
    if np.ptp(source_log2) == 0 or np.ptp(converted_log2) == 0:
        correlation = math.nan
    else:
        correlation = float(np.corrcoef(source_log2, converted_log2)[0, 1])
    return F0Metrics(rmse, correlation, vuv, n_both, frames)


def f0_metrics_for_audio(
    source_samples: np.ndarray,
    converted_samples: np.ndarray,
    extractor: PitchExtractor,
    key_shift_semitones: float = 0.0,
) -> tuple[F0Metrics, PitchTrack, PitchTrack]:
    """Both (n,) float32 at extractor.sample_rate -> (metrics, source track, converted track)."""
    source = extractor.extract(source_samples)
    converted = extractor.extract(converted_samples)
    return f0_metrics(source.f0_hz, converted.f0_hz, key_shift_semitones), source, converted
