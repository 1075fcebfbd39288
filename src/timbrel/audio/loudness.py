"""Integrated loudness (ITU-R BS.1770-4, via pyloudnorm) and normalisation to a target.

RIFT normalises every recording to -18 LUFS and then, if the gain pushed the peak above full
scale, scales the whole signal down so that it peaks at the headroom (0.99): the result is
then quieter than the target. Data preparation measures with 0.4 s blocks, inference with
0.1 s blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyloudnorm


@dataclass(frozen=True)
class Normalized:
    """samples: (n,) float64. peak_scale: the factor the clipping rule applied, or None."""

    samples: np.ndarray
    measured_lufs: float
    peak_scale: float | None


def require_one_block(n_samples: int, sample_rate: int, block_size_s: float = 0.4) -> None:
    """ValueError unless ``n_samples`` cover one loudness block (the least loudness is measured on)."""
    if n_samples < block_size_s * sample_rate:
        raise ValueError(
            f"{n_samples} samples at {sample_rate} Hz are shorter than one {block_size_s} s loudness block"
        )


def measure_loudness(samples: np.ndarray, sample_rate: int, block_size_s: float = 0.4) -> float:
    """samples: (n,) with n >= block_size_s * sample_rate -> integrated loudness in LUFS
    (-inf for a signal below the -70 LUFS absolute gate)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"measure_loudness takes (n,) samples, got shape {x.shape}")
    require_one_block(x.shape[0], sample_rate, block_size_s)
    return float(pyloudnorm.Meter(sample_rate, block_size=block_size_s).integrated_loudness(x))


def apply_gain_to_lufs(samples: np.ndarray, measured_lufs: float, target_lufs: float) -> np.ndarray:
    """samples: (n,) -> (n,) float64 times 10^((target - measured) / 20), as pyloudnorm computes it."""
    if not np.isfinite(measured_lufs):
        raise ValueError(f"cannot normalise a signal of loudness {measured_lufs} LUFS (silent?)")
    gain = np.power(10.0, (target_lufs - measured_lufs) / 20.0)
    return gain * np.asarray(samples, dtype=np.float64)


def limit_peak(samples: np.ndarray, headroom: float = 0.99) -> tuple[np.ndarray, float | None]:
    """RIFT's clipping rule. samples: (n,) -> (samples scaled to peak at ``headroom`` if their peak
    exceeds 1.0 else unchanged, the factor applied or None)."""
    peak = float(np.max(np.abs(samples)))
    if peak <= 1.0:
        return samples, None
    scale = headroom / peak
    return samples * scale, scale


def normalize_loudness(
    samples: np.ndarray,
    sample_rate: int,
    target_lufs: float = -18.0,
    headroom: float = 0.99,
    block_size_s: float = 0.4,
) -> Normalized:
    """samples: (n,) -> gain to ``target_lufs``, then the clipping rule."""
    x = np.asarray(samples)
    measured = measure_loudness(x, sample_rate, block_size_s)
    y, scale = limit_peak(apply_gain_to_lufs(x, measured, target_lufs), headroom)
    return Normalized(y, measured, scale)
