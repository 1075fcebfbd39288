"""FCPE pitch estimation as torchfcpe 0.0.4 runs its bundled model (`fcpe_c_v001.pt`), and RVC's use of it.

A log-mel front end (16 kHz, 128 mels, hop 160) feeds a convolution-only Conformer ("CFNaiveMelPE"
with conv_only) that outputs a salience ("latent") over 360 bins of a stored cents table; the
pitch is the salience-weighted mean of the cents around the strongest bin.

Input at another rate is resampled to 16 kHz with soxr here; torchfcpe uses torchaudio's
Hann-windowed sinc (lowpass_filter_width 128), so f0 differs slightly on that path only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbrel.audio.resample import resample
from timbrel.core.errors import ConfigError
from timbrel.features.mel import MelConfig, nvstft_log_mel
from timbrel.features.pitch.base import PitchTrack

Decoder = Literal["local_argmax", "argmax"]
DECODERS: tuple[str, ...] = ("local_argmax", "argmax")
# half-width in bins of local_argmax's window around the strongest bin
_LOCAL_HALF_WIDTH = 4


@dataclass(frozen=True)
class FcpeMelConfig(MelConfig):
    """torchfcpe's analysis defaults (magnitude eps 1e-9 and log floor 1e-5 as RIFT's)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    win_length: int = 1024
    f_min_hz: float = 0.0
    f_max_hz: float | None = 8000.0


@dataclass(frozen=True)
class FcpeConfig:
    """CFNaiveMelPE with conv_only=True, the layout of torchfcpe's bundled model."""

    mel: FcpeMelConfig = field(default_factory=FcpeMelConfig)
    hidden: int = 512
    n_layers: int = 6
    n_bins: int = 360
    kernel_size: int = 31
    expansion: int = 2
    f0_min_hz: float = 32.7
    f0_max_hz: float = 1975.5

    @classmethod
    def tiny(cls) -> FcpeConfig:
        return cls(hidden=16, n_layers=2, kernel_size=5)


class FcpeMel(nn.Module):
    """samples: (b, n) at mel.sample_rate -> log-mel (b, n // hop, n_mels): the vocoder package's
    mel (``nvstft_log_mel``), frames first."""

    def __init__(self, config: FcpeMelConfig):
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        self.register_buffer("mel_basis", torch.from_numpy(config.mel_basis()), persistent=False)

    def forward(self, samples: Tensor) -> Tensor:
        return nvstft_log_mel(samples, self.config, self.window, self.mel_basis).transpose(1, 2)


def mel_frames(mel: FcpeMel, samples: Tensor, sample_rate: int) -> Tensor:
    """samples: (b, n) at sample_rate -> log-mel (b, n // hop + 1, n_mels) on frames i * hop at 16 kHz.

    torchfcpe counts the target frames from the length *before* resampling, then appends one copy of
    the last frame if that count is larger or cuts to it if smaller; at 16 kHz this always means one
    duplicated last frame, and at 44.1 kHz one extra frame instead of the count (reproduced as is).
    """
    target_frames = samples.shape[-1] // mel.config.hop_length + 1
    if sample_rate != mel.config.sample_rate:
        resampled = resample(samples.cpu().numpy(), sample_rate, mel.config.sample_rate)
        samples = torch.from_numpy(resampled).to(samples.device)
    frames = mel(samples)
    if target_frames > frames.shape[1]:
        frames = torch.cat([frames, frames[:, -1:, :]], dim=1)
    return frames[:, :target_frames, :]


class _InputStack(nn.Module):
    """mel: (b, t, n_mels) -> (b, t, hidden): conv3 -> GroupNorm(4) -> LeakyReLU(0.01) -> conv3."""

    def __init__(self, n_mels: int, hidden: int):
        super().__init__()
        self.conv_in = nn.Conv1d(n_mels, hidden, 3, padding=1)
        self.norm = nn.GroupNorm(4, hidden)
        self.conv_out = nn.Conv1d(hidden, hidden, 3, padding=1)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.conv_out(F.leaky_relu(self.norm(self.conv_in(mel.transpose(1, 2))), 0.01))
        return x.transpose(1, 2)


