"""RVC's training spectrograms: the linear spectrogram the posterior encoder reads and the log-mel
of the mel loss (reference train/mel_processing.py).

Linear: reflect-pad (n_fft - hop) / 2, STFT with a periodic Hann window, no centring, magnitude
sqrt(re² + im² + 2e-7); frames = n // hop_length. Mel: Slaney filters (f_min 0, f_max sr/2 by
default) applied to that magnitude, then ln(max(mel, 2e-6)). The 2023 ("classic") RVC used
1e-6 and 1e-5 instead: ``TrainSpectrogramConfig.classic(...)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from timbrel.features.melscale import mel_filterbank
from timbrel.features.stft import frame_count, log_mel, stft_magnitude


@dataclass(frozen=True)
class TrainSpectrogramConfig:
    """Named after RVC's data config: filter_length = n_fft, n_mel_channels = n_mels."""

    sample_rate: int = 40000
    n_fft: int = 2048
    hop_length: int = 400
    win_length: int = 2048
    n_mels: int = 125
    f_min_hz: float = 0.0
    f_max_hz: float | None = None
    magnitude_eps: float = 2e-7
    log_floor: float = 2e-6

    @classmethod
    def classic(cls, **fields) -> TrainSpectrogramConfig:
        """The 2023 RVC constants (magnitude eps 1e-6, log floor 1e-5)."""
        return dataclasses.replace(cls(**fields), magnitude_eps=1e-6, log_floor=1e-5)

    def frame_count(self, n_samples: int) -> int:
        return frame_count(n_samples, self.n_fft, self.hop_length)


class TrainSpectrogram(nn.Module):
    """The three spectrogram functions of RVC training over precomputed window and mel filters."""

    def __init__(self, config: TrainSpectrogramConfig):
        super().__init__()
        self.config = config
        c = config
        basis = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.f_min_hz, c.f_max_hz, htk=False)
        self.register_buffer("mel_basis", torch.from_numpy(basis), persistent=False)
        self.register_buffer("window", torch.hann_window(c.win_length), persistent=False)

    def linear(self, wave: torch.Tensor) -> torch.Tensor:
        """wave: (b, n) -> spec (b, n_fft // 2 + 1, n // hop_length) (spectrogram_torch)."""
        c = self.config
        return stft_magnitude(wave, c.n_fft, c.hop_length, self.window, c.magnitude_eps)

    def spec_to_mel(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (b, n_fft // 2 + 1, t) -> log-mel (b, n_mels, t)."""
        return log_mel(spec, self.mel_basis, self.config.log_floor)

    def mel(self, wave: torch.Tensor) -> torch.Tensor:
        """wave: (b, n) -> log-mel (b, n_mels, n // hop_length) (mel_spectrogram_torch)."""
        return self.spec_to_mel(self.linear(wave))

    forward = mel
