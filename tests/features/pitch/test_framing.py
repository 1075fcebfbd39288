from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.framing import fit_length, pad_centered


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_pad_centered_puts_the_odd_zero_on_the_left(n, n_frames):
    f0_hz = np.arange(1, n + 1, dtype=np.float64)
    padded = pad_centered(f0_hz, n_frames)
    assert len(padded) == max(n, n_frames)
    left = max((n_frames - n + 1) // 2, 0)
    np.testing.assert_array_equal(padded[left : left + n], f0_hz)
    assert not padded[:left].any() and not padded[left + n :].any()


def test_fit_length_cuts_or_pads_right():
    np.testing.assert_array_equal(fit_length(np.array([1.0, 2.0, 3.0]), 2), [1.0, 2.0])
    np.testing.assert_array_equal(fit_length(np.array([1.0]), 3), [1.0, 0.0, 0.0])
