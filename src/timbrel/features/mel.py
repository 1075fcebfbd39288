"""RIFT-SVC's log-mel spectrogram: the DiT's target, its conditioning and the NSF-HiFiGAN input.

44.1 kHz, n_fft 2048, periodic Hann window 2048, hop 512, 128 Slaney mels 40-16000 Hz,
magnitude sqrt(re² + im² + 1e-9), natural log with a floor of 1e-5. A signal of n samples gives
n // 512 frames. Values outside [-1, 1] are used as they are (the reference only warns).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from timbrel.features.melscale import mel_filterbank
from timbrel.features.stft import frame_count, log_mel, stft_magnitude


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 44100
    n_fft: int = 2048
    win_length: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    f_min_hz: float = 40.0
    f_max_hz: float = 16000.0
    magnitude_eps: float = 1e-9
    log_floor: float = 1e-5

    def frame_count(self, n_samples: int) -> int:
        return frame_count(n_samples, self.n_fft, self.hop_length)


class LogMelSpectrogram(nn.Module):
    """samples: (b, n) float at config.sample_rate -> log-mel (b, n_mels, n // hop_length)."""

    def __init__(self, config: MelConfig | None = None):
        super().__init__()
        self.config = config or MelConfig()
        c = self.config
        basis = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min_hz, c.f_max_hz, htk=False)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)
        self.register_buffer("window", torch.hann_window(c.win_length), persistent=False)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        c = self.config
        magnitude = stft_magnitude(samples, c.n_fft, c.hop_length, self.window, c.magnitude_eps)
        return log_mel(magnitude, self.mel_basis, c.log_floor)
