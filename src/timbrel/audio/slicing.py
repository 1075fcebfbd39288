"""Silence slicing: the openvpi audio-slicer algorithm, as both references run it.

RVC cuts its training recordings with it; RIFT cuts the input at inference. Both keep the
non-silent stretches and drop long silences (spans between two kept stretches are the silence
removed; a silence no longer than ``max_silence_kept_ms`` becomes a single cut with the two
spans back to back). The RMS curve is librosa's centred framing with constant (zero) padding,
in the samples' precision as both references compute it (RIFT's float32 audio in float32,
RVC's float64 high-passed signal in float64), summed in the same order, so that the threshold
comparisons and arg-minima land on the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SlicerConfig:
    """Slicer settings in the references' units."""

    threshold_db: float = -30.0
    min_length_ms: float = 3000.0
    min_interval_ms: float = 100.0
    hop_ms: float = 20.0
    max_silence_kept_ms: float = 5000.0

    def __post_init__(self) -> None:
        if not self.min_length_ms >= self.min_interval_ms >= self.hop_ms:
            raise ValueError(
                "slicer needs min_length_ms >= min_interval_ms >= hop_ms, got "
                f"{self.min_length_ms}, {self.min_interval_ms}, {self.hop_ms}"
            )
        if not self.max_silence_kept_ms >= self.hop_ms:
            raise ValueError(
                f"slicer needs max_silence_kept_ms >= hop_ms, got {self.max_silence_kept_ms} < {self.hop_ms}"
            )
        if self.hop_ms <= 0:
            raise ValueError(f"hop_ms must be positive, got {self.hop_ms}")

    @classmethod
    def rvc(cls) -> SlicerConfig:
        """RVC's training preparation (train/preprocess.py)."""
        return cls(-42.0, 1500.0, 400.0, 15.0, 500.0)

    @classmethod
    def rift_infer(cls) -> SlicerConfig:
        """RIFT's infer.py and GUI defaults."""
        return cls(-30.0, 3000.0, 100.0, 10.0, 200.0)

    @classmethod
    def rift_class_defaults(cls) -> SlicerConfig:
        """The defaults of RIFT's Slicer constructor."""
        return cls(-30.0, 3000.0, 100.0, 20.0, 5000.0)


@dataclass(frozen=True)
class SlicerFrames:
    """A SlicerConfig at one sample rate: samples for hop and window, frames for the rest."""

    threshold: float
    hop_length: int
    frame_length: int
    min_length: int
    min_interval: int
    max_silence_kept: int

    @classmethod
    def from_config(cls, config: SlicerConfig, sample_rate: int) -> SlicerFrames:
        # The expression order follows the references so that Python's round() sees the same floats.
        hop_length = round(sample_rate * config.hop_ms / 1000)
        if hop_length < 1:
            raise ValueError(f"hop of {config.hop_ms} ms is below one sample at {sample_rate} Hz")
        min_interval_samples = sample_rate * config.min_interval_ms / 1000
        return cls(
            threshold=10 ** (config.threshold_db / 20.0),
            hop_length=hop_length,
            frame_length=min(round(min_interval_samples), 4 * hop_length),
            min_length=round(sample_rate * config.min_length_ms / 1000 / hop_length),
            min_interval=round(min_interval_samples / hop_length),
            max_silence_kept=round(sample_rate * config.max_silence_kept_ms / 1000 / hop_length),
        )


