"""RMVPE's log-mel front end: 16 kHz, 1024-point periodic Hann STFT (centred, reflect), hop 160,
128 HTK-spaced mel bands 30..8000 Hz with Slaney area normalisation, ln(max(mel, 1e-5))."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from timbrel.features.mel import MelConfig

RMVPE_MEL = MelConfig(
    sample_rate=16000,
    n_fft=1024,
    hop_length=160,
    win_length=1024,
    n_mels=128,
    f_min_hz=30.0,
    f_max_hz=8000.0,
    magnitude_eps=0.0,
    log_floor=1e-5,
    htk_mels=True,
)
SAMPLE_RATE = RMVPE_MEL.sample_rate
N_FFT = RMVPE_MEL.n_fft
HOP_LENGTH = RMVPE_MEL.hop_length


@lru_cache(maxsize=1)
def rmvpe_mel_basis() -> np.ndarray:
    """(128, 513) float32."""
    return RMVPE_MEL.mel_basis()


def rmvpe_log_mel(samples: Tensor) -> Tensor:
    """samples: (b, n) float32 at 16 kHz -> log-mel (b, 128, n // 160 + 1).

    Centred framing, unlike ``LogMelSpectrogram``'s: frame i is centred on sample i * 160."""
    c = RMVPE_MEL
    window = torch.hann_window(c.win_length, device=samples.device, dtype=samples.dtype)
    spectrum = torch.stft(
        samples,
        c.n_fft,
        hop_length=c.hop_length,
        win_length=c.win_length,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    magnitude = torch.sqrt(spectrum.real**2 + spectrum.imag**2 + c.magnitude_eps)
    basis = torch.from_numpy(rmvpe_mel_basis()).to(device=samples.device, dtype=samples.dtype)
    return torch.log(torch.clamp(basis @ magnitude, min=c.log_floor))
