"""Mel filter banks as librosa builds them (Slaney or HTK scale, Slaney area normalisation).

Written here because librosa would add numba and a slow import for one small function; the
references (RVC's RMVPE, FCPE, RIFT's mel, NSF-HiFiGAN) all use librosa's filters.
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3  # Slaney scale: linear part, Hz per mel
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(f_hz: np.ndarray, htk: bool = False) -> np.ndarray:
    f_hz = np.asarray(f_hz, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f_hz / 700.0)
    linear = f_hz / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f_hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(f_hz >= _MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mel: np.ndarray, htk: bool = False) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    linear = _F_SP * mel
    log_part = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log_part, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    htk: bool = False,
) -> np.ndarray:
    """Triangular filters with Slaney area normalisation -> (n_mels, n_fft // 2 + 1) float32."""
    if f_max_hz is None:
        f_max_hz = sample_rate / 2.0
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    mel_points = np.linspace(hz_to_mel(f_min_hz, htk), hz_to_mel(f_max_hz, htk), n_mels + 2)
    band_hz = mel_to_hz(mel_points, htk)
    band_width = np.diff(band_hz)
    ramps = band_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / band_width[:-1, None]
    upper = ramps[2:] / band_width[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (band_hz[2:] - band_hz[:-2]))[:, None]
    return weights.astype(np.float32)
