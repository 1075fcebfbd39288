"""Synthetic test signals with known properties, shared by the eval tests."""

from __future__ import annotations

import numpy as np
from scipy import signal

VOWEL_A = ((700.0, 130.0), (1220.0, 70.0), (2600.0, 160.0))
VOWEL_I = ((300.0, 60.0), (2300.0, 100.0), (3000.0, 200.0))


def sine(f0_hz: float, seconds: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * f0_hz * t)).astype(np.float32)


def glide(f0_start_hz: float, f0_end_hz: float, seconds: float, sample_rate: int) -> np.ndarray:
    """A sine whose f0 moves exponentially from f0_start_hz to f0_end_hz."""
    n = int(seconds * sample_rate)
    f0_hz = f0_start_hz * (f0_end_hz / f0_start_hz) ** (np.arange(n) / n)
    return (0.5 * np.sin(2 * np.pi * np.cumsum(f0_hz) / sample_rate)).astype(np.float32)


def vowel(
    seconds: float,
    sample_rate: int,
    f0_hz: float = 140.0,
    formants: tuple[tuple[float, float], ...] = VOWEL_A,
    syllables_per_s: float = 4.0,
) -> np.ndarray:
    """A speech-like voice: harmonics of a wavering f0 through formant resonators, with a syllabic
    on/off envelope; peak 0.3."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = f0_hz * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t) + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = range(1, int(0.45 * sample_rate / (f0_hz * 1.1)))
    source = sum(np.sin(k * phase) / k for k in harmonics)
    voice = np.zeros(n)
    for center_hz, bandwidth_hz in formants:
        radius = np.exp(-np.pi * bandwidth_hz / sample_rate)
        theta = 2 * np.pi * center_hz / sample_rate
        voice += signal.lfilter([1 - radius], [1, -2 * radius * np.cos(theta), radius**2], source)
    voice *= np.sin(np.pi * syllables_per_s * t) ** 2
    return (0.3 * voice / np.abs(voice).max()).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise at ``snr_db`` below the signal's mean power, clipped to [-1, 1]."""
    noise = np.random.default_rng(seed).standard_normal(len(samples))
    noise *= np.sqrt(np.mean(samples.astype(np.float64) ** 2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return np.clip(samples + noise, -1, 1).astype(np.float32)
