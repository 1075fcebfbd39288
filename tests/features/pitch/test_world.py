from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.world import WorldConfig, WorldExtractor


def _tone(n_samples: int, sample_rate: int, f0_hz: float) -> np.ndarray:
    """Five harmonics: harvest does not lock onto a bare sine."""
    phase = 2 * np.pi * f0_hz * np.arange(n_samples) / sample_rate
    return sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))


@pytest.mark.parametrize("config", [WorldConfig.rvc_harvest(), WorldConfig.rvc_dio()])
def test_world_finds_a_tone(config):
    track = WorldExtractor(config).extract(_tone(8000, 16000, 330.0))
    assert track.hop_length == 160 and track.sample_rate == 16000
    voiced = track.f0_hz[track.f0_hz > 0]
    assert len(voiced) > 30
    np.testing.assert_allclose(np.median(voiced), 330.0, rtol=1e-3)


@settings(derandomize=True, max_examples=10, deadline=None)
@given(st.integers(1600, 16000))
def test_dio_frame_count(n_samples):
    track = WorldExtractor(WorldConfig.rvc_dio()).extract(_tone(n_samples, 16000, 200.0))
    assert len(track.f0_hz) == n_samples // 160 + 1
