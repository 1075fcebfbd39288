"""The report's figures as PNG bytes: f0 curves, spectrograms and metric histograms.

matplotlib (the [eval] extra) is imported inside each function and draws through the Agg
backend's own canvas, so no global backend is chosen and no window is opened.
"""

from __future__ import annotations

import io as bytes_io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from timbrel.eval.evaluate import F0Curves
from timbrel.eval.mcd import HOP_LENGTH, N_MELS, SAMPLE_RATE, mel_power
from timbrel.features.melscale import hz_to_mel, mel_to_hz

DYNAMIC_RANGE_DB = 80.0
METRIC_LABELS = {
    "f0_rmse_cents": "F0 RMSE (cents)",
    "f0_correlation": "F0 correlation",
    "vuv_error_rate": "V/UV error rate",
    "speaker_similarity": "speaker similarity",
    "dnsmos_sig": "DNSMOS SIG",
    "dnsmos_bak": "DNSMOS BAK",
    "dnsmos_ovrl": "DNSMOS OVRL",
    "mcd_db": "MCD (dB)",
    "loudness_difference_lu": "loudness change (LU)",
}


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = bytes_io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _note_label(midi: float, _position: Any = None) -> str:
    rounded = round(midi)
    hz = 440.0 * 2 ** ((midi - 69) / 12)
    return f"{_NOTE_NAMES[rounded % 12]}{rounded // 12 - 1}  {hz:.0f} Hz"


def f0_plot(curves: F0Curves, title: str) -> bytes:
    """Source f0 (moved by the key shift) and converted f0 against time on a semitone axis
    labelled with note names and Hz; gaps are unvoiced frames."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = _figure(9.0, 3.2)
    axes = figure.add_subplot()
    for f0_hz, label, style in (
        (curves.source_f0_hz, "source (key-shifted)", {"color": "#8fbce6", "linewidth": 4.0}),
        (curves.converted_f0_hz, "converted", {"color": "#d62728", "linewidth": 1.2}),
    ):
        time_s = np.arange(len(f0_hz)) / curves.frame_rate_hz
        with np.errstate(divide="ignore"):
            midi = np.where(f0_hz > 0, 69 + 12 * np.log2(np.maximum(f0_hz, 1e-9) / 440.0), np.nan)
        axes.plot(time_s, midi, label=label, **style)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=7, integer=True))
    axes.yaxis.set_major_formatter(FuncFormatter(_note_label))
    axes.set_xlabel("time (s)")
    axes.set_ylabel("f0")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right")
    return _png(figure)


def log_mel_db(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) at the MCD rate (24 kHz) -> (80, frames) mel power in dB (MCD's front end)."""
    return 10 * np.log10(np.maximum(mel_power(samples), 1e-12)).T


def spectrogram_plot(source: np.ndarray, converted: np.ndarray, title: str) -> bytes:
    """Log-mel spectrograms of source and converted, both (n,) at 24 kHz, on one colour scale;
    the band axis is labelled in Hz."""
    spectra = [log_mel_db(source), log_mel_db(converted)]
    top = max(s.max() for s in spectra)
    band_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), N_MELS + 2))[1:-1]
    ticks_hz = [hz for hz in (250, 500, 1000, 2000, 4000, 8000) if hz < band_hz[-1]]
    figure = _figure(9.0, 4.8)
    axes = figure.subplots(2, 1, sharex=True)
    image = None
    for ax, spectrum, label in zip(axes, spectra, ("source", "converted"), strict=True):
        extent = (0.0, spectrum.shape[1] * HOP_LENGTH / SAMPLE_RATE, -0.5, spectrum.shape[0] - 0.5)
        image = ax.imshow(
            spectrum,
            origin="lower",
            aspect="auto",
            extent=extent,
            vmin=top - DYNAMIC_RANGE_DB,
            vmax=top,
            cmap="magma",
            interpolation="nearest",
        )
        ax.set_yticks(np.interp(ticks_hz, band_hz, np.arange(N_MELS)))
        ax.set_yticklabels([f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in ticks_hz])
        ax.set_ylabel(f"{label}\nHz (mel scale)")
    axes[0].set_title(title)
    axes[1].set_xlabel("time (s)")
    figure.colorbar(image, ax=list(axes), label="dB")
    return _png(figure)


def histogram_plot(per_file: Sequence[dict[str, float]]) -> bytes | None:
    """One histogram per metric over the files (None when no metric has a finite value)."""
    from matplotlib.ticker import MaxNLocator

    names = [n for n in METRIC_LABELS if any(math.isfinite(m.get(n, math.nan)) for m in per_file)]
    if not names:
        return None
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = _figure(3.4 * columns, 2.6 * rows)
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        values = np.array([m[name] for m in per_file if math.isfinite(m.get(name, math.nan))])
        axes.hist(values, bins=min(20, max(5, len(values))), color="#4c72b0", edgecolor="white")
        axes.axvline(values.mean(), color="#d62728", linewidth=1.5, label=f"mean {values.mean():.4g}")
        axes.xaxis.set_major_locator(MaxNLocator(nbins=4))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(METRIC_LABELS[name], fontsize=10)
        axes.set_ylabel("files")
        axes.legend(fontsize=8, loc="upper right")
    return _png(figure)
