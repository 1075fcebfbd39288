from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.key_shift import shift_key


@settings(derandomize=True, max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(30.0, 2000.0)), min_size=1, max_size=32))
def test_plus_twelve_semitones_doubles_f0(values):
    f0_hz = np.array(values)
    np.testing.assert_allclose(shift_key(f0_hz, 12), 2 * f0_hz, rtol=1e-12)
    np.testing.assert_allclose(shift_key(f0_hz, -12), f0_hz / 2, rtol=1e-12)


def test_key_shift_keeps_float32():
    assert shift_key(np.ones(3, dtype=np.float32), 3).dtype == np.float32
