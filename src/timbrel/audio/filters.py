"""RVC's high-pass: a 5th-order 48 Hz Butterworth that removes rumble and DC.

Training preparation runs it causally (``lfilter``): the reference left zero-phase filtering
out there because of the pre-ringing it adds before transients. Inference at 16 kHz runs the
same design zero-phase (``filtfilt``, scipy's default odd padding).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import signal


@dataclass(frozen=True)
class HighpassConfig:
    """A Butterworth high-pass in (b, a) form."""

    cutoff_hz: float = 48.0
    order: int = 5

    def __post_init__(self) -> None:
        if self.cutoff_hz <= 0:
            raise ValueError(f"cutoff_hz must be positive, got {self.cutoff_hz}")
        if self.order < 1:
            raise ValueError(f"order must be at least 1, got {self.order}")


RVC_HIGHPASS = HighpassConfig()


@functools.lru_cache(maxsize=32)
def _coefficients(sample_rate: int, cutoff_hz: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    b, a = signal.butter(N=order, Wn=cutoff_hz, btype="high", fs=sample_rate)
    b.setflags(write=False)
    a.setflags(write=False)
    return b, a


def highpass_coefficients(
    sample_rate: int, config: HighpassConfig = RVC_HIGHPASS
) -> tuple[np.ndarray, np.ndarray]:
    """-> (b, a), each (order + 1,) float64, read-only (cached per rate)."""
    if config.cutoff_hz >= sample_rate / 2:
        raise ValueError(f"cutoff {config.cutoff_hz} Hz is not below Nyquist of {sample_rate} Hz")
    return _coefficients(int(sample_rate), float(config.cutoff_hz), int(config.order))


def highpass_causal(
    samples: np.ndarray, sample_rate: int, config: HighpassConfig = RVC_HIGHPASS
) -> np.ndarray:
    """samples: (n,) -> (n,) float64, filtered forward only from a zero state."""
    b, a = highpass_coefficients(sample_rate, config)
    return signal.lfilter(b, a, np.asarray(samples, dtype=np.float64))


def highpass_zero_phase(
    samples: np.ndarray, sample_rate: int, config: HighpassConfig = RVC_HIGHPASS
) -> np.ndarray:
    """samples: (n,) with n > 3 * (order + 1) -> (n,) float64, filtered forward and backward."""
    b, a = highpass_coefficients(sample_rate, config)
    return signal.filtfilt(b, a, np.asarray(samples, dtype=np.float64))
