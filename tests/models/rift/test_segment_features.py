import numpy as np
import pytest
import torch

from tests import parity
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.models.rift.segment_features import (
    SegmentFeatureExtractor,
    normalize_segment,
    restore_segment_loudness,
)
from timbrel.weights.hubert import load_contentvec
from timbrel.weights.rmvpe import load_rmvpe


@pytest.fixture(scope="module")
def tone(fixtures):
    features = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    loudness = torch.load(fixtures / "rift" / "features" / "loudness.pt", weights_only=True)
    return features["wave"].numpy(), loudness


def test_inference_normalisation_matches_reference(tone):
    wave, loudness = tone
    normalized, measured = normalize_segment(wave, -18.0)
    assert measured == pytest.approx(loudness["infer_tone_original_loudness_block0p1"], abs=1e-9)
    # a float32 gain applied to float32 samples: one rounding each
    parity.float32_close(normalized, loudness["infer_tone_normalized"], terms=1, what="normalised")


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


def test_key_shift_of_an_octave_doubles_f0_and_leaves_the_rest(fixtures):
    rmvpe = fixtures / "rift" / "rmvpe_small"
    extract = SegmentFeatureExtractor(
        load_contentvec(fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best"),
        RmvpeExtractor(load_rmvpe(rmvpe / "model.pt"), RmvpeConfig.rift()),
    )
    # the input the random RMVPE was calibrated on, which the reference finds partly voiced
    io = torch.load(rmvpe / "io.pt", weights_only=True)
    assert io["f0_mel_aligned_infer"].any()
    wave = io["wav_44k"][0].numpy()
    wave = wave[: len(wave) // 512 * 512]
    settings = {"target_lufs": -18.0, "robust_f0": 0, "downsample_rate": 2}
    plain = extract(wave, key_shift_semitones=0.0, **settings)
    octave = extract(wave, key_shift_semitones=12.0, **settings)
    assert plain.n_frames == len(wave) // 512 == plain.f0_hz.shape[0] == plain.bad_content.shape[0]
    assert plain.f0_hz.any()
    torch.testing.assert_close(octave.f0_hz, 2 * plain.f0_hz)
    for name in ("mel", "content", "bad_content", "rms"):
        torch.testing.assert_close(getattr(octave, name), getattr(plain, name), atol=0, rtol=0)
