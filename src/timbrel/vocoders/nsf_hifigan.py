"""NSF-HiFiGAN (openvpi SingingVocoders layout, spec 6.1-6.3): log-mel + f0 -> waveform.

The network holds plain convolution weights: weight normalisation is folded in once when the file is
loaded (`timbrel.weights.nsf_hifigan`), never recomputed per call.

The harmonic source draws two random tensors (initial phases of harmonics 2.., additive noise);
they are passed in as `SourceDraws` so that runs can be exact and reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbrel.core.errors import ConfigError
from timbrel.features.mel import MelConfig, nvstft_log_mel
from timbrel.nn.hifigan import ResBlock1, UpsamplingStack

SINE_AMP = 0.1
NOISE_STD = 0.003


@dataclass(frozen=True)
class NsfHifiGanConfig(MelConfig):
    """The mel analysis it expects (RIFT's by default) and the generator's shape; defaults: the
    44.1 kHz, hop-512, 128-bin release."""

    upsample_rates: tuple[int, ...] = (8, 8, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    harmonic_num: int = 8

    def __post_init__(self) -> None:
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError(
                f"upsample_rates {self.upsample_rates} and upsample_kernel_sizes "
                f"{self.upsample_kernel_sizes} must have the same length"
            )
        if math.prod(self.upsample_rates) != self.hop_length:
            raise ConfigError(
                f"the product of upsample_rates {self.upsample_rates} must equal hop_length {self.hop_length}"
            )
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError("resblock_kernel_sizes and resblock_dilation_sizes must have the same length")
        # The reference halves the width with integer division at each stage, so any width that stays
        # at least 1 through the last stage builds.
        if self.upsample_initial_channel < 2 ** len(self.upsample_rates):
            raise ConfigError(
                f"upsample_initial_channel {self.upsample_initial_channel} leaves no channel after "
                f"{len(self.upsample_rates)} halvings (needs at least {2 ** len(self.upsample_rates)})"
            )

    @property
    def harmonics(self) -> int:
        """Sines in the source: the fundamental plus `harmonic_num` overtones."""
        return self.harmonic_num + 1


@dataclass(frozen=True)
class SourceDraws:
    """The harmonic source's random inputs. initial_phase: (1 or b, 1, harmonics) in cycles (the fundamental's
    entry is ignored: it always starts at phase 0); noise: (b, n_samples, harmonics) standard normal."""

    initial_phase: Tensor
    noise: Tensor

    @classmethod
    def zeros(
        cls, batch: int, n_samples: int, harmonics: int, device: torch.device | None = None
    ) -> SourceDraws:
        """Deterministic source: every sine starts at phase 0 and no noise is added."""
        return cls(
            torch.zeros(1, 1, harmonics, device=device),
            torch.zeros(batch, n_samples, harmonics, device=device),
        )

    @classmethod
    def random(
        cls,
        batch: int,
        n_samples: int,
        harmonics: int,
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ) -> SourceDraws:
        """The reference's draws: phases U(0, 1) shared by the batch, noise N(0, 1)."""
        phase = torch.rand(1, 1, harmonics, generator=generator, device=device)
        noise = torch.randn(batch, n_samples, harmonics, generator=generator, device=device)
        return cls(phase, noise)


def harmonic_sines(f0_hz: Tensor, upsample: int, sample_rate: int, draws: SourceDraws) -> Tensor:
    """Sine excitation (spec 6.2 step 1).
    f0_hz: (b, n) frame-level Hz (0 = unvoiced) -> (b, n·upsample, harmonics)."""
    phase, voiced = fundamental_phase(f0_hz, upsample, sample_rate)
    return _sines(phase, voiced, draws.initial_phase, draws.noise)


def fundamental_phase(f0_hz: Tensor, upsample: int, sample_rate: int) -> tuple[Tensor, Tensor]:
    """f0_hz: (b, n) -> the fundamental's phase in cycles and the voicing, each (b, n·upsample, 1).

    f0 is held constant within a frame; the phase carried into each frame is accumulated modulo 1
    from the previous frames' last sample, which keeps float32 phases small over long inputs."""
    b, n = f0_hz.shape
    f0 = f0_hz.unsqueeze(-1)
    ramp = torch.arange(1, upsample + 1, device=f0.device, dtype=f0.dtype)
    rad = f0 / sample_rate * ramp
    carry = torch.fmod(rad[..., -1:] + 0.5, 1.0) - 0.5
    carry = carry.cumsum(dim=1).fmod(1.0)
    rad = rad + F.pad(carry, (0, 0, 1, -1))
    voiced = (f0 > 0).to(f0.dtype).repeat_interleave(upsample, dim=1)
    return rad.reshape(b, n * upsample, 1), voiced


