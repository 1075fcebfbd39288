"""The mel analysis every spectrogram in Timbrel is an instance of, and RIFT-SVC's log-mel.

RIFT-SVC's log-mel (the DiT's target, its conditioning and the NSF-HiFiGAN input, whose config
extends this one): 44.1 kHz, n_fft 2048, periodic Hann window 2048, hop 512, 128 Slaney mels
40-16000 Hz, magnitude sqrt(re² + im² + 1e-9), natural log with a floor of 1e-5. A signal of n
samples gives n // 512 frames. Values outside [-1, 1] are used as they are (the reference only
warns). RVC's training spectrogram and the front ends of RMVPE and FCPE are other instances of
``MelConfig``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbrel.features.melscale import mel_filterbank
from timbrel.features.stft import frame_count, log_mel, stft_magnitude


@dataclass(frozen=True)
class MelConfig:
    """f_max_hz None: half the sample rate. htk_mels: HTK-spaced bands (still Slaney-normalised)."""

    sample_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    win_length: int = 2048
    n_mels: int = 128
    f_min_hz: float = 40.0
    f_max_hz: float | None = 16000.0
    magnitude_eps: float = 1e-9
    log_floor: float = 1e-5
    htk_mels: bool = False

    def frame_count(self, n_samples: int) -> int:
        return frame_count(n_samples, self.n_fft, self.hop_length)

    def mel_basis(self) -> np.ndarray:
        """(n_mels, n_fft // 2 + 1) float32."""
        return mel_filterbank(
            self.sample_rate, self.n_fft, self.n_mels, self.f_min_hz, self.f_max_hz, htk=self.htk_mels
        )

    @property
    def analysis(self) -> MelConfig:
        """The mel-analysis fields alone, for configs that extend this one (the vocoder's)."""
        return MelConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(MelConfig)})


class LogMelSpectrogram(nn.Module):
    """samples: (b, n) float at config.sample_rate -> log-mel (b, n_mels, n // hop_length), over
    the padded framing of ``timbrel.features.stft``."""

    def __init__(self, config: MelConfig | None = None):
        super().__init__()
        self.config = config or MelConfig()
        self.register_buffer("mel_basis", torch.from_numpy(self.config.mel_basis()), persistent=False)
        self.register_buffer("window", torch.hann_window(self.config.win_length), persistent=False)

    def linear(self, samples: torch.Tensor) -> torch.Tensor:
        """samples: (b, n) -> magnitude (b, n_fft // 2 + 1, n // hop_length)."""
        c = self.config
        return stft_magnitude(samples, c.n_fft, c.hop_length, self.window, c.magnitude_eps)

    def spec_to_mel(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (b, n_fft // 2 + 1, t) -> log-mel (b, n_mels, t)."""
        return log_mel(spec, self.mel_basis, self.config.log_floor)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        return self.spec_to_mel(self.linear(samples))


def nvstft_log_mel(samples: Tensor, config: MelConfig, window: Tensor, mel_basis: Tensor) -> Tensor:
    """The vocoder package's log-mel (nvSTFT), which FCPE shares. samples: (b, n) -> (b, n_mels,
    frames). Reflect padding of (win - hop) // 2 on the left and at least (win - hop + 1) // 2 on
    the right, constant padding when the signal is too short to reflect, then a non-centred STFT.
    window: (win_length,); mel_basis: (n_mels, n_fft // 2 + 1)."""
    c = config
    left = (c.win_length - c.hop_length) // 2
    right = max((c.win_length - c.hop_length + 1) // 2, c.win_length - samples.shape[-1] - left)
    mode = "reflect" if right < samples.shape[-1] else "constant"
    padded = F.pad(samples.unsqueeze(1), (left, right), mode=mode).squeeze(1)
    spec = torch.stft(
        padded,
        c.n_fft,
        hop_length=c.hop_length,
        win_length=c.win_length,
        window=window,
        center=False,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + c.magnitude_eps)
    return torch.log(torch.clamp(torch.matmul(mel_basis, magnitude), min=c.log_floor))
