"""Putting converted slices back on the input's timeline with short cross-fades (RIFT's infer.py).

Each slice lands at its original start. Where a slice begins, the slice fades in over the rising
half of a Hann window while what the buffer already holds there fades out linearly; a slice that
is not the last also fades out linearly over its own end. Stretches the slicer dropped stay silent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fit_length(samples: np.ndarray, n_samples: int) -> np.ndarray:
    """samples: (m,) -> (n_samples,): cut, or zero-padded at the end."""
    if len(samples) >= n_samples:
        return samples[:n_samples]
    return np.pad(samples, (0, n_samples - len(samples)))


def fade_samples(fade_ms: float, sample_rate: int) -> int:
    """Fade length in samples, truncated as the reference computes it."""
    return int(fade_ms * sample_rate / 1000)


def crossfade_assemble(pieces: Sequence[tuple[int, np.ndarray]], total_samples: int, fade: int) -> np.ndarray:
    """pieces: (start_sample, samples (m,)) in timeline order -> (total_samples,) float64.

    fade: fade length in samples (0 = butt joins). A piece shorter than the fade fades over its length.
    """
    buffer = crossfade_buffer(total_samples, fade)
    last = len(pieces) - 1
    for index, (start, samples) in enumerate(pieces):
        crossfade_add(buffer, start, samples, fade, fade_in=index > 0, fade_out=index < last)
    return buffer[:total_samples]


def crossfade_buffer(total_samples: int, fade: int, dtype: type[np.floating] = np.float64) -> np.ndarray:
    """The silent buffer that crossfade_add puts pieces on; its first total_samples are the
    result."""
    if fade < 0:
        raise ValueError(f"fade must be at least 0 samples, got {fade}")
    return np.zeros(total_samples + fade, dtype=dtype)


def crossfade_add(
    buffer: np.ndarray, start: int, samples: np.ndarray, fade: int, fade_in: bool, fade_out: bool
) -> None:
    """Put one piece on ``buffer`` at ``start``: fade_in for every piece but the first, fade_out for
    every piece but the last. Pieces must come in timeline order where they overlap; pieces that
    do not overlap give the same buffer in any order (a fade-in only scales the piece's own
    stretch, silent until the piece lands)."""
    piece = np.array(samples[: len(buffer) - start], dtype=np.float64)
    n = min(fade, len(piece))
    if fade_in and n:
        piece[:n] *= np.hanning(2 * fade)[:n]
        buffer[start : start + n] *= np.linspace(1, 0, fade)[:n]
    if fade_out and n:
        piece[len(piece) - n :] *= np.linspace(1, 0, fade)[fade - n :]
    buffer[start : start + len(piece)] += piece
