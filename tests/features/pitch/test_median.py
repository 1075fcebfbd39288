from __future__ import annotations

import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.median import nanmedian_rows, rvc_median_filter, sliding_nanmedian


def test_sliding_nanmedian_matches_rift(fixtures):
    data = torch.load(fixtures / "rift/features/robust_f0.pt", weights_only=True)
    values = data["slide_nanmedian_in"].numpy()
    np.testing.assert_array_equal(sliding_nanmedian(values, 3), data["slide_nanmedian_w3"].numpy())
    np.testing.assert_array_equal(sliding_nanmedian(values, 5), data["slide_nanmedian_w5"].numpy())


@settings(derandomize=True, max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.just(float("nan")), st.floats(0.0, 2000.0)), min_size=3, max_size=30))
def test_nanmedian_rows_is_numpys_nanmedian(values):
    stacked = np.array(values[: len(values) // 3 * 3]).reshape(3, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(stacked, axis=0)
    np.testing.assert_array_equal(nanmedian_rows(stacked), expected)


def test_rvc_median_is_a_zero_padded_three_tap_median():
    f0_hz = np.array([300.0, 100.0, 100.0, 500.0, 100.0])
    np.testing.assert_array_equal(rvc_median_filter(f0_hz, 3), [100.0, 100.0, 100.0, 100.0, 100.0])
    np.testing.assert_array_equal(rvc_median_filter(f0_hz, 7), rvc_median_filter(f0_hz, 3))
    np.testing.assert_array_equal(rvc_median_filter(f0_hz, 0), f0_hz)