class _ConvModuleBlock(nn.Module):
    """x: (b, t, d) -> x + ConvModule(x); ConvModule = LayerNorm -> pointwise to 2 * e * d -> GLU ->
    depthwise conv (same padding) -> SiLU -> pointwise back to d."""

    def __init__(self, dim: int, expansion: int, kernel_size: int):
        super().__init__()
        inner = dim * expansion
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, 2 * inner)
        # an even kernel would pad one less on the right
        self.padding = (kernel_size // 2, kernel_size // 2 - (kernel_size + 1) % 2)
        self.depthwise = nn.Conv1d(inner, inner, kernel_size, groups=inner)
        self.pointwise_out = nn.Linear(inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = F.glu(self.pointwise_in(self.norm(x)), dim=-1)
        h = F.silu(self.depthwise(F.pad(h.transpose(1, 2), self.padding)))
        return x + self.pointwise_out(h.transpose(1, 2))


class FcpeNet(nn.Module):
    """mel: (b, t, n_mels) log-mel -> latent (b, t, n_bins) in [0, 1]. `cent_table` (n_bins,) holds
    each bin's cents above 10 Hz."""

    def __init__(self, config: FcpeConfig):
        super().__init__()
        self.config = config
        self.input_stack = _InputStack(config.mel.n_mels, config.hidden)
        self.layers = nn.ModuleList(
            _ConvModuleBlock(config.hidden, config.expansion, config.kernel_size)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.hidden)
        self.output_proj = nn.Linear(config.hidden, config.n_bins)
        self.register_buffer("cent_table", torch.zeros(config.n_bins))

    def forward(self, mel: Tensor) -> Tensor:
        x = self.input_stack(mel)
        for layer in self.layers:
            x = layer(x)
        return torch.sigmoid(self.output_proj(self.norm(x)))


def decode_cents(latent: Tensor, cent_table: Tensor, decoder: Decoder = "local_argmax") -> Tensor:
    """latent: (b, t, n_bins) -> cents (b, t).

    local_argmax: latent-weighted mean of the cents of bins c-4..c+4 around the argmax c, indices
    clamped into range (so an edge bin counts once per clamped repeat). argmax: over all bins.
    """
    if decoder not in DECODERS:
        raise ConfigError(f"FCPE decoder {decoder!r} is unknown; allowed: {list(DECODERS)}")
    if decoder == "argmax":
        return (cent_table * latent).sum(dim=-1) / latent.sum(dim=-1)
    peak = latent.argmax(dim=-1, keepdim=True)
    offsets = torch.arange(-_LOCAL_HALF_WIDTH, _LOCAL_HALF_WIDTH + 1, device=latent.device)
    index = (peak + offsets).clamp(0, latent.shape[-1] - 1)
    weights = latent.gather(-1, index)
    return (cent_table[index] * weights).sum(dim=-1) / weights.sum(dim=-1)


def cents_to_f0_hz(cents: Tensor) -> Tensor:
    return 10.0 * 2 ** (cents / 1200.0)


def latent_to_f0(
    latent: Tensor, cent_table: Tensor, decoder: Decoder = "local_argmax", threshold: float = 0.006
) -> Tensor:
    """latent: (b, t, n_bins) -> f0_hz (b, t), 0 where the strongest bin is <= threshold."""
    f0_hz = cents_to_f0_hz(decode_cents(latent, cent_table, decoder))
    return f0_hz.masked_fill(latent.amax(dim=-1) <= threshold, 0.0)


def fcpe_f0(
    net: FcpeNet,
    mel: FcpeMel,
    samples: Tensor,
    sample_rate: int = 16000,
    decoder: Decoder = "local_argmax",
    threshold: float = 0.006,
) -> tuple[Tensor, Tensor]:
    """samples: (b, n) -> (f0_hz (b, t), confidence (b, t)) with t = n // 160 + 1 at 16 kHz; 0 Hz
    where unvoiced; confidence is the strongest bin's latent. The networks run on their device;
    both results come back on the CPU."""
    device = next(net.parameters()).device
    with torch.inference_mode():
        latent = net(mel_frames(mel, samples.to(device=device, dtype=torch.float32), sample_rate)).float()
    f0_hz = latent_to_f0(latent, net.cent_table, decoder, threshold)
    return f0_hz.cpu(), latent.amax(dim=-1).cpu()


def interpolate_unvoiced(f0_hz: Tensor, unvoiced: Tensor) -> Tensor:
    """f0_hz, unvoiced: (t,) -> f0 with unvoiced frames linearly interpolated over frame index from
    the voiced ones, ends held at the first/last voiced value; unchanged if nothing is voiced."""
    voiced_index = torch.nonzero(~unvoiced)[:, 0]
    if voiced_index.numel() == 0:
        return f0_hz.clone()
    gap_index = torch.nonzero(unvoiced)[:, 0]
    voiced_f0 = f0_hz[voiced_index]
    right = torch.searchsorted(voiced_index, gap_index).clamp(max=voiced_index.numel() - 1)
    left = (right - 1).clamp(min=0)
    x_left, x_right = voiced_index[left], voiced_index[right]
    y_left, y_right = voiced_f0[left], voiced_f0[right]
    filled = y_left + (gap_index - x_left) * (y_right - y_left) / (x_right - x_left)
    filled = torch.where(gap_index < voiced_index[0], voiced_f0[0], filled)
    filled = torch.where(gap_index > voiced_index[-1], voiced_f0[-1], filled)
    out = f0_hz.clone()
    out[gap_index] = filled
    return out


def fcpe_postprocess(
    f0_hz: Tensor,
    f0_min_hz: float,
    f0_max_hz: float | None = None,
    interp_unvoiced: bool = False,
    target_frames: int | None = None,
) -> tuple[Tensor, Tensor]:
    """torchfcpe `infer`'s post-processing. f0_hz: (b, t) -> (f0_hz, unvoiced) (b, t') float32.

    unvoiced = f0 < f0_min (before any filling); optional interpolation of unvoiced frames; clamp
    at f0_max; optional nearest-neighbour resize of both to target_frames.
    """
    unvoiced = (f0_hz < f0_min_hz).to(f0_hz.dtype)
    if interp_unvoiced:
        f0_hz = torch.stack(
            [interpolate_unvoiced(row, flags.bool()) for row, flags in zip(f0_hz, unvoiced, strict=True)]
        )
    if f0_max_hz is not None:
        f0_hz = f0_hz.clamp(max=f0_max_hz)
    if target_frames is not None:
        f0_hz = F.interpolate(f0_hz[:, None, :], size=target_frames, mode="nearest")[:, 0, :]
        unvoiced = F.interpolate(unvoiced[:, None, :], size=target_frames, mode="nearest")[:, 0, :]
    return f0_hz, unvoiced


@dataclass(frozen=True)
class FcpeExtractor:
    """FCPE as RVC calls it: 16 kHz, hop 160, local_argmax, threshold 0.006, no post-processing.
    Frame i spans samples i * 160 - 432 .. i * 160 + 591 (centre i * 160 + 80, as torchfcpe pads);
    there are n // 160 + 1 frames, the last a copy of the one before. Periodicity is the strongest
    bin's latent."""

    net: FcpeNet
    mel: FcpeMel
    name: str = "fcpe"
    sample_rate: int = 16000
    hop_length: int = 160
    decoder: Decoder = "local_argmax"
    threshold: float = 0.006

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) float32 at 16 kHz -> PitchTrack (frames,)."""
        wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None, :]
        f0_hz, confidence = fcpe_f0(self.net, self.mel, wav, self.sample_rate, self.decoder, self.threshold)
        return PitchTrack(
            f0_hz=f0_hz[0].numpy(),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            periodicity=confidence[0].numpy(),
        )
