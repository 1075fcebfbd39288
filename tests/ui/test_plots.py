"""The convert tab's figures: f0 of known sines, spectrogram levels, and both figures drawn."""

from __future__ import annotations

import numpy as np
import soundfile

from timbrel.ui import plots


def sine(path, f0_hz: float, sample_rate: int, seconds: float = 1.0):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    soundfile.write(str(path), 0.5 * np.sin(2 * np.pi * f0_hz * t), sample_rate)
    return path


def test_f0_track_of_a_sine(tmp_path):
    times_s, f0_hz = plots.f0_track(sine(tmp_path / "a.wav", 220.0, 44100))
    assert times_s.shape == f0_hz.shape and np.all(np.diff(times_s) > 0)
    assert abs(np.nanmedian(f0_hz) - 220.0) < 1.0


def test_log_spectrogram_peaks_at_the_tone():
    sample_rate = 16000
    t = np.arange(sample_rate) / sample_rate
    level_db, hop_s = plots.log_spectrogram(np.sin(2 * np.pi * 1000.0 * t), sample_rate)
    assert level_db.shape[0] == plots.N_FFT // 2 + 1
    assert level_db.max() == 0.0 and level_db.min() >= plots.FLOOR_DB
    peak_bin = int(np.argmax(level_db[:, level_db.shape[1] // 2]))
    assert abs(peak_bin * sample_rate / plots.N_FFT - 1000.0) < sample_rate / plots.N_FFT
    assert hop_s == plots.N_FFT // 4 / sample_rate


def test_long_audio_is_drawn_with_bounded_columns():
    level_db, _ = plots.log_spectrogram(np.zeros(16000 * 600, dtype=np.float32), 16000)
    assert level_db.shape[1] <= plots.MAX_FRAMES + 1


def test_figures_render(tmp_path):
    source = sine(tmp_path / "source.wav", 220.0, 40000)
    converted = sine(tmp_path / "converted.wav", 330.0, 32000)
    for figure in (plots.f0_figure(source, converted), plots.spectrogram_figure(source, converted)):
        figure.savefig(tmp_path / "figure.png")
        assert (tmp_path / "figure.png").stat().st_size > 1000
