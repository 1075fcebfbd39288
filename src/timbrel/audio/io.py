"""The only module that decodes and encodes audio files.

soundfile (libsndfile) is the fast path for WAV, FLAC, OGG and MP3; everything else ffmpeg
can read goes through PyAV, which bundles ffmpeg. Samples come back as float32 with integer
PCM scaled by 2^(bits-1), as both references read them (ffmpeg's f32le output and soundfile
agree on that scale).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from timbrel.audio.resample import resample
from timbrel.core.audio import Audio
from timbrel.core.errors import BadInputError
from timbrel.core.files import atomic_path

SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"})
WRITABLE_SUFFIXES = frozenset({".wav", ".flac"})
# What a folder search picks up; a file named directly is decoded whatever its name.
AUDIO_SUFFIXES = frozenset(
    {
        ".wav",
        ".flac",
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".wma",
        ".aif",
        ".aiff",
        ".webm",
        ".mka",
    }
)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header where possible."""

    sample_rate: int
    num_channels: int
    num_samples: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate


def audio_files_under(folder: str | Path) -> list[Path]:
    """Audio files (by extension) anywhere under ``folder``, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise BadInputError(path, "no such file")
    if path.is_dir():
        raise BadInputError(path, "is a folder, not an audio file")
    if not os.access(path, os.R_OK):
        raise BadInputError(path, "permission denied: the file is not readable")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty file (0 bytes)")


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), int(rate)


def _decode_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av  # ffmpeg is needed only for formats libsndfile lacks

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadInputError(path, "no audio stream in the file")
            stream = container.streams.audio[0]
            to_float = av.AudioResampler(format="fltp")
            blocks = []
            rate = None
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    rate = converted.sample_rate
                    blocks.append(converted.to_ndarray())
            for converted in to_float.resample(None):
                blocks.append(converted.to_ndarray())
    except av.error.FFmpegError as error:
        raise BadInputError(path, f"cannot decode: {error}") from None
    if not blocks or rate is None:
        raise BadInputError(path, "decoded to zero samples")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), int(rate)


def decode(path: str | Path) -> Audio:
    """Every channel at the file's own rate, float32, validated (non-empty, finite)."""
    path = Path(path)
    _check_readable(path)
    samples = rate = None
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            samples, rate = _decode_soundfile(path)
        except (soundfile.LibsndfileError, RuntimeError):
            samples = None  # a wrong extension or a variant libsndfile lacks: let ffmpeg probe it
    if samples is None:
        samples, rate = _decode_pyav(path)
    if samples.shape[1] == 0:
        raise BadInputError(path, "holds zero samples")
    if not np.isfinite(samples).all():
        raise BadInputError(path, "contains NaN or infinite samples")
    return Audio(samples, rate)


def conform(audio: Audio, sample_rate: int | None = None, mono: bool = True) -> Audio:
    """Downmix to one channel (the mean, as RIFT does and as ffmpeg's stereo downmix does) when
    ``mono``, and resample to ``sample_rate`` with soxr when given."""
    if mono and audio.num_channels > 1:
        audio = Audio.from_mono(audio.mono, audio.sample_rate)
    if sample_rate is not None and sample_rate != audio.sample_rate:
        audio = Audio(resample(audio.samples, audio.sample_rate, sample_rate), sample_rate)
    return audio


def load(path: str | Path, sample_rate: int | None = None, mono: bool = True) -> Audio:
    """Decode ``path`` and conform it to ``sample_rate`` and one channel (see ``conform``)."""
    return conform(decode(path), sample_rate, mono)


def info(path: str | Path) -> AudioInfo:
    """Rate, channels and length without keeping the samples (header only for libsndfile formats)."""
    path = Path(path)
    _check_readable(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            header = soundfile.info(str(path))
            return AudioInfo(int(header.samplerate), int(header.channels), int(header.frames))
        except (soundfile.LibsndfileError, RuntimeError):
            pass
    audio = decode(path)
    return AudioInfo(audio.sample_rate, audio.num_channels, audio.num_samples)


def save(path: str | Path, audio: Audio, subtype: str | None = None) -> None:
    """Write WAV or FLAC atomically. subtype: soundfile's name ("PCM_16", "FLOAT", ...);
    None takes the format's default (16-bit PCM for both)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise BadInputError(path, f"cannot write {suffix!r}; writable: {sorted(WRITABLE_SUFFIXES)}")
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), audio.samples.T, audio.sample_rate, subtype=subtype, format=suffix[1:])
