from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.audio.loudness import apply_gain_to_lufs, limit_peak, measure_loudness, normalize_loudness


@pytest.fixture(scope="module")
def loudness(fixtures):
    return torch.load(fixtures / "rift" / "features" / "loudness.pt", weights_only=True)


@pytest.fixture(scope="module")
def tone(fixtures):
    return torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)


def test_preparation_normalises_the_tone_exactly(loudness, tone):
    # the preparation read the tone's float WAV as float64
    x = tone["wave"].numpy().astype(np.float64)
    out = normalize_loudness(x, tone["sr"])
    assert out.measured_lufs == loudness["prep_tone_input_lufs"]
    assert out.peak_scale is None
    np.testing.assert_array_equal(out.samples.astype(np.float32), loudness["prep_tone_normalized"].numpy())


def test_clipping_rule_scales_to_the_headroom_exactly(loudness):
    # the reference read its input from a float32 WAV, so it saw the stored values rounded to float32
    x = loudness["prep_clip_input"].numpy().astype(np.float32).astype(np.float64)
    out = normalize_loudness(x, loudness["prep_clip_input_sr"])
    # the stored LUFS was measured on the unrounded array: measured difference 2.3e-7 LU
    assert out.measured_lufs == pytest.approx(loudness["prep_clip_input_lufs"], abs=1e-6)
    message = loudness["prep_clip_message"]
    assert f"Original LUFS: {out.measured_lufs:.2f} " in message
    scale = float(re.search(r"Scaling Factor Applied: ([0-9.]+)", message).group(1))
    assert round(out.peak_scale, 4) == scale
    np.testing.assert_array_equal(out.samples, loudness["prep_clip_normalized"].numpy())
    assert np.max(np.abs(out.samples)) == pytest.approx(0.99, abs=1e-15)


def test_inference_normalisation_uses_short_blocks(loudness, tone):
    # infer.py measures the float32 segment with 0.1 s blocks
    x = tone["wave"].numpy()
    out = normalize_loudness(x, tone["sr"], block_size_s=0.1)
    assert out.measured_lufs == loudness["infer_tone_original_loudness_block0p1"]
    np.testing.assert_array_equal(out.samples, loudness["infer_tone_normalized"].numpy())


def noise_at(lufs_seed: tuple[float, int], rate: int = 16000) -> np.ndarray:
    target, seed = lufs_seed
    x = np.random.default_rng(seed).standard_normal(rate * 2) * 0.1
    return apply_gain_to_lufs(x, measure_loudness(x, rate), target)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.tuples(st.floats(-50.0, 0.0), st.integers(0, 1000)), st.floats(-30.0, -6.0))
def test_normalisation_is_idempotent(source, target_lufs):
    x = noise_at(source)
    once = normalize_loudness(x, 16000, target_lufs)
    twice = normalize_loudness(once.samples, 16000, target_lufs)
    np.testing.assert_allclose(twice.samples, once.samples, rtol=1e-9, atol=1e-12)
    if once.peak_scale is None:
        assert once.measured_lufs == pytest.approx(source[0], abs=1e-6)
        assert measure_loudness(once.samples, 16000) == pytest.approx(target_lufs, abs=1e-6)
    else:
        assert np.max(np.abs(once.samples)) == pytest.approx(0.99)


def test_limit_peak_leaves_signals_within_full_scale_alone():
    x = np.array([0.2, -1.0, 0.5])
    y, scale = limit_peak(x)
    assert y is x and scale is None
    y, scale = limit_peak(np.array([0.5, -2.0]))
    np.testing.assert_array_equal(y, [0.5 * 0.99 / 2.0, -0.99])
    assert scale == 0.99 / 2.0


def test_short_or_silent_input_is_refused():
    with pytest.raises(ValueError, match=r"shorter than one 0\.4 s"):
        measure_loudness(np.ones(100), 16000)
    silent = np.zeros(16000)
    assert measure_loudness(silent, 16000) == -np.inf
    with pytest.raises(ValueError, match="silent"):
        normalize_loudness(silent, 16000)
