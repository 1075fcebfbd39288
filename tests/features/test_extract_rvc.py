"""RVC's extraction stage on a prepared experiment: the reference file layout and values."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests import parity
from tests.models.rvc.test_pipeline import e2e_piece_s, e2e_version
from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.dataset.rvc import RVCPrepareConfig, prepare_recording, write_recording
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.features.pitch import registry
from timbrel.features.pitch.coarse import coarse_pitch
from timbrel.weights.hubert import load_hubert
from timbrel.weights.rvc_index import read_index


def test_pm_f0_files_match_the_reference(fixtures, tmp_path):
    f0 = torch.load(fixtures / "rvc" / "dsp" / "f0.pt", weights_only=True)
    io.save(tmp_path / "1_16k_wavs" / "0_0.wav", Audio.from_mono(f0["pm_input_16k"].numpy(), 16000), "FLOAT")
    hubert = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    config = RVCExtractConfig(version="v1", f0_method="pm")
    outcomes = extract_rvc_features(tmp_path, hubert, registry.create, config)
    assert [o.status for o in outcomes] == ["done"]
    coarse = np.load(tmp_path / "2a_f0" / "0_0.wav.npy")
    continuous = np.load(tmp_path / "2b-f0nsf" / "0_0.wav.npy")
    assert coarse.dtype == np.int64 and continuous.dtype == np.float64
    # Praat's float64 autocorrelation: an FFT over its window (3 periods of the 50 Hz floor at
    # 16 kHz, padded to 2048); the unvoiced fill interpolates between such values
    rel = parity.float64_tolerance(1.0, 2048)
    expected_f0 = f0["pm_train_f0_2b"].numpy()
    parity.f0_close(continuous, expected_f0, rel=rel, what="2b-f0nsf")
    parity.discrete_close(
        coarse, f0["pm_train_coarse_2a"].numpy(), code=coarse_pitch, reference_value=expected_f0,
        rounding=rel * expected_f0, what="2a_f0",
    )  # fmt: skip
    features = np.load(tmp_path / "3_feature256" / "0_0.npy")
    assert features.dtype == np.float32
    assert features.shape == (hubert.config.frame_count(len(f0["pm_input_16k"])), hubert.config.proj_size)

    again = extract_rvc_features(tmp_path, hubert, registry.create, config)
    assert [o.status for o in again] == ["skipped"]


def test_prepared_and_extracted_features_are_the_reference_index_rows(fixtures, tmp_path):
    """prepare (at the file's rate, the fixture's piece length) -> features of the model's version
    reproduce the vectors the e2e index was built from."""
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    audio = io.load(root / "train_input.wav")
    config = RVCPrepareConfig(sample_rate=audio.sample_rate, piece_s=e2e_piece_s(settings))
    recording = prepare_recording(audio.mono, 0, config)
    write_recording(tmp_path, recording, audio.sample_rate)
    assert (
        sorted(p.name for p in (tmp_path / "1_16k_wavs").iterdir())
        == settings["index_build"]["train_16k_wav_files"]
    )
    outcomes = extract_rvc_features(
        tmp_path, load_hubert(root / "hubert"), None, RVCExtractConfig(e2e_version(root), f0_method=None)
    )
    feature_folder = tmp_path / f"3_feature{settings['index']['d']}"
    assert {o.status for o in outcomes} == {"done"}
    features = np.concatenate([np.load(p) for p in sorted(feature_folder.iterdir())])
    assert {p.name: len(np.load(p)) for p in feature_folder.iterdir()} == settings["index_build"][
        "train_feature_frames"
    ]
    np.random.seed(settings["index"]["numpy_seed_before_train_index"])
    permuted = features[np.random.permutation(len(features))]
    stored = read_index(root / settings["index_file"]).vectors
    np.testing.assert_allclose(stored, permuted, atol=1e-5)


def test_missing_pieces_is_a_clear_error(tmp_path, fixtures):
    hubert = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    with pytest.raises(Exception, match="timbrel prepare rvc"):
        extract_rvc_features(tmp_path, hubert, None, RVCExtractConfig(f0_method=None))