def frame_rms(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """samples: (n,) -> (1 + (n + 2 * (frame_length // 2) - frame_length) // hop_length,) float64 for
    float64 samples, float32 otherwise: sqrt(mean(x^2)) over frames of ``frame_length`` every
    ``hop_length``, the signal padded with frame_length // 2 zeros each side (librosa.feature.rms
    with its defaults).

    The squares are taken in that precision (the references' get_rms keeps its input's dtype), and
    each frame is summed along its contiguous axis, which is how numpy reduces librosa's framed
    view, so the result is bit-identical to it.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"frame_rms takes (n,) samples, got shape {x.shape}")
    half = frame_length // 2
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    squares = np.zeros(x.shape[0] + 2 * half, dtype=dtype)
    squares[half : half + x.shape[0]] = x
    np.square(squares, out=squares)
    if squares.shape[0] < frame_length:
        raise ValueError(f"{x.shape[0]} samples are too few for frames of {frame_length}")
    # a strided view: each frame is reduced along its contiguous axis, with nothing copied
    frames = np.lib.stride_tricks.sliding_window_view(squares, frame_length)[::hop_length]
    return np.sqrt(np.mean(frames, axis=-1))


def silence_tags(rms: np.ndarray, frames: SlicerFrames) -> list[tuple[int, int]]:
    """rms: (t,) -> the silent ranges to remove, [(first_frame, end_frame)], sorted and disjoint.

    A range (p, p) is a cut that removes nothing. The last range may end at t + 1 (a trailing
    silence).
    """
    # the references compare each rms with a Python float, which numpy 2 does in the rms's precision
    silent = rms < rms.dtype.type(frames.threshold)
    total = rms.shape[0]
    keep = frames.max_silence_kept
    tags: list[tuple[int, int]] = []
    clip_start = 0

    def argmin(first: int, last: int) -> int:
        """First minimum of rms[first..last], both ends included."""
        return first + int(np.argmin(rms[first : last + 1]))

    # Only the boundaries of silent runs matter: walk the runs instead of every frame.
    edges = np.flatnonzero(np.diff(silent.astype(np.int8), prepend=0, append=0))
    run_starts, run_ends = edges[0::2], edges[1::2]
    for silence_start, i in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        if i == total:
            break
        leading = silence_start == 0 and i > keep
        middle = i - silence_start >= frames.min_interval and i - clip_start >= frames.min_length
        if not leading and not middle:
            continue
        if i - silence_start <= keep:
            pos = argmin(silence_start, i)
            tags.append((0, pos) if silence_start == 0 else (pos, pos))
            clip_start = pos
        elif i - silence_start <= 2 * keep:
            pos = argmin(i - keep, silence_start + keep)
            pos_l = argmin(silence_start, silence_start + keep)
            pos_r = argmin(i - keep, i)
            if silence_start == 0:
                tags.append((0, pos_r))
                clip_start = pos_r
            else:
                tags.append((min(pos_l, pos), max(pos_r, pos)))
                clip_start = max(pos_r, pos)
        else:
            pos_l = argmin(silence_start, silence_start + keep)
            pos_r = argmin(i - keep, i)
            tags.append((0, pos_r) if silence_start == 0 else (pos_l, pos_r))
            clip_start = pos_r
    if run_ends.size and run_ends[-1] == total:
        silence_start = int(run_starts[-1])
        if total - silence_start >= frames.min_interval:
            pos = argmin(silence_start, min(total, silence_start + keep))
            tags.append((pos, total + 1))
    return tags


def slice_spans(samples: np.ndarray, sample_rate: int, config: SlicerConfig) -> list[tuple[int, int]]:
    """samples: (n,) -> the kept stretches [(start_sample, end_sample)], sorted, disjoint, non-empty;
    none for a signal that is silent from the first frame to the last.

    A signal of at most ``min_length`` samples is kept whole: the references compare the sample
    count with the frame count there, and so does this. RVC's slicer would also return an empty
    stretch [n, n) when its last cut falls exactly on the end of the signal (RIFT's would not);
    it is left out, as an empty piece gives no training file there either.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"slice_spans takes (n,) samples, got shape {x.shape}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("cannot slice an empty signal")
    frames = SlicerFrames.from_config(config, sample_rate)
    if n <= frames.min_length:
        return [(0, n)]
    rms = frame_rms(x, frames.frame_length, frames.hop_length)
    tags = silence_tags(rms, frames)
    total = rms.shape[0]
    kept_frames = []
    if not tags:
        return [(0, n)]
    if tags[0][0] > 0:
        kept_frames.append((0, tags[0][0]))
    kept_frames.extend((tags[k][1], tags[k + 1][0]) for k in range(len(tags) - 1))
    if tags[-1][1] < total:
        kept_frames.append((tags[-1][1], total))
    hop = frames.hop_length
    spans = [(first * hop, min(n, end * hop)) for first, end in kept_frames]
    return [(start, end) for start, end in spans if start < end]
