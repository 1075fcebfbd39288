from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import filtfilt

from tests import parity
from tests.parity import magnitude
from timbrel.features.pitch.coarse import coarse_pitch
from timbrel.features.pitch.pm import PmConfig, PmExtractor
from timbrel.features.pitch.rvc import rvc_inference_f0, rvc_training_f0


@pytest.fixture(scope="module")
def f0_fixture(fixtures):
    return torch.load(fixtures / "rvc/dsp/f0.pt", weights_only=True)


@pytest.fixture(scope="module")
def pm_f0(f0_fixture):
    return PmExtractor(PmConfig.rvc_training()).extract(f0_fixture["pm_input_16k"].numpy()).f0_hz


def test_training_f0_2b_and_2a_match_extract_f0(f0_fixture, pm_f0):
    result = rvc_training_f0(pm_f0)
    assert result.f0_hz.dtype == np.float64
    np.testing.assert_array_equal(result.f0_hz, f0_fixture["pm_train_f0_2b"].numpy())
    np.testing.assert_array_equal(result.coarse, f0_fixture["pm_train_coarse_2a"].numpy())


def test_inference_f0_with_key_shift_matches_get_f0(f0_fixture, pm_f0):
    n_frames = len(f0_fixture["pm_input_16k"]) // 160
    (key,) = [m[1] for k in f0_fixture if (m := re.fullmatch(r"pm_infer_upkey(-?\d+)_pitch", k))]
    result = rvc_inference_f0(pm_f0, n_frames, key_shift_semitones=int(key))
    np.testing.assert_array_equal(result.coarse, f0_fixture[f"pm_infer_upkey{key}_pitch"].numpy())
    np.testing.assert_array_equal(result.f0_hz, f0_fixture[f"pm_infer_upkey{key}_pitchf"].numpy())


def test_classic_keeps_unvoiced_frames_at_zero_and_coarse_one(pm_f0):
    result = rvc_training_f0(pm_f0, fill_unvoiced_frames=False)
    unvoiced = pm_f0 == 0
    assert unvoiced.any()
    assert not result.f0_hz[unvoiced].any()
    assert np.all(result.coarse[unvoiced] == 1)


def test_an_all_unvoiced_piece_stays_at_zero_hz_instead_of_being_skipped():
    result = rvc_training_f0(np.zeros(10), fill_unvoiced_frames=True)
    np.testing.assert_array_equal(result.f0_hz, np.zeros(10))
    np.testing.assert_array_equal(result.coarse, np.ones(10))


def test_classic_harvest_median_filter_only_above_radius_two():
    f0_hz = np.array([100.0, 100.0, 400.0, 100.0, 100.0])
    np.testing.assert_array_equal(rvc_inference_f0(f0_hz, 5, filter_radius=2).f0_hz, f0_hz)
    np.testing.assert_array_equal(rvc_inference_f0(f0_hz, 5, filter_radius=3).f0_hz, [100.0] * 5)


def _loaded_16k(fixtures, case: str, intermediates: dict) -> np.ndarray:
    """What the reference's load_audio stand-in gave the pipeline (int16 / 32768 as float32)."""
    if "audio_16k_loaded" in intermediates:
        return intermediates["audio_16k_loaded"].numpy()
    samples, sample_rate = soundfile.read(fixtures / f"rvc/e2e/input_{case}.wav", dtype="int16")
    assert sample_rate == 16000
    return (samples / 32768).astype(np.float32)


@pytest.mark.parametrize("case", ["short", "long"])
def test_pipeline_get_f0_on_the_end_to_end_input(fixtures, case):
    """The WebUI path: high-passed, reflect-padded 16 kHz audio, pm, key from the settings."""
    intermediates = torch.load(fixtures / f"rvc/e2e/intermediates_{case}.pt", weights_only=True)
    highpass = torch.load(fixtures / "rvc/dsp/highpass16k.pt", weights_only=True)
    settings = json.loads((fixtures / "rvc/e2e/settings.json").read_text())
    expected = intermediates["get_f0"]
    assert expected["f0_method"] == "pm" and intermediates["peak_divisor"] == 1.0
    loaded = _loaded_16k(fixtures, case, intermediates)
    audio = filtfilt(highpass["b"].numpy(), highpass["a"].numpy(), loaded)
    t_pad = settings["pipeline_constants"]["t_pad"]
    padded = np.pad(audio, (t_pad, t_pad), mode="reflect")
    assert len(padded) == expected["audio_pad_len"]
    f0_hz = PmExtractor(PmConfig.rvc_training()).extract(padded).f0_hz
    result = rvc_inference_f0(f0_hz, expected["p_len_arg"], key_shift_semitones=expected["f0_up_key"])
    # Another CPU's filtfilt differs within its rounding (parity.iir_close); pm measures each
    # period on those samples, so its f0 is as exact, relative, as the filtered signal.
    scale = magnitude(loaded)
    a = highpass["a"].numpy()
    rel = 2 * parity.iir_noise_gain(a) * parity.float64_tolerance(scale, len(a)) / scale
    expected_f0 = expected["f0_shifted_full"].numpy()
    parity.f0_close(result.f0_hz, expected_f0, rel=rel, what=f"{case} get_f0")
    parity.discrete_close(
        result.coarse,
        expected["coarse_full"].numpy(),
        code=coarse_pitch,
        reference_value=expected_f0,
        rounding=rel * expected_f0,
        what=f"{case} coarse pitch",
    )


def test_an_input_with_no_voiced_frame_converts_at_zero_hz():
    # the reference's pitchf is 0 "only if the whole input is unvoiced": it does not refuse it
    f0 = rvc_inference_f0(np.zeros(12), 10, key_shift_semitones=3.0, fill_unvoiced_frames=True)
    assert np.array_equal(f0.f0_hz, np.zeros(10))
    assert np.array_equal(f0.coarse, np.ones(10, dtype=f0.coarse.dtype))
