"""A seeded corpus of odd, corrupt and good input entries, each labelled with what must become of it.

Every entry is one name in a folder: a file, a folder, a link or a pipe. ``expect`` says what a
stage must do with it: "good" (used: prepared, converted), "bad" (refused with a clear one-line
reason naming it) or "either" (a damaged file some decoders still read: used or clearly refused,
never a traceback and never silence). The same seed gives the same entries, byte for byte.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording
from timbrel.core.audio import Audio

RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000)
# (container, subtype, suffix): every bit depth and sample type libsndfile writes
ENCODINGS = (
    ("WAV", "PCM_U8", ".wav"),
    ("WAV", "PCM_16", ".wav"),
    ("WAV", "PCM_24", ".wav"),
    ("WAV", "PCM_32", ".wav"),
    ("WAV", "FLOAT", ".wav"),
    ("WAV", "DOUBLE", ".wav"),
    ("FLAC", "PCM_S8", ".flac"),
    ("FLAC", "PCM_16", ".flac"),
    ("FLAC", "PCM_24", ".flac"),
    ("OGG", "VORBIS", ".ogg"),
    ("MP3", "MPEG_LAYER_III", ".mp3"),
)
MP3_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)
NAME_DECORATIONS = ("", "", "", " with spaces", " é ü 歌", " [brackets]", "\nnewline", " -dash")


@dataclass(frozen=True)
class Entry:
    """name: the entry's name in its folder; kind: how it was made; expect: good, bad or either."""

    name: str
    kind: str
    expect: str


def _recording(rng: random.Random, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """A sung recording -> (samples (n, channels) float32, rate)."""
    rate = rng.choice(RATES)
    channels = rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 8) if rate <= 48000 else (1, 2))
    seconds = seconds if seconds is not None else rng.uniform(1.6, 3.0)
    # synthesis costs grow with the rate squared (its glide filter): high rates are resampled
    sung = sing_recording(rng.choice(SINGERS), seconds, min(rate, 48000), seed=rng.randrange(1 << 30))
    voice = io.conform(sung, rate).mono
    gains = np.linspace(0.9, 0.5, channels, dtype=np.float32)
    return np.ascontiguousarray(voice[:, None] * gains[None, :]), rate


def _encode(path: Path, rng: random.Random, encoding: tuple[str, str, str] | None = None) -> None:
    container, subtype, _ = encoding or rng.choice(ENCODINGS)
    samples, rate = _recording(rng)
    if container == "MP3":
        rate, samples = 44100, samples[:, :2]
    if container == "OGG":
        samples = samples[:, :2]
    soundfile.write(str(path), samples, rate, subtype=subtype, format=container)


def good(path: Path, rng: random.Random, outside: Path) -> str:
    _encode(path, rng, rng.choice(ENCODINGS))
    # Some codec and rate pairs come back shorter than written (lossy frames at odd rates): such a
    # file is no longer a good recording by construction, so its label follows what libsndfile reads.
    return "good" if soundfile.info(str(path)).duration >= 1.5 else "either"


def truncated(path: Path, rng: random.Random, outside: Path) -> str:
    _encode(path, rng, rng.choice([e for e in ENCODINGS if e[2] == path.suffix]))
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(0, len(data))])
    return "either"


def random_bytes(path: Path, rng: random.Random, outside: Path) -> str:
    path.write_bytes(rng.randbytes(rng.choice((1, 7, 44, 512, 4096, 30000))))
    return "bad"


def header_over_garbage(path: Path, rng: random.Random, outside: Path) -> str:
    """A valid header (of a real encoding) followed by random bytes."""
    _encode(path, rng, rng.choice([e for e in ENCODINGS if e[2] == path.suffix]))
    data = path.read_bytes()
    keep = {".wav": 44, ".flac": 42}.get(path.suffix, 64)
    path.write_bytes(data[:keep] + rng.randbytes(max(0, len(data) - keep)))
    return "either"  # garbage after a PCM header is noise, which is audio


def zero_length(path: Path, rng: random.Random, outside: Path) -> str:
    path.write_bytes(b"")
    return "bad"


def one_sample(path: Path, rng: random.Random, outside: Path) -> str:
    soundfile.write(str(path), np.array([0.5], np.float32), rng.choice(RATES), subtype="FLOAT")
    return "bad"


def silent(path: Path, rng: random.Random, outside: Path) -> str:
    soundfile.write(str(path), np.zeros(rng.choice(RATES) * 2, np.float32), 16000, subtype="PCM_16")
    return "bad"


def non_finite(path: Path, rng: random.Random, outside: Path) -> str:
    samples, rate = _recording(rng)
    samples[rng.randrange(len(samples)), 0] = rng.choice((np.nan, np.inf, -np.inf))
    soundfile.write(str(path), samples, rate, subtype=rng.choice(("FLOAT", "DOUBLE")))
    return "bad"


