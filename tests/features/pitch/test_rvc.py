from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrel.features.pitch.errors import AllUnvoicedError
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
    result = rvc_inference_f0(pm_f0, n_frames, key_shift_semitones=3)
    np.testing.assert_array_equal(result.coarse, f0_fixture["pm_infer_upkey3_pitch"].numpy())
    np.testing.assert_array_equal(result.f0_hz, f0_fixture["pm_infer_upkey3_pitchf"].numpy())


def test_classic_keeps_unvoiced_frames_at_zero_and_coarse_one(pm_f0):
    result = rvc_training_f0(pm_f0, fill_unvoiced_frames=False)
    unvoiced = pm_f0 == 0
    assert unvoiced.any()
    assert not result.f0_hz[unvoiced].any()
    assert np.all(result.coarse[unvoiced] == 1)


def test_all_unvoiced_is_reported():
    with pytest.raises(AllUnvoicedError):
        rvc_training_f0(np.zeros(10))


def test_classic_harvest_median_filter_only_above_radius_two():
    f0_hz = np.array([100.0, 100.0, 400.0, 100.0, 100.0])
    np.testing.assert_array_equal(rvc_inference_f0(f0_hz, 5, filter_radius=2).f0_hz, f0_hz)
    np.testing.assert_array_equal(rvc_inference_f0(f0_hz, 5, filter_radius=3).f0_hz, [100.0] * 5)
