from __future__ import annotations

import math

import numpy as np
import pytest

from tests.eval.signals import glide, sine
from timbrel.eval.f0 import f0_metrics

SR = 16000


def test_constant_cents_offset_gives_that_rmse():
    source = np.array([0.0, 220.0, 230.0, 250.0, 0.0, 300.0])
    converted = np.where(source > 0, source * 2 ** (37 / 1200), 0.0)
    metrics = f0_metrics(source, converted)
    assert metrics.rmse_cents == pytest.approx(37.0, abs=1e-9)
    assert metrics.correlation == pytest.approx(1.0)
    assert metrics.vuv_error_rate == 0.0
    assert metrics.voiced_frames == 4


def test_key_shift_is_compensated():
    source = np.linspace(200.0, 400.0, 50)
    metrics = f0_metrics(source, source * 2.0, key_shift_semitones=12.0)
    assert metrics.rmse_cents == pytest.approx(0.0, abs=1e-9)
    assert f0_metrics(source, source * 2.0).rmse_cents == pytest.approx(1200.0)


def test_voicing_errors_and_length_mismatch():
    source = np.array([100.0, 100.0, 0.0, 0.0, 100.0, 100.0, 100.0, 100.0])
    converted = np.array([100.0, 0.0, 0.0, 120.0, 100.0, 100.0, 100.0, 100.0, 90.0, 90.0])
    metrics = f0_metrics(source, converted)
    assert metrics.frames == 8
    assert metrics.vuv_error_rate == pytest.approx(2 / 8)
    assert metrics.voiced_frames == 5
    assert metrics.rmse_cents == pytest.approx(0.0)
    assert math.isnan(metrics.correlation)  # a constant curve has no correlation


def test_too_few_voiced_frames_give_nan():
    metrics = f0_metrics(np.zeros(10), np.full(10, 200.0))
    assert math.isnan(metrics.rmse_cents) and metrics.vuv_error_rate == 1.0


@pytest.mark.parametrize("cents", [0.0, 50.0, -100.0])
def test_sine_against_shifted_sine_gives_the_shift(pm_pitch, cents):
    source = sine(220.0, 1.0, SR)
    converted = sine(220.0 * 2 ** (cents / 1200), 1.0, SR)
    track_s, track_c = pm_pitch.extract(source), pm_pitch.extract(converted)
    metrics = f0_metrics(track_s.f0_hz, track_c.f0_hz)
    assert metrics.voiced_frames > 80
    assert metrics.rmse_cents == pytest.approx(abs(cents), abs=1.0)
    assert metrics.vuv_error_rate < 0.05


def test_octave_up_conversion_with_key_shift_12(pm_pitch):
    source, converted = glide(150.0, 300.0, 1.0, SR), glide(300.0, 600.0, 1.0, SR)
    track_s, track_c = pm_pitch.extract(source), pm_pitch.extract(converted)
    metrics = f0_metrics(track_s.f0_hz, track_c.f0_hz, key_shift_semitones=12.0)
    assert metrics.rmse_cents < 5.0
    assert metrics.correlation > 0.999
