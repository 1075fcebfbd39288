"""The Audio value that flows between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Audio:
    """A waveform and its rate.

    samples: (channels, n) float32, nominally in [-1, 1]; float64 where a reference computes in
    double precision up to the write (16-bit codes depend on it).
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"Audio.samples must be (channels, n), got shape {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"Audio.sample_rate must be positive, got {self.sample_rate}")

    @classmethod
    def from_mono(cls, samples: np.ndarray, sample_rate: int) -> Audio:
        """samples: (n,) -> Audio with one channel."""
        return cls(np.asarray(samples, dtype=np.float32).reshape(1, -1), sample_rate)

    @property
    def num_channels(self) -> int:
        return self.samples.shape[0]

    @property
    def num_samples(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def mono(self) -> np.ndarray:
        """(n,) float32: the mean over channels."""
        if self.num_channels == 1:
            return self.samples[0]
        return self.samples.mean(axis=0, dtype=np.float32)
