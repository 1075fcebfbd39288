from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.errors import PitchError
from timbrel.features.pitch.pm import PmConfig, PmExtractor


@pytest.fixture(scope="module")
def f0_fixture(fixtures):
    return torch.load(fixtures / "rvc/dsp/f0.pt", weights_only=True)


def test_pm_raw_matches_parselmouth_reference(f0_fixture):
    track = PmExtractor(PmConfig(framing="raw")).extract(f0_fixture["pm_input_16k"].numpy())
    np.testing.assert_array_equal(track.f0_hz, f0_fixture["pm_raw_parselmouth"].numpy())


def test_pm_training_framing_pads_centred_to_p_len(f0_fixture):
    samples = f0_fixture["pm_input_16k"].numpy()
    track = PmExtractor(PmConfig.rvc_training()).extract(samples)
    raw = f0_fixture["pm_raw_parselmouth"].numpy()
    assert len(track.f0_hz) == f0_fixture["p_len"] == len(samples) // track.hop_length
    left = (len(track.f0_hz) - len(raw) + 1) // 2
    np.testing.assert_array_equal(track.f0_hz[left : left + len(raw)], raw)
    assert not track.f0_hz[:left].any() and not track.f0_hz[left + len(raw) :].any()


def _tone(n_samples: int, sample_rate: int, f0_hz: float = 220.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * f0_hz * np.arange(n_samples) / sample_rate)).astype(np.float32)


@settings(derandomize=True, max_examples=12, deadline=None)
@given(st.integers(2000, 24000))
def test_pm_frame_counts(n_samples):
    training = PmExtractor(PmConfig.rvc_training()).extract(_tone(n_samples, 16000))
    assert len(training.f0_hz) == n_samples // 160
    realtime = PmExtractor(PmConfig.rvc_realtime()).extract(_tone(n_samples, 16000))
    assert len(realtime.f0_hz) == n_samples // 160 + 1


def test_pm_finds_a_tone():
    track = PmExtractor().extract(_tone(16000, 16000, 220.0))
    voiced = track.f0_hz[track.f0_hz > 0]
    assert len(voiced) > 80
    np.testing.assert_allclose(np.median(voiced), 220.0, rtol=1e-3)


def test_pm_too_short_is_a_clear_error():
    with pytest.raises(PitchError, match="too short"):
        PmExtractor().extract(np.zeros(100, dtype=np.float32))
