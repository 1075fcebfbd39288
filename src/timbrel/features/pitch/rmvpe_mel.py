"""RMVPE's log-mel front end: 16 kHz, 1024-point periodic Hann STFT (centred, reflect), hop 160,
128 HTK-spaced mel bands 30..8000 Hz with Slaney area normalisation, ln(max(mel, 1e-5))."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from timbrel.features.melscale import mel_filterbank

SAMPLE_RATE = 16000
N_FFT = 1024
HOP_LENGTH = 160
N_MELS = 128
F_MIN_HZ = 30.0
F_MAX_HZ = 8000.0
LOG_FLOOR = 1e-5


@lru_cache(maxsize=1)
def rmvpe_mel_basis() -> np.ndarray:
    """(128, 513) float32."""
    return mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, F_MIN_HZ, F_MAX_HZ, htk=True)


def rmvpe_log_mel(samples: Tensor) -> Tensor:
    """samples: (b, n) float32 at 16 kHz -> log-mel (b, 128, n // 160 + 1)."""
    window = torch.hann_window(N_FFT, device=samples.device, dtype=samples.dtype)
    spectrum = torch.stft(
        samples,
        N_FFT,
        hop_length=HOP_LENGTH,
        win_length=N_FFT,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    magnitude = torch.sqrt(spectrum.real**2 + spectrum.imag**2)
    basis = torch.from_numpy(rmvpe_mel_basis()).to(device=samples.device, dtype=samples.dtype)
    return torch.log(torch.clamp(basis @ magnitude, min=LOG_FLOOR))
