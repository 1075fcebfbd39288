import numpy as np
import pytest
import torch

from timbrel.models.rift.segment_features import normalize_segment, restore_segment_loudness


@pytest.fixture(scope="module")
def tone(fixtures):
    features = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    loudness = torch.load(fixtures / "rift" / "features" / "loudness.pt", weights_only=True)
    return features["wave"].numpy(), loudness


def test_inference_normalisation_matches_reference(tone):
    wave, loudness = tone
    normalized, measured = normalize_segment(wave, -18.0)
    assert measured == pytest.approx(loudness["infer_tone_original_loudness_block0p1"], abs=1e-9)
    np.testing.assert_allclose(normalized, loudness["infer_tone_normalized"].numpy(), rtol=0, atol=1e-7)


def test_restore_brings_back_the_original_loudness(tone):
    wave, _ = tone
    normalized, measured = normalize_segment(wave, -18.0)
    np.testing.assert_allclose(restore_segment_loudness(normalized, measured), wave, rtol=0, atol=1e-6)


def test_unmeasurable_slices_are_left_as_they_are():
    short = np.full(1000, 0.1, dtype=np.float32)
    assert normalize_segment(short, -18.0)[1] is None
    silent = np.zeros(44100, dtype=np.float32)
    out, measured = normalize_segment(silent, -18.0)
    assert measured is None and not out.any()
    np.testing.assert_array_equal(restore_segment_loudness(short, None), short)
