from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
import soundfile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from tests.audio.test_sinc_resample import taps
from timbrel.features.pitch.errors import PitchError
from timbrel.features.pitch.key_shift import shift_key
from timbrel.features.pitch.rift import (
    HOP_LENGTH,
    RMVPE_RESAMPLER_WIDTH,
    RMVPE_SAMPLE_RATE,
    align_to_mel_frames,
    dio_f0,
    ensemble,
    ensemble_light,
    praat_f0,
    rift_inference_f0,
    rift_training_f0,
    rmvpe_input,
)
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.weights.rmvpe import load_rmvpe


@pytest.fixture(scope="module")
def robust(fixtures):
    data = torch.load(fixtures / "rift/features/robust_f0.pt", weights_only=True)
    return {k: v.numpy() if torch.is_tensor(v) else v for k, v in data.items()}


def test_level0_alignment_to_mel_frames(robust):
    aligned = align_to_mel_frames(robust["raw_f0_10ms"], robust["n_mel_frames"], cut_last=False)
    np.testing.assert_array_equal(aligned, robust["level0_post_process_f0"])


def test_gap_fill_keeps_the_curves_precision():
    """The reference fills unvoiced gaps inside its own array: RMVPE's float32 curve holds the filled
    values rounded to float32 before the resampling to mel frames."""
    f0_hz = np.array([200.0, 0.0, 0.0, 233.3], dtype=np.float32)
    filled = np.interp([1.0, 2.0], [0.0, 3.0], f0_hz[[0, 3]]).astype(np.float32).astype(np.float64)
    aligned = align_to_mel_frames(f0_hz, 4, cut_last=False, hop_length=441, sample_rate=44100)
    np.testing.assert_array_equal(aligned[[0, 3]], f0_hz[[0, 3]])  # 10 ms mel frames on the 10 ms grid
    assert aligned[1] == aligned[2] == 0  # voicing stays off
    # 5 ms mel frames: frame 1 lies halfway to the first filled value and is still voiced
    half = align_to_mel_frames(f0_hz, 7, cut_last=False, hop_length=441, sample_rate=88200)
    np.testing.assert_allclose(half[1], (f0_hz[0] + filled[0]) / 2, rtol=1e-13)
    unrounded = np.interp(1.0, [0.0, 3.0], f0_hz[[0, 3]].astype(np.float64))
    assert abs(half[1] - (f0_hz[0] + unrounded) / 2) > 1e-6


def test_training_alignment_cuts_the_last_frame(robust):
    expected = robust["post_process_f0_cut_last_true"]
    aligned = align_to_mel_frames(robust["raw_f0_10ms"], len(expected) + 1, cut_last=True)
    np.testing.assert_array_equal(aligned, expected)


def test_level1_ensemble_light(robust):
    args = robust["level0_post_process_f0"], robust["pw_f0"], robust["pm_f0_short"]
    np.testing.assert_array_equal(
        ensemble_light(*args, robust["rms_for_light"]), robust["level1_f0_ensemble_light"]
    )
    np.testing.assert_array_equal(ensemble_light(*args, None), robust["level1_f0_ensemble_light_no_rms"])


def test_level2_ensemble(robust):
    result = ensemble(robust["level0_post_process_f0"], robust["pw_f0"], robust["pm_f0_short"])
    np.testing.assert_array_equal(result, robust["level2_f0_ensemble"])


