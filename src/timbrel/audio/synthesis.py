"""Synthetic singing for the offline demo, tests and benchmarks.

A source-filter voice: a band-limited harmonic source following a melody with vibrato and
glides, shaped by a singer-specific spectral tilt and formant resonators, with breath noise,
note envelopes and silent gaps between phrases. Deterministic for a given seed. It is not
meant to sound like a person; it has what the pipeline needs to be exercised: pitch that
moves, timbre that differs between singers, silences to slice at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from timbrel.audio import io
from timbrel.core.audio import Audio


@dataclass(frozen=True)
class Singer:
    name: str
    base_midi: float  # centre of the melody's range
    formants_hz: tuple[float, ...]
    tilt_db_per_octave: float
    breathiness: float  # noise amplitude relative to the harmonic source


SINGERS = (
    Singer(
        "alto", base_midi=62.0, formants_hz=(700.0, 1200.0, 2600.0), tilt_db_per_octave=-9.0, breathiness=0.02
    ),
    Singer(
        "tenor",
        base_midi=55.0,
        formants_hz=(500.0, 1500.0, 2400.0),
        tilt_db_per_octave=-12.0,
        breathiness=0.04,
    ),
)


def _resonator(center_hz: float, bandwidth_hz: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    radius = np.exp(-np.pi * bandwidth_hz / sample_rate)
    theta = 2 * np.pi * center_hz / sample_rate
    a = np.array([1.0, -2 * radius * np.cos(theta), radius**2])
    return np.array([1.0 - radius]), a


def sing_phrase(
    singer: Singer, notes_midi: np.ndarray, note_s: float, sample_rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One legato phrase -> (samples (n,) float32, f0_hz per sample (n,))."""
    per_note = int(note_s * sample_rate)
    n = per_note * len(notes_midi)
    midi = np.repeat(notes_midi.astype(np.float64), per_note)
    glide = int(0.06 * sample_rate)
    midi = np.convolve(np.pad(midi, (glide, glide), mode="edge"), np.ones(glide) / glide, mode="same")[
        glide:-glide
    ]
    t = np.arange(n) / sample_rate
    vibrato = 0.35 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t) * np.clip(t / 0.4, 0, 1)
    f0_hz = 440.0 * 2 ** ((midi + vibrato - 69.0) / 12.0)
    phase = 2 * np.pi * np.cumsum(f0_hz) / sample_rate
    source = np.zeros(n)
    for k in range(1, 40):
        audible = f0_hz * k < 0.45 * sample_rate
        gain = 10 ** (singer.tilt_db_per_octave * np.log2(k) / 20)
        source += np.where(audible, gain * np.sin(k * phase), 0.0)
    source += singer.breathiness * rng.standard_normal(n) * 8
    voice = np.zeros(n)
    for formant in singer.formants_hz:
        b, a = _resonator(formant, 80.0 + formant * 0.05, sample_rate)
        voice += signal.lfilter(b, a, source)
    envelope = np.ones(n)
    ramp = int(0.03 * sample_rate)
    for start in range(0, n, per_note):
        envelope[start : start + ramp] *= np.linspace(0.6, 1.0, ramp)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.05 * sample_rate))
    voice *= envelope * fade
    voice *= 0.5 / max(np.abs(voice).max(), 1e-9)
    return voice.astype(np.float32), f0_hz.astype(np.float32)


def sing_recording(singer: Singer, seconds: float, sample_rate: int, seed: int) -> Audio:
    """Phrases of 4-8 notes separated by 0.5-1.2 s of near-silence, ``seconds`` long in total."""
    rng = np.random.default_rng(seed)
    total = int(seconds * sample_rate)
    parts: list[np.ndarray] = []
    length = 0
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    while length < total:
        notes = singer.base_midi - 6 + scale[rng.integers(0, len(scale), rng.integers(4, 9))]
        phrase, _ = sing_phrase(singer, notes, rng.uniform(0.25, 0.5), sample_rate, rng)
        gap = 1e-4 * rng.standard_normal(int(rng.uniform(0.5, 1.2) * sample_rate))
        parts += [phrase, gap.astype(np.float32)]
        length += len(phrase) + len(gap)
    return Audio.from_mono(np.concatenate(parts)[:total], sample_rate)


def make_corpus(
    folder: str | Path,
    seconds_per_singer: float,
    sample_rate: int = 44100,
    recording_s: float = 20.0,
    singers: tuple[Singer, ...] = SINGERS,
    seed: int = 0,
) -> list[Path]:
    """Write ``folder/<singer>/<singer>_<k>.wav`` (16-bit) and return the paths, sorted."""
    folder = Path(folder)
    paths = []
    for singer_index, singer in enumerate(singers):
        count = max(1, int(np.ceil(seconds_per_singer / recording_s)))
        for k in range(count):
            seconds = min(recording_s, seconds_per_singer - k * recording_s)
            audio = sing_recording(singer, seconds, sample_rate, seed=seed * 1000 + singer_index * 100 + k)
            path = folder / singer.name / f"{singer.name}_{k:03d}.wav"
            io.save(path, audio, subtype="PCM_16")
            paths.append(path)
    return sorted(paths)
