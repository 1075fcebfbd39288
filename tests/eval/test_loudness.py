from __future__ import annotations

import math

import numpy as np
import pytest

from tests.eval.signals import vowel
from timbrel.audio.resample import resample
from timbrel.eval.loudness import integrated_lufs, loudness_difference_lu


def test_identical_files_differ_by_zero_and_half_amplitude_by_six_lu():
    source = vowel(2.0, 44100)
    assert loudness_difference_lu(source, 44100, source, 44100) == pytest.approx(0.0, abs=1e-9)
    assert loudness_difference_lu(0.5 * source, 44100, source, 44100) == pytest.approx(
        20 * math.log10(0.5), abs=1e-6
    )


def test_rate_change_keeps_loudness():
    source = vowel(2.0, 44100)
    converted = resample(source, 44100, 40000)
    assert loudness_difference_lu(converted, 40000, source, 44100) == pytest.approx(0.0, abs=0.1)


def test_no_loudness_for_short_or_silent_clips():
    assert math.isnan(integrated_lufs(np.zeros(16000, dtype=np.float32), 16000))
    assert math.isnan(integrated_lufs(vowel(0.3, 16000), 16000))
