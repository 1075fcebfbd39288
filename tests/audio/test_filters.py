from __future__ import annotations

import numpy as np
import pytest
import torch

from tests import parity
from tests.parity import magnitude
from timbrel.audio.filters import (
    RVC_HIGHPASS,
    HighpassConfig,
    highpass_causal,
    highpass_coefficients,
    highpass_zero_phase,
)


def load(path):
    return torch.load(path, weights_only=True)


def test_training_highpass_coefficients_match_rvc(fixtures):
    data = load(fixtures / "rvc" / "dsp" / "preprocess.pt")
    b, a = highpass_coefficients(data["sr"], RVC_HIGHPASS)
    np.testing.assert_array_equal(b, data["butter_b"].numpy())
    np.testing.assert_array_equal(a, data["butter_a"].numpy())


def test_inference_zero_phase_highpass_matches_rvc(fixtures):
    data = load(fixtures / "rvc" / "dsp" / "highpass16k.pt")
    b, a = highpass_coefficients(16000)
    np.testing.assert_array_equal(b, data["b"].numpy())
    np.testing.assert_array_equal(a, data["a"].numpy())
    out = highpass_zero_phase(data["input"].numpy(), 16000)
    assert out.dtype == np.float64
    parity.iir_close(
        out, data["filtfilt_out"], a=data["a"].numpy(), passes=2, signal_scale=magnitude(data["input"])
    )


def test_highpass_removes_dc_and_keeps_the_voice_band():
    rate = 32000
    t = np.arange(rate * 2) / rate
    tone = np.sin(2 * np.pi * 440 * t)
    for filtered in (highpass_causal(tone + 0.5, rate), highpass_zero_phase(tone + 0.5, rate)):
        settled = filtered[rate:]
        assert abs(settled.mean()) < 1e-3
        np.testing.assert_allclose(np.sqrt(np.mean(settled**2)), np.sqrt(0.5), rtol=1e-3)


def test_causal_highpass_starts_from_rest():
    x = np.zeros(100)
    x[10] = 1.0
    y = highpass_causal(x, 48000)
    assert np.all(y[:10] == 0)
    assert y[10] == highpass_coefficients(48000)[0][0]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="cutoff"):
        HighpassConfig(cutoff_hz=0)
    with pytest.raises(ValueError, match="Nyquist"):
        highpass_coefficients(80, HighpassConfig(cutoff_hz=48.0))
