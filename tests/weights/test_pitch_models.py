"""Pitch extractors by name, as the CLI and UI ask for them."""

from __future__ import annotations

import numpy as np

from timbrel.features.pitch.hybrid import DEFAULT_METHODS, combine_tracks
from timbrel.weights.pitch_models import PitchModels


def test_hybrid_is_the_median_of_its_default_methods(fixtures):
    models = PitchModels(fixtures / "rift" / "rmvpe_small" / "model.pt")
    phase = 2 * np.pi * 196.0 * np.arange(16000) / 16000
    samples = (0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase)).astype(np.float32)
    hybrid = models("hybrid")
    assert [e.name for e in hybrid.extractors] == list(DEFAULT_METHODS) == ["rmvpe", "fcpe"]
    expected = combine_tracks([models(name).extract(samples) for name in DEFAULT_METHODS])
    np.testing.assert_array_equal(hybrid.extract(samples).f0_hz, expected.f0_hz)
