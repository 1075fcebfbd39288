"""The GE2E speaker encoder of Resemblyzer: a 256-d unit embedding of who is speaking (or singing).

Front end (as Resemblyzer 0.1.4 computes it through librosa 0.10+): 16 kHz mono; power mel
spectrogram, not log, from a centred STFT with a 400-sample (25 ms) periodic Hann window, hop
160 (10 ms), zero padding of n_fft // 2 at both ends, 40 Slaney mel bands from 0 Hz to 8 kHz.
An utterance is cut into partial utterances of 160 frames (1.6 s) at 1.3 partials per second,
the last one dropped when it covers less than 75 % of its span (unless it is the only one), the
waveform zero-padded to the last partial's end; each partial goes through the network and the
utterance embedding is the L2-normalised mean of the partial embeddings.

Before that, Resemblyzer's ``preprocess_wav`` raises the level to -30 dBFS (never lowers it)
and removes long silences with webrtcvad. ``preprocess`` keeps the level rule and replaces the
webrtcvad speech detector (a C library) with an energy gate on the same 30 ms windows, smoothed
and dilated as Resemblyzer does; the embedding itself matches Resemblyzer's to float precision.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from timbrel.features.melscale import mel_filterbank

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160
N_MELS = 40
PARTIAL_FRAMES = 160
PARTIALS_PER_S = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1
VAD_WINDOW = 480  # 30 ms at 16 kHz, the window webrtcvad judges
VAD_SMOOTHING_WINDOWS = 8
VAD_MAX_SILENCE_WINDOWS = 6
VAD_GATE_DB = 40.0  # a window more than this below the loudest window counts as silence


@dataclass(frozen=True)
class VoiceEncoderConfig:
    n_mels: int = N_MELS
    hidden_size: int = 256
    embedding_size: int = 256
    num_layers: int = 3


class VoiceEncoder(nn.Module):
    """mels: (b, frames, n_mels) power mel frames -> (b, embedding_size), ReLU'd and L2-normalised."""

    def __init__(self, config: VoiceEncoderConfig = VoiceEncoderConfig()):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.n_mels, config.hidden_size, config.num_layers, batch_first=True)
        self.linear = nn.Linear(config.hidden_size, config.embedding_size)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embedding = torch.relu(self.linear(hidden[-1]))
        return embedding / torch.linalg.vector_norm(embedding, dim=1, keepdim=True)


@functools.cache
def _mel_basis() -> np.ndarray:
    return mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).astype(np.float64)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) at 16 kHz -> (1 + n // 160, 40) float32 power mel frames."""
    padded = np.pad(np.asarray(samples, dtype=np.float64), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ _mel_basis().T).astype(np.float32)


def partial_slices(n_samples: int) -> list[slice]:
    """Frame ranges of the partial utterances covering n_samples (each PARTIAL_FRAMES long)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP_LENGTH))
    frame_step = int(np.round(SAMPLE_RATE / PARTIALS_PER_S / HOP_LENGTH))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [slice(start, start + PARTIAL_FRAMES) for start in range(0, steps, frame_step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP_LENGTH) / (PARTIAL_FRAMES * HOP_LENGTH)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices.pop()
    return slices


def embed_utterance(encoder: VoiceEncoder, samples: np.ndarray) -> np.ndarray:
    """samples: (n,) at 16 kHz, already preprocessed -> (embedding_size,) float32 unit vector."""
    slices = partial_slices(len(samples))
    end = slices[-1].stop * HOP_LENGTH
    if end >= len(samples):
        samples = np.pad(samples, (0, end - len(samples)))
    mels = mel_frames(samples)
    batch = torch.from_numpy(np.stack([mels[s] for s in slices]))
    parameter = next(encoder.parameters())
    with torch.no_grad():
        partials = encoder(batch.to(parameter.device, parameter.dtype)).float().cpu().numpy()
    mean = partials.mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def raise_level(samples: np.ndarray) -> np.ndarray:
    """Scale up to TARGET_DBFS RMS (in int16 units, as Resemblyzer measures it); never scale down."""
    rms = np.sqrt(np.mean((samples.astype(np.float64) * INT16_MAX) ** 2))
    if rms == 0:
        return samples
    change_db = TARGET_DBFS - 20 * np.log10(rms / INT16_MAX)
    if change_db < 0:
        return samples
    return (samples * 10 ** (change_db / 20)).astype(np.float32)


def trim_long_silences(samples: np.ndarray) -> np.ndarray:
    """Drop silences longer than about VAD_MAX_SILENCE_WINDOWS windows; (n,) -> (m,), m <= n.

    The trailing part shorter than one window is dropped, as in Resemblyzer.
    """
    n_windows = len(samples) // VAD_WINDOW
    if n_windows == 0:
        return samples
    windows = samples[: n_windows * VAD_WINDOW].reshape(n_windows, VAD_WINDOW).astype(np.float64)
    energy_db = 10 * np.log10(np.mean(windows**2, axis=1) + 1e-12)
    voiced = energy_db > energy_db.max() - VAD_GATE_DB
    width = VAD_SMOOTHING_WINDOWS
    padded = np.concatenate([np.zeros((width - 1) // 2), voiced, np.zeros(width // 2)])
    smoothed = np.convolve(padded, np.ones(width) / width, mode="valid")
    keep = ndimage.binary_dilation(np.round(smoothed).astype(bool), np.ones(VAD_MAX_SILENCE_WINDOWS + 1))
    if not keep.any():
        return samples
    return windows[keep].reshape(-1).astype(np.float32)


def preprocess(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) at 16 kHz -> level-raised, long silences removed (m,) float32."""
    return trim_long_silences(raise_level(np.asarray(samples, dtype=np.float32)))
