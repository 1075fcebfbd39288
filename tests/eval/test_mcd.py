from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eval.signals import VOWEL_I, add_noise, vowel
from timbrel.eval.mcd import N_CEPSTRA, SAMPLE_RATE, dtw_mean_distance, mel_cepstra, mel_cepstral_distortion


def brute_force_dtw(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook DTW with a full table and backtracking: mean distance along the chosen path."""
    n, m = len(a), len(b)
    distance = np.linalg.norm(a[:, None] - b[None], axis=2)
    cost = np.full((n, m), np.inf)
    length = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                cost[i, j], length[i, j] = distance[0, 0], 1
                continue
            options = []
            if i and j:
                options.append((cost[i - 1, j - 1], length[i - 1, j - 1]))
            if i:
                options.append((cost[i - 1, j], length[i - 1, j]))
            if j:
                options.append((cost[i, j - 1], length[i, j - 1]))
            best = min(options, key=lambda option: option[0])
            cost[i, j], length[i, j] = distance[i, j] + best[0], best[1] + 1
    return cost[-1, -1] / length[-1, -1]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31))
def test_dtw_matches_the_textbook_table(n, m, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((n, 3)), rng.standard_normal((m, 3))
    assert dtw_mean_distance(a, b) == pytest.approx(brute_force_dtw(a, b), rel=1e-9)


def test_dtw_absorbs_a_time_stretch():
    a = np.random.default_rng(0).standard_normal((30, 4))
    assert dtw_mean_distance(a, np.repeat(a, 2, axis=0)) == 0.0


def test_identical_signals_give_zero_and_level_does_not_count():
    voice = vowel(1.5, SAMPLE_RATE)
    assert mel_cepstral_distortion(voice, voice) == 0.0
    assert mel_cepstral_distortion(0.25 * voice, voice) == pytest.approx(0.0, abs=1e-6)


def test_cepstra_shape_and_silence_dropped():
    voice = vowel(1.0, SAMPLE_RATE)
    padded = np.concatenate([np.zeros(SAMPLE_RATE, dtype=np.float32), voice])
    cepstra = mel_cepstra(padded)
    assert cepstra.shape[1] == N_CEPSTRA
    assert len(cepstra) == pytest.approx(len(mel_cepstra(voice)), abs=4)


def test_distortion_grows_with_the_difference():
    voice = vowel(1.5, SAMPLE_RATE)
    noisy = mel_cepstral_distortion(add_noise(voice, 20.0), voice)
    noisier = mel_cepstral_distortion(add_noise(voice, 5.0), voice)
    other_vowel = mel_cepstral_distortion(vowel(1.5, SAMPLE_RATE, formants=VOWEL_I), voice)
    assert 0.0 < noisy < noisier
    assert other_vowel > 2.0
