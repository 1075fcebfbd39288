from __future__ import annotations

import numpy as np

from timbrel.features.pitch.octave import OctaveCorrectionConfig, correct_octave_errors


def test_short_octave_jumps_fold_back_and_real_notes_stay():
    f0_hz = np.full(60, 880.0)
    f0_hz[20:24] = 440.0  # a dropped octave on a high note
    f0_hz[40] = 1760.0
    f0_hz[50:52] = 0.0
    corrected = correct_octave_errors(f0_hz)
    expected = np.full(60, 880.0)
    expected[50:52] = 0.0
    np.testing.assert_array_equal(corrected, expected)


def test_non_octave_intervals_and_low_notes_are_left_alone():
    f0_hz = np.full(40, 600.0)
    f0_hz[10:13] = 600.0 * 2 ** (7 / 12)  # a fifth is music, not an error
    np.testing.assert_array_equal(correct_octave_errors(f0_hz), f0_hz)
    low = np.full(40, 200.0)
    low[10:13] = 100.0
    config = OctaveCorrectionConfig(min_f0_hz=500.0)
    np.testing.assert_array_equal(correct_octave_errors(low, config), low)


def test_clean_curves_are_unchanged():
    f0_hz = 220.0 * 2 ** (np.sin(np.linspace(0, 6, 100)) / 12)
    np.testing.assert_array_equal(correct_octave_errors(f0_hz), f0_hz)
