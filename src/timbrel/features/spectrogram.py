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

from timbrel.features.mel import LogMelSpectrogram, MelConfig


@dataclass(frozen=True)
class TrainSpectrogramConfig(MelConfig):
    """RVC's analysis defaults. Named after RVC's data config: filter_length = n_fft,
    n_mel_channels = n_mels."""

    sample_rate: int = 40000
    hop_length: int = 400
    n_mels: int = 125
    f_min_hz: float = 0.0
    f_max_hz: float | None = None
    magnitude_eps: float = 2e-7
    log_floor: float = 2e-6

    @classmethod
    def classic(cls, **fields) -> TrainSpectrogramConfig:
        """The 2023 RVC constants (magnitude eps 1e-6, log floor 1e-5)."""
        return dataclasses.replace(cls(**fields), magnitude_eps=1e-6, log_floor=1e-5)


class TrainSpectrogram(LogMelSpectrogram):
    """The three spectrogram functions of RVC training: ``linear`` (spectrogram_torch),
    ``spec_to_mel`` and ``mel`` (mel_spectrogram_torch), over precomputed window and mel filters."""

    def __init__(self, config: TrainSpectrogramConfig):
        super().__init__(config)

    def mel(self, wave: torch.Tensor) -> torch.Tensor:
        """wave: (b, n) -> log-mel (b, n_mels, n // hop_length)."""
        return self(wave)
