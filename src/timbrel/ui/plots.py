"""Figures for the convert tab: source vs converted f0, and both spectrograms.

f0 comes from Praat's autocorrelation (the "pm" method) on 16 kHz copies of both files, so the
two curves are measured the same way whatever method the conversion used. Figures are built
on matplotlib's object API (no pyplot state), so handlers running in threads do not collide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from timbrel.audio import io
from timbrel.features.pitch import registry

F0_SAMPLE_RATE = 16000
N_FFT = 1024
MAX_FRAMES = 2000  # columns drawn per spectrogram; the hop grows for long files
FLOOR_DB = -100.0


def f0_track(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A file -> (times_s (frames,), f0_hz (frames,), NaN where unvoiced)."""
    samples = io.load(path, F0_SAMPLE_RATE).mono
    track = registry.create("pm").extract(samples)
    f0_hz = np.where(track.f0_hz > 0, track.f0_hz, np.nan)
    return np.arange(len(f0_hz)) / track.frame_rate_hz, f0_hz


def f0_figure(source: str | Path, converted: str | Path) -> Figure:
    figure = Figure(figsize=(9, 3.2), layout="constrained")
    axes = figure.add_subplot()
    for path, label, colour in ((source, "source", "tab:blue"), (converted, "converted", "tab:orange")):
        times_s, f0_hz = f0_track(path)
        axes.plot(times_s, f0_hz, label=label, color=colour, linewidth=1.2)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("f0 (Hz)")
    axes.set_title("f0 (Praat autocorrelation), unvoiced frames left out")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(alpha=0.3)
    return figure


def log_spectrogram(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """samples: (n,) -> (level_db (n_fft // 2 + 1, frames) relative to the peak, hop_s)."""
    hop_length = max(N_FFT // 4, -(-len(samples) // MAX_FRAMES))
    padded = np.pad(samples.astype(np.float32), (N_FFT // 2, N_FFT // 2))
    padded = np.pad(padded, (0, max(0, N_FFT - len(padded))))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::hop_length]
    magnitude = np.abs(np.fft.rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1)).T
    level_db = 20 * np.log10(np.maximum(magnitude, 1e-10))
    level_db = np.maximum(level_db - level_db.max(), FLOOR_DB)
    return level_db, hop_length / sample_rate


def spectrogram_figure(source: str | Path, converted: str | Path) -> Figure:
    figure = Figure(figsize=(9, 5), layout="constrained")
    rows = figure.subplots(2, 1, sharex=True)
    for axes, path, title in ((rows[0], source, "source"), (rows[1], converted, "converted")):
        audio = io.load(path)
        level_db, hop_s = log_spectrogram(audio.mono, audio.sample_rate)
        image = axes.imshow(
            level_db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=FLOOR_DB,
            vmax=0.0,
            extent=(0.0, level_db.shape[1] * hop_s, 0.0, audio.sample_rate / 2000),
        )
        axes.set_title(f"{title} ({audio.sample_rate} Hz)")
        axes.set_ylabel("kHz")
    rows[1].set_xlabel("time (s)")
    figure.colorbar(image, ax=rows, label="dB re peak")
    return figure
