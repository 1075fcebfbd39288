"""The only module that decodes and encodes audio files.

soundfile (libsndfile) is the fast path for WAV, FLAC, OGG and MP3; everything else ffmpeg
can read goes through PyAV, which bundles ffmpeg. Samples come back as float32 with integer
PCM scaled by 2^(bits-1), as both references read them (ffmpeg's f32le output and soundfile
agree on that scale).
"""

from __future__ import annotations

import errno
import os
import stat
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


# Headers are checked before anything is decoded: a 44 KB file claiming a 1 Hz rate becomes
# gigabytes once resampled, and a header claiming billions of samples makes the decoder reserve them.
MIN_SAMPLE_RATE_HZ = 4000
MAX_SAMPLE_RATE_HZ = 768000
# Samples over all channels one decode may hold: 4 GiB as float32, e.g. 3.1 h of 48 kHz stereo.
MAX_DECODED_SAMPLES = 2**30
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sndfile.h


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
    """Audio files (by extension) anywhere under ``folder``, sorted. Links and pipes with an audio
    name are listed too, whatever they lead to, so that decoding reports them rather than the
    search dropping them unseen; folders are searched, never listed."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and not p.is_dir())


def find_audio(paths: list[str | Path]) -> list[Path]:
    """Files given directly, plus the audio files (by extension) found under given folders, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += audio_files_under(path)
        else:
            found.append(path)
    return found


def check_readable(path: Path) -> None:
    """Raise BadInputError with a plain sentence for every way ``path`` can fail to be a readable,
    non-empty regular file (missing, a broken link or a loop, a folder, a pipe, unreadable, empty)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            raise BadInputError(path, f"broken symbolic link: its target {target} does not exist") from None
        raise BadInputError(path, "no such file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise BadInputError(path, "symbolic link loop: the link leads back to itself") from None
        raise BadInputError(path, f"cannot read the file: {error.strerror}") from None
    if stat.S_ISDIR(mode):
        raise BadInputError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        raise BadInputError(path, f"is {kind}, not a regular audio file")
    if not os.access(path, os.R_OK):
        raise BadInputError(path, "permission denied: the file is not readable")
    if path.stat().st_size == 0:
        raise BadInputError(path, "empty file (0 bytes)")


# Magic bytes of the files people most often mistake for audio, and of the audio containers.
_NOT_AUDIO = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)
_AUDIO = (
    (b"RIFF", "WAV"),
    (b"RF64", "WAV"),
    (b"fLaC", "FLAC"),
    (b"OggS", "Ogg"),
    (b"ID3", "MP3"),
    (b"FORM", "AIFF"),
)


def _undecodable(
    path: Path, otherwise: str = "cannot decode: not in any audio format libsndfile or ffmpeg can read"
) -> BadInputError:
    """Why no decoder could read ``path``, from what its first bytes look like; ``otherwise``
    when they look like nothing known."""
    with open(path, "rb") as stream:
        head = stream.read(4096)
    for magic, kind in _NOT_AUDIO:
        if head.startswith(magic):
            return BadInputError(path, f"cannot decode: it is {kind}, not audio")
    for magic, kind in _AUDIO:
        if head.startswith(magic):
            return BadInputError(path, f"cannot decode: damaged or cut-short {kind} data")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c.isspace() for c in text):
        return BadInputError(path, "cannot decode: it is a text file, not audio")
    return BadInputError(path, otherwise)


def _check_header(path: Path, sample_rate: int, channels: int, claimed_frames: int | None) -> None:
    if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise BadInputError(
            path,
            f"implausible sample rate {sample_rate} Hz in the header "
            f"(accepted: {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz)",
        )
    if channels < 1:
        raise BadInputError(path, f"the header claims {channels} channels")
    if claimed_frames is not None and claimed_frames * channels > MAX_DECODED_SAMPLES:
        raise BadInputError(
            path,
            f"the header claims {claimed_frames} samples x {channels} channels "
            f"({claimed_frames / sample_rate / 3600:.1f} h), more than the {MAX_DECODED_SAMPLES} "
            "a file may decode to",
        )


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int]:
    with soundfile.SoundFile(str(path)) as stream:
        _check_header(path, stream.samplerate, stream.channels, stream.frames)
        data = stream.read(dtype="float32", always_2d=True)
        return np.ascontiguousarray(data.T), int(stream.samplerate)


def _planes(frame) -> np.ndarray:
    """A planar float32 frame -> (channels, n). PyAV's own to_ndarray reads one plane past the last
    for 8 channels or more (a segmentation fault), so only the layout's channels are read here."""
    channels = frame.layout.nb_channels
    return np.stack(
        [np.frombuffer(plane, dtype=np.float32, count=frame.samples) for plane in frame.planes[:channels]]
    )


def _decode_pyav(path: Path) -> tuple[np.ndarray, int]:
    import av  # ffmpeg is needed only for formats libsndfile lacks

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _undecodable(path, "no audio stream in the file")
            stream = container.streams.audio[0]
            claimed = None
            if container.duration is not None and stream.sample_rate:
                claimed = int(container.duration * stream.sample_rate / av.time_base)
            _check_header(path, stream.sample_rate or 0, stream.channels or 0, claimed)
            to_float = av.AudioResampler(format="fltp")
            blocks = []
            rate = None
            decoded = 0
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    rate = converted.sample_rate
                    blocks.append(_planes(converted))
                    decoded += blocks[-1].size
                if decoded > MAX_DECODED_SAMPLES:
                    raise BadInputError(
                        path, f"decodes to more than {MAX_DECODED_SAMPLES} samples, the most a file may hold"
                    )
            for converted in to_float.resample(None):
                blocks.append(_planes(converted))
    except av.error.FFmpegError:
        raise _undecodable(path) from None
    if not blocks or rate is None:
        raise BadInputError(path, "decoded to zero samples")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), int(rate)


def decode(path: str | Path) -> Audio:
    """Every channel at the file's own rate, float32, validated (non-empty, finite)."""
    path = Path(path)
    check_readable(path)
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
    check_readable(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            header = soundfile.info(str(path))
        except (soundfile.LibsndfileError, RuntimeError):
            header = None
        if header is not None:
            _check_header(path, header.samplerate, header.channels, header.frames)
            return AudioInfo(int(header.samplerate), int(header.channels), int(header.frames))
    audio = decode(path)
    return AudioInfo(audio.sample_rate, audio.num_channels, audio.num_samples)


def save(path: str | Path, audio: Audio, subtype: str | None = None) -> None:
    """Write WAV or FLAC atomically. subtype: soundfile's name ("PCM_16", "FLOAT", ...);
    None takes the format's default (16-bit PCM for both)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise BadInputError(path, f"cannot write {suffix!r}; writable: {sorted(WRITABLE_SUFFIXES)}")
    with (
        atomic_path(path) as tmp,
        soundfile.SoundFile(
            str(tmp), "w", audio.sample_rate, audio.num_channels, subtype=subtype, format=suffix[1:]
        ) as stream,
    ):
        # libsndfile stamps float WAVs with a PEAK chunk that holds the time of writing; without
        # it the same audio always gives the same bytes. soundfile has no public call for it.
        soundfile._snd.sf_command(stream._file, _SFC_SET_ADD_PEAK_CHUNK, soundfile._ffi.NULL, 0)
        stream.write(audio.samples.T)
