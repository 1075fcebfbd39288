from __future__ import annotations

import numpy as np
import pytest

from timbrel.features.pitch.errors import AllUnvoicedError
from timbrel.features.pitch.interpolate import fill_unvoiced


def test_gaps_are_linear_and_ends_are_held():
    f0_hz = np.array([0.0, 0.0, 100.0, 0.0, 0.0, 400.0, 0.0], dtype=np.float32)
    filled = fill_unvoiced(f0_hz)
    assert filled.dtype == np.float32
    np.testing.assert_array_equal(filled, [100, 100, 100, 200, 300, 400, 400])
    assert f0_hz[0] == 0  # the input is not modified


def test_fully_voiced_is_unchanged_and_all_unvoiced_is_an_error():
    np.testing.assert_array_equal(fill_unvoiced(np.array([1.0, 2.0])), [1.0, 2.0])
    with pytest.raises(AllUnvoicedError, match="all 3 f0 frames"):
        fill_unvoiced(np.zeros(3))