def implausible_rate(path: Path, rng: random.Random, outside: Path) -> str:
    """A real WAV whose fmt chunk claims a sample rate no recording has."""
    samples, _ = _recording(rng, 1.0)
    soundfile.write(str(path), samples[:, :1], 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    rate = rng.choice((1, 2, 100, 3999, 768001, 5_000_000, 0xFFFFFFFF))
    data[24:28] = rate.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return "bad"


def huge_length_claim(path: Path, rng: random.Random, outside: Path) -> str:
    """A short file whose header claims far more samples than it holds."""
    samples, rate = _recording(rng, 1.0)
    if path.suffix == ".flac":
        soundfile.write(str(path), samples[:, :1], rate, subtype="PCM_16")
        data = bytearray(path.read_bytes())
        claimed = rng.choice((io.MAX_DECODED_SAMPLES + 1, (1 << 36) - 1))
        data[21] = (data[21] & 0xF0) | (claimed >> 32)
        data[22:26] = (claimed & 0xFFFFFFFF).to_bytes(4, "big")
        path.write_bytes(bytes(data))
        return "bad"
    soundfile.write(str(path), samples[:, :1], rate, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[4:8] = (0xFFFFFFF0).to_bytes(4, "little")
    data[40:44] = (0xFFFFFFF0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return "either"  # libsndfile reads the data that is there


def text_renamed(path: Path, rng: random.Random, outside: Path) -> str:
    path.write_text("Verse 1\nla la la\n" * rng.randrange(1, 50), encoding="utf-8")
    return "bad"


def image_renamed(path: Path, rng: random.Random, outside: Path) -> str:
    magic = rng.choice(
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"GIF89a")
    )
    path.write_bytes(magic + rng.randbytes(rng.randrange(10, 5000)))
    return "bad"


def folder(path: Path, rng: random.Random, outside: Path) -> str:
    path.mkdir()
    return "bad"


def symlink_loop(path: Path, rng: random.Random, outside: Path) -> str:
    path.symlink_to(path.name)
    return "bad"


def broken_symlink(path: Path, rng: random.Random, outside: Path) -> str:
    path.symlink_to(f"gone-{rng.randrange(1 << 30)}.wav")
    return "bad"


def symlink_to_good(path: Path, rng: random.Random, outside: Path) -> str:
    target = outside / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    _encode(target, rng, ("WAV", "PCM_16", ".wav"))
    path.symlink_to(target)
    return "good"


def fifo(path: Path, rng: random.Random, outside: Path) -> str:
    os.mkfifo(path)
    return "bad"


KINDS: dict[str, tuple[Callable[[Path, random.Random, Path], str], tuple[str, ...], int]] = {
    # kind: (maker, suffixes it takes, weight)
    "good": (good, (".wav", ".flac", ".ogg", ".mp3"), 22),
    "truncated": (truncated, (".wav", ".flac", ".ogg", ".mp3"), 14),
    "random_bytes": (random_bytes, (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus"), 8),
    "header_over_garbage": (header_over_garbage, (".wav", ".flac", ".ogg", ".mp3"), 8),
    "zero_length": (zero_length, (".wav", ".flac", ".mp3"), 3),
    "one_sample": (one_sample, (".wav",), 3),
    "silent": (silent, (".wav",), 3),
    "non_finite": (non_finite, (".wav",), 4),
    "implausible_rate": (implausible_rate, (".wav",), 5),
    "huge_length_claim": (huge_length_claim, (".wav", ".flac"), 5),
    "text_renamed": (text_renamed, (".wav", ".mp3"), 3),
    "image_renamed": (image_renamed, (".wav", ".flac"), 3),
    "folder": (folder, (".wav",), 2),
    "symlink_loop": (symlink_loop, (".wav",), 2),
    "broken_symlink": (broken_symlink, (".flac",), 2),
    "symlink_to_good": (symlink_to_good, (".wav",), 2),
    "fifo": (fifo, (".wav",), 2),
}


def make_entries(folder_path: Path, count: int, seed: int, outside: Path) -> list[Entry]:
    """``count`` entries in ``folder_path`` (created), drawn with ``seed`` -> their labels. Links
    to good recordings lead into ``outside``. Two good recordings share a stem (x.wav beside
    x.flac) in every corpus of 10 or more."""
    folder_path.mkdir(parents=True, exist_ok=True)
    outside = outside / f"{seed}-{folder_path.name}"
    rng = random.Random(seed)
    names, weights = list(KINDS), [KINDS[k][2] for k in KINDS]
    entries = []
    for number in range(count):
        kind = rng.choices(names, weights)[0]
        maker, suffixes, _ = KINDS[kind]
        suffix = rng.choice(suffixes)
        name = f"{number:04d} {kind}{rng.choice(NAME_DECORATIONS)}{suffix}"
        expect = maker(folder_path / name, random.Random(rng.randrange(1 << 62)), outside)
        entries.append(Entry(name, kind, expect))
    if count >= 10:
        for suffix, encoding in ((".wav", ENCODINGS[1]), (".flac", ENCODINGS[7])):
            name = f"same stem{suffix}"
            _encode(folder_path / name, random.Random(seed + len(suffix)), encoding)
            entries.append(Entry(name, "same_stem", "good"))
    return entries


def good_recording(path: Path, seconds: float, rate: int, seed: int) -> None:
    """A plain good recording (for the stages that need one whatever the sample drew)."""
    io.save(path, Audio(sing_recording(SINGERS[seed % len(SINGERS)], seconds, rate, seed).samples, rate))
