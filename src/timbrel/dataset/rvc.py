"""RVC training-set preparation of one recording: high-pass, slice, cut into pieces, normalise.

What one recording (number ``idx0`` in the sorted input folder) turns into, as RVC's
train/preprocess.py writes it: ``<experiment>/0_gt_wavs/<idx0>_<idx1>.wav`` at the model's rate
and ``<experiment>/1_16k_wavs/<idx0>_<idx1>.wav`` at 16 kHz, both float32 WAV. Piece numbers
follow the reference's counter (see timbrel.audio.segmenting), which can give two pieces the
same name: the reference then overwrites the first with the second, so the first is reported
here as superseded and not written. Pieces whose peak is not finite, zero or above
``max_input_peak`` are reported as skipped, as the reference drops them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from timbrel.audio import io
from timbrel.audio.filters import RVC_HIGHPASS, highpass_causal
from timbrel.audio.resample import resample
from timbrel.audio.segmenting import segment
from timbrel.audio.slicing import SlicerConfig, slice_spans
from timbrel.core.audio import Audio

CONTENT_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RVCExperiment:
    """An RVC experiment folder laid out as RVC's ``logs/<name>``: every path that stages read or
    write in it, so that no other module spells a folder name. The reference's ``logs/mute`` has
    the same layout."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def holding(cls, model_path: str | Path) -> RVCExperiment | None:
        """The experiment whose weights folder holds the exported ``model_path``, if any."""
        folder = Path(model_path).parent
        experiment = cls(folder.parent)
        return experiment if experiment.weights == folder else None

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def gt_wavs(self) -> Path:
        """Pieces at the model's rate (prepare)."""
        return self.root / "0_gt_wavs"

    @property
    def wavs_16k(self) -> Path:
        """The same pieces at 16 kHz, the extraction input (prepare)."""
        return self.root / "1_16k_wavs"

    @property
    def coarse_f0(self) -> Path:
        """``<piece>.wav.npy``: coarse pitch 1..255 per 10 ms frame (extract)."""
        return self.root / "2a_f0"

    @property
    def f0(self) -> Path:
        """``<piece>.wav.npy``: continuous f0 in Hz (extract)."""
        return self.root / "2b-f0nsf"

    def features(self, version: str) -> Path:
        """``<piece>.npy``: content features, 256-d for v1, 768-d for v2 (extract)."""
        return self.root / ("3_feature256" if version == "v1" else "3_feature768")

    @property
    def filelist(self) -> Path:
        return self.root / "filelist.txt"

    @property
    def weights(self) -> Path:
        """Exported voice models (train)."""
        return self.root / "weights"

    @property
    def validation(self) -> Path:
        return self.root / "validation.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def dataset_check(self) -> Path:
        return self.root / "dataset_check.json"


@dataclass(frozen=True)
class RVCPrepareConfig:
    """piece_s: 3.7 s by default; the reference uses 3.0 s on CPU, on an fp32 GPU or one with
    at most 4 GB (``for_cpu``). Each piece is scaled to ``x / peak * target_peak * peak_mix +
    (1 - peak_mix) * x`` (amplitudes are linear, full scale = 1)."""

    sample_rate: Literal[32000, 40000, 48000] = field(
        default=40000, metadata={"help": "Sample rate of the voice model to train: 32000, 40000 or 48000."}
    )
    piece_s: float = field(
        default=3.7, metadata={"help": "Piece length in seconds (RVC uses 3.0 on CPU and small GPUs)."}
    )
    overlap_s: float = 0.3
    target_peak: float = 0.9
    peak_mix: float = 0.75
    max_input_peak: float = 2.5

    def __post_init__(self) -> None:
        if self.sample_rate not in (32000, 40000, 48000):
            raise ValueError(f"sample_rate must be 32000, 40000 or 48000, got {self.sample_rate}")
        if not self.piece_s > self.overlap_s >= 0:
            raise ValueError(f"need piece_s > overlap_s >= 0, got {self.piece_s}, {self.overlap_s}")
        if not 0 <= self.peak_mix <= 1:
            raise ValueError(f"peak_mix must be in [0, 1], got {self.peak_mix}")

    @classmethod
    def for_cpu(cls, sample_rate: Literal[32000, 40000, 48000] = 40000) -> RVCPrepareConfig:
        return cls(sample_rate=sample_rate, piece_s=3.0)