def test_level1_on_the_end_to_end_segments(fixtures):
    """infer.py's f0 for each sliced, loudness-normalised segment of the end-to-end input."""
    e2e = fixtures / "rift/e2e"
    settings = json.loads((e2e / "settings.json").read_text())["settings"]
    assert settings["robust_f0"] == 1
    intermediates = torch.load(e2e / "intermediates.pt", weights_only=True)
    rmvpe = RmvpeExtractor(load_rmvpe(e2e / "pretrained/rmvpe/model.pt"), RmvpeConfig.rift())
    audio, sample_rate = soundfile.read(e2e / "input.wav", dtype="int16")
    audio = (audio / 32768).astype(np.float32)
    spans = intermediates["segments_start_and_length"].tolist()
    order = intermediates["processing_order"]
    for index, features in zip(order, intermediates["extract_features_in_call_order"], strict=True):
        start, length = spans[int(index)]
        segment = audio[start : start + length]
        meter = pyloudnorm.Meter(sample_rate, block_size=0.1)
        segment = pyloudnorm.normalize.loudness(
            segment, meter.integrated_loudness(segment), settings["target_loudness"]
        )
        assert np.abs(segment).max() <= 1
        parts = {k: v.numpy() for k, v in features["f0_parts"].items()}
        n_frames = features["mel"].shape[1]
        np.testing.assert_array_equal(dio_f0(segment), parts["pw_f0"])
        np.testing.assert_array_equal(praat_f0(segment), parts["pm_f0"])
        light = ensemble_light(
            parts["rmvpe_f0_aligned"], parts["pw_f0"], parts["pm_f0"], parts["rms_for_ensemble"]
        )
        np.testing.assert_array_equal(light, parts["f0_ensemble_light"])
        full = rift_inference_f0(rmvpe, segment, n_frames, robust_level=1, rms=parts["rms_for_ensemble"])
        shifted = shift_key(full, settings["key_shift"]).astype(np.float32)
        np.testing.assert_allclose(shifted, features["f0"][0].numpy(), rtol=0, atol=1e-3)


def test_dio_and_praat_curves_on_the_normalised_tone(fixtures, robust):
    tone = torch.load(fixtures / "rift/features/loudness.pt", weights_only=True)[
        "infer_tone_normalized"
    ].numpy()
    np.testing.assert_array_equal(dio_f0(tone), robust["wave_pw_f0"])
    np.testing.assert_array_equal(praat_f0(tone), robust["wave_pm_f0"])


@pytest.fixture(scope="module")
def small(fixtures):
    network = load_rmvpe(fixtures / "rift/rmvpe_small/model.pt")
    io = torch.load(fixtures / "rift/rmvpe_small/io.pt", weights_only=True)
    return RmvpeExtractor(network, RmvpeConfig.rift()), io


def test_rmvpe_input_is_rmvpes_own_resampling(small):
    _, io = small
    parity.float32_close(
        rmvpe_input(io["wav_44k"][0].numpy()),
        io["audio_16k_resampled"][0],
        terms=taps(44100, RMVPE_SAMPLE_RATE, RMVPE_RESAMPLER_WIDTH),
        what="RMVPE's resampling",
    )


def test_training_and_inference_f0_from_44k_audio(small):
    rmvpe, io = small
    samples = io["wav_44k"][0].numpy()
    training = rift_training_f0(rmvpe, samples)
    expected = io["f0_mel_aligned_prepare_f0"].numpy()
    np.testing.assert_allclose(training, expected, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(training == 0, expected == 0)
    expected = io["f0_mel_aligned_infer"].numpy()
    inference = rift_inference_f0(rmvpe, samples, len(expected))
    np.testing.assert_allclose(inference, expected, rtol=0, atol=1e-3)


@pytest.mark.parametrize("level", [1, 2])
def test_robust_levels_keep_the_grid_and_rmvpe_voiced_frames(small, level):
    rmvpe, io = small
    samples = io["wav_44k"][0].numpy()
    n_frames = len(samples) // HOP_LENGTH
    level0 = rift_inference_f0(rmvpe, samples, n_frames)
    robust = rift_inference_f0(rmvpe, samples, n_frames, robust_level=level, rms=np.ones(n_frames))
    assert robust.shape == (n_frames,) and np.isfinite(robust).all()
    if level == 1:
        voiced = level0 > 0
        np.testing.assert_array_equal(robust[voiced], level0[voiced])


def test_unknown_robust_level(small):
    rmvpe, io = small
    with pytest.raises(PitchError, match=r"not one of \[0, 1, 2\]"):
        rift_inference_f0(rmvpe, io["wav_44k"][0].numpy(), 86, robust_level=3)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(2048, 200000))
def test_training_grid_has_one_frame_per_hop(n_samples):
    f0_10ms = np.full(int(n_samples / 44100 * 100) + 1, 220.0)
    assert (
        len(align_to_mel_frames(f0_10ms, n_samples // HOP_LENGTH + 1, cut_last=True))
        == n_samples // HOP_LENGTH
    )
