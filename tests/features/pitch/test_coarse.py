from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.coarse import F0_MAX_HZ, F0_MIN_HZ, coarse_pitch


def test_coarse_matches_rvc_training_and_inference_exactly(fixtures):
    data = torch.load(fixtures / "rvc/dsp/f0.pt", weights_only=True)
    coarse = coarse_pitch(data["f0_hz"].numpy())
    assert coarse.dtype == np.int64
    np.testing.assert_array_equal(coarse, data["coarse_train_extract"].numpy())
    np.testing.assert_array_equal(coarse, data["coarse_inference_formula"].numpy())


def test_coarse_range_ends():
    np.testing.assert_array_equal(
        coarse_pitch(np.array([0.0, 10.0, F0_MIN_HZ, F0_MAX_HZ, 5000.0])), [1, 1, 1, 255, 255]
    )


@settings(derandomize=True, max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 3000.0), min_size=2, max_size=64))
def test_coarse_is_monotonic_and_bounded(values):
    f0_hz = np.sort(np.array(values))
    coarse = coarse_pitch(f0_hz)
    assert np.all(np.diff(coarse) >= 0)
    assert coarse.min() >= 1 and coarse.max() <= 255