@dataclass(frozen=True)
class RVCPiece:
    """One training piece. start: its first sample in the recording.
    samples: (n,) float32 at the config's rate; samples_16k: (ceil(n * 16000 / rate),) float32."""

    name: str
    start: int
    samples: np.ndarray
    samples_16k: np.ndarray


@dataclass(frozen=True)
class SkippedPiece:
    """A piece not written. reason: "abnormal_peak" (peak not finite, <= 0 or too large) or
    "superseded" (a later piece has the same name). start, end: samples in the recording."""

    name: str
    start: int
    end: int
    reason: Literal["abnormal_peak", "superseded"]
    peak: float


@dataclass(frozen=True)
class RVCRecording:
    """spans: the slicer's kept stretches [(start, end)] in samples of the high-passed recording."""

    idx0: int
    spans: tuple[tuple[int, int], ...]
    pieces: tuple[RVCPiece, ...]
    skipped: tuple[SkippedPiece, ...]


def _to_16k(y: np.ndarray, sample_rate: int) -> np.ndarray:
    # librosa pads or trims soxr's output to ceil(n * ratio) samples; integer arithmetic agrees
    # with its float ratio for every piece length RVC produces.
    length = -(-y.shape[0] * CONTENT_SAMPLE_RATE // sample_rate)
    out = resample(y, sample_rate, CONTENT_SAMPLE_RATE)
    if out.shape[0] < length:
        out = np.pad(out, (0, length - out.shape[0]))
    return out[:length]


def prepare_recording(samples: np.ndarray, idx0: int, config: RVCPrepareConfig) -> RVCRecording:
    """samples: (n,) mono float32 at ``config.sample_rate`` (as decoded) -> the pieces to write."""
    x = np.asarray(samples)
    if x.ndim != 1 or x.shape[0] == 0:
        raise ValueError(f"prepare_recording takes non-empty (n,) mono samples, got shape {x.shape}")
    rate = config.sample_rate
    filtered = highpass_causal(x, rate, RVC_HIGHPASS)
    spans = slice_spans(filtered, rate, SlicerConfig.rvc())

    written: dict[str, tuple[int, int]] = {}
    skipped: list[SkippedPiece] = []
    counter = 0
    for span_start, span_end in spans:
        pieces = segment(span_end - span_start, rate, config.piece_s, config.overlap_s, counter)
        counter = pieces[-1].index
        for piece in pieces:
            name = f"{idx0}_{piece.index}"
            start, end = span_start + piece.start, span_start + piece.end
            peak = float(np.max(np.abs(filtered[start:end])))
            if not (np.isfinite(peak) and 0 < peak <= config.max_input_peak):
                skipped.append(SkippedPiece(name, start, end, "abnormal_peak", peak))
                continue
            if name in written:
                old_start, old_end = written.pop(name)
                old_peak = float(np.max(np.abs(filtered[old_start:old_end])))
                skipped.append(SkippedPiece(name, old_start, old_end, "superseded", old_peak))
            written[name] = (start, end)

    out = []
    for name, (start, end) in written.items():
        piece = filtered[start:end]
        peak = np.abs(piece).max()
        y = piece / peak * (config.target_peak * config.peak_mix) + (1 - config.peak_mix) * piece
        out.append(RVCPiece(name, start, y.astype(np.float32), _to_16k(y, rate).astype(np.float32)))
    return RVCRecording(idx0, tuple(spans), tuple(out), tuple(skipped))


def write_recording(experiment_dir: str | Path, recording: RVCRecording, sample_rate: int) -> list[Path]:
    """Write each piece to ``0_gt_wavs`` and ``1_16k_wavs`` as float32 WAV, atomically.
    -> the paths written, in order."""
    experiment = RVCExperiment(experiment_dir)
    paths = []
    for piece in recording.pieces:
        gt = experiment.gt_wavs / f"{piece.name}.wav"
        io.save(gt, Audio.from_mono(piece.samples, sample_rate), subtype="FLOAT")
        low = experiment.wavs_16k / f"{piece.name}.wav"
        io.save(low, Audio.from_mono(piece.samples_16k, CONTENT_SAMPLE_RATE), subtype="FLOAT")
        paths += [gt, low]
    return paths
