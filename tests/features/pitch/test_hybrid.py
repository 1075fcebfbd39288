from __future__ import annotations

import numpy as np
import pytest

from timbrel.core.errors import ConfigError
from timbrel.features.pitch.base import PitchTrack
from timbrel.features.pitch.hybrid import HybridExtractor, combine_tracks
from timbrel.features.pitch.pm import PmConfig, PmExtractor
from timbrel.features.pitch.world import dio_extractor, harvest_extractor


def _track(values):
    return PitchTrack(f0_hz=np.array(values, dtype=np.float64), sample_rate=16000, hop_length=160)


def test_median_of_voiced_estimates_on_the_first_grid():
    combined = combine_tracks([_track([100, 0, 0, 300]), _track([110, 200, 0]), _track([500, 220, 0, 0, 9])])
    np.testing.assert_array_equal(combined.f0_hz, [110, 210, 0, 300])
    np.testing.assert_allclose(combined.periodicity, [1, 2 / 3, 0, 1 / 3])


def test_min_voiced_leaves_lone_estimates_unvoiced():
    combined = combine_tracks([_track([100, 0]), _track([120, 0]), _track([0, 300])], min_voiced=2)
    np.testing.assert_array_equal(combined.f0_hz, [110, 0])


def test_hybrid_of_three_methods_on_a_tone():
    phase = 2 * np.pi * 247.0 * np.arange(12000) / 16000
    samples = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)).astype(np.float32)
    track = HybridExtractor([PmExtractor(), harvest_extractor(), dio_extractor()]).extract(samples)
    assert len(track.f0_hz) == len(samples) // 160
    np.testing.assert_allclose(np.median(track.f0_hz[10:-10]), 247.0, rtol=2e-3)


def test_methods_on_different_grids_are_refused():
    with pytest.raises(ConfigError, match="share sample rate and hop"):
        HybridExtractor([PmExtractor(), PmExtractor(PmConfig.rift())])
