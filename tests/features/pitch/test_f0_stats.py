"""Training f0 statistics and the automatic key."""

from __future__ import annotations

import numpy as np
import pytest

from timbrel.features.pitch.f0_stats import F0Stats, auto_key_semitones


def test_statistics_pool_voiced_frames_only():
    stats = F0Stats.from_f0([np.array([0.0, 100.0, 200.0]), np.array([300.0, 0.0])])
    assert stats.median_hz == 200.0
    assert stats.voiced_frames == 3
    assert stats.quantiles_hz[0.5] == 200.0
    assert F0Stats.from_dict(stats.to_dict()) == stats


def test_no_voiced_frames_is_an_error():
    with pytest.raises(ValueError, match="no voiced frames"):
        F0Stats.from_f0([np.zeros(5)])


@pytest.mark.parametrize(("input_hz", "expected"), [(220.0, 12), (440.0, 0), (880.0, -12), (392.0, 2)])
def test_auto_key_moves_the_median_to_the_model(input_hz, expected):
    stats = F0Stats.from_f0([np.full(10, 440.0)])
    track = np.concatenate([np.zeros(4), np.full(9, input_hz)])
    assert auto_key_semitones(track, stats) == expected


def test_auto_key_of_silence_is_zero():
    assert auto_key_semitones(np.zeros(8), F0Stats.from_f0([np.full(3, 200.0)])) == 0