def _sines(phase: Tensor, voiced: Tensor, initial_phase: Tensor, noise: Tensor) -> Tensor:
    """phase, voiced: (b, m, 1) from fundamental_phase (any range of samples), noise: (b, m, harmonics)
    of the same samples -> the excitation (b, m, harmonics)."""
    harmonics = noise.shape[-1]
    order = torch.arange(1, harmonics + 1, device=phase.device, dtype=phase.dtype)
    initial = initial_phase.clone()
    initial[..., 0] = 0
    sines = torch.sin(2 * math.pi * (phase * order + initial)) * SINE_AMP
    noise_amp = voiced * NOISE_STD + (1 - voiced) * SINE_AMP / 3
    return sines * voiced + noise_amp * noise


# Samples of the excitation made at a time: its harmonics and their intermediates take about 16 MB
# per second of 44.1 kHz audio each, which for a long slice outweighed the upsampling stack's
# tiles; 2^16 samples hold under 3 MB each.
SOURCE_CHUNK_SAMPLES = 1 << 16


class HarmonicSource(nn.Module):
    """Sines (plus noise) merged to one channel: f0_hz (b, n) -> (b, n·upsample, 1)."""

    def __init__(self, harmonics: int, sample_rate: int):
        super().__init__()
        self.sample_rate = sample_rate
        self.l_linear = nn.Linear(harmonics, 1)

    def forward(self, f0_hz: Tensor, upsample: int, draws: SourceDraws) -> Tensor:
        phase, voiced = fundamental_phase(f0_hz, upsample, self.sample_rate)
        total = phase.shape[1]
        if torch.is_grad_enabled() or total <= SOURCE_CHUNK_SAMPLES:
            return torch.tanh(self.l_linear(_sines(phase, voiced, draws.initial_phase, draws.noise)))
        # Every sample's excitation depends on its own phase, voicing and noise only.
        out = phase.new_empty(phase.shape)
        for start in range(0, total, SOURCE_CHUNK_SAMPLES):
            part = slice(start, start + SOURCE_CHUNK_SAMPLES)
            sines = _sines(phase[:, part], voiced[:, part], draws.initial_phase, draws.noise[:, part])
            out[:, part] = torch.tanh(self.l_linear(sines))
        return out


class NsfHifiGan(UpsamplingStack):
    """mel: (b, n_mels, n) natural-log mel, f0_hz: (b, n) -> waveform (b, 1, n·hop_length) in [-1, 1]."""

    def __init__(self, config: NsfHifiGanConfig):
        super().__init__()
        self.config = config
        channels = config.upsample_initial_channel
        rates = config.upsample_rates
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.m_source = HarmonicSource(config.harmonics, config.sample_rate)
        self.conv_pre = nn.Conv1d(config.n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.noise_convs = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(rates, config.upsample_kernel_sizes, strict=True)):
            in_channels, out_channels = channels // 2**i, channels // 2 ** (i + 1)
            self.ups.append(
                nn.ConvTranspose1d(in_channels, out_channels, kernel, rate, padding=(kernel - rate) // 2)
            )
            # The source is at the output rate; each stage sees it strided down to its own rate.
            stride = math.prod(rates[i + 1 :])
            if stride > 1:
                self.noise_convs.append(nn.Conv1d(1, out_channels, 2 * stride, stride, padding=stride // 2))
            else:
                self.noise_convs.append(nn.Conv1d(1, out_channels, 1))
            for k, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(ResBlock1(out_channels, k, tuple(dilations)))
        self.conv_post = nn.Conv1d(channels // 2 ** len(rates), 1, 7, padding=3)

    def source_draws(
        self, f0_hz: Tensor, generator: torch.Generator | None = None, deterministic: bool = False
    ) -> SourceDraws:
        """Random (or all-zero) source draws sized for `f0_hz` (b, n)."""
        b, n = f0_hz.shape
        size = (b, n * self.config.hop_length, self.config.harmonics)
        if deterministic:
            return SourceDraws.zeros(*size, device=f0_hz.device)
        return SourceDraws.random(*size, generator=generator, device=f0_hz.device)

    def forward(self, mel: Tensor, f0_hz: Tensor, draws: SourceDraws | None = None) -> Tensor:
        """mel: (b, n_mels, n), f0_hz: (b, n), draws: None = fresh draws from torch's global generator."""
        if draws is None:
            draws = self.source_draws(f0_hz)
        source = self.m_source(f0_hz, self.config.hop_length, draws).transpose(1, 2)
        return self.upsample(self.conv_pre(mel), source)


def vocoder_log_mel(samples: Tensor, config: NsfHifiGanConfig) -> Tensor:
    """The vocoder package's own mel (spec 6.3). samples: (b, n_samples) -> (b, n_mels, n_frames),
    natural log floored at config.log_floor. Short inputs that reflect padding cannot cover are
    zero-padded."""
    window = torch.hann_window(config.win_length, device=samples.device, dtype=samples.dtype)
    basis = torch.from_numpy(config.mel_basis()).to(device=samples.device, dtype=samples.dtype)
    return nvstft_log_mel(samples, config, window, basis)
