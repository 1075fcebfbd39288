"""Extraction on an explicit device (the CPU, through the code a GPU takes): the API's device
argument, the pitch networks' placement, and the out-of-memory retries of both families."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from timbrel import api
from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.features.extract_rift import RIFTExtractConfig, RIFTFeatureModels, extract_rift_features
from timbrel.features.extract_rvc import RVCExtractConfig, extract_rvc_features
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.weights.hubert import load_contentvec, load_hubert
from timbrel.weights.pitch_models import PitchModels
from timbrel.weights.rmvpe import load_rmvpe


def _tone(seconds: float, rate: int, f0_hz: float = 220.0) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio.from_mono((0.3 * np.sin(2 * np.pi * f0_hz * t)).astype(np.float32), rate)


def _experiment(folder, pieces: int):
    for index in range(pieces):
        io.save(folder / "1_16k_wavs" / f"0_{index}.wav", _tone(1.0, 16000, 200.0 + 20 * index), "FLOAT")
    return folder


def _out_of_memory_above(monkeypatch, model, batch_limit: int):
    forward = model.forward

    def failing(samples, *args, **kwargs):
        if samples.shape[0] > batch_limit:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(samples, *args, **kwargs)

    monkeypatch.setattr(model, "forward", failing)


def test_rvc_extraction_on_an_explicit_device_retries_a_batch_in_halves(fixtures, tmp_path, monkeypatch):
    hubert = fixtures / "rvc" / "hubert" / "hubert_tiny"
    whole = api.extract_rvc(
        _experiment(tmp_path / "a", 4), RVCExtractConfig("v1", "pm"), hubert, device="cpu"
    )
    assert {o.status for o in whole} == {"done"}

    model = load_hubert(hubert)
    _out_of_memory_above(monkeypatch, model, batch_limit=2)
    monkeypatch.setattr(api, "load_hubert", lambda path: model)
    with pytest.warns(UserWarning, match="out of memory on cpu with 4 pieces at once; retrying 2 at a time"):
        halves = api.extract_rvc(
            _experiment(tmp_path / "b", 4), RVCExtractConfig("v1", "pm"), hubert, device="cpu"
        )
    assert {o.status for o in halves} == {"done"}
    for path in sorted((tmp_path / "a" / "3_feature256").glob("*.npy")):
        np.testing.assert_array_equal(np.load(tmp_path / "b" / "3_feature256" / path.name), np.load(path))

    _out_of_memory_above(monkeypatch, model, batch_limit=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        failed = api.extract_rvc(
            _experiment(tmp_path / "c", 4), RVCExtractConfig("v1", "pm"), hubert, device="cpu"
        )
    assert {o.status for o in failed} == {"failed"}
    assert all("lower batch_size (--set batch_size=1)" in o.reason for o in failed)


def test_rift_extraction_falls_back_to_one_file_at_a_time(fixtures, tmp_path, monkeypatch):
    content = load_contentvec(fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best")
    models = RIFTFeatureModels(content_model=content, rmvpe=None)
    for name in ("a", "b", "c"):
        io.save(tmp_path / "alice" / f"{name}.wav", _tone(0.5, 44100), "FLOAT")
    _out_of_memory_above(monkeypatch, content, batch_limit=2)  # ContentVec sees both passes: 2 per file
    config = RIFTExtractConfig(features=("mel", "cvec"))
    with pytest.warns(UserWarning, match="out of memory with 3 utterances at once; retrying one at a time"):
        outcomes = extract_rift_features(tmp_path, models, config)
    assert [o.status for o in outcomes] == ["done"] * 3
    _out_of_memory_above(monkeypatch, content, batch_limit=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = extract_rift_features(tmp_path, models, RIFTExtractConfig(features=("cvec",), overwrite=True))
    assert all(
        o.status == "failed" and "with one utterance: extract with --device cpu" in o.reason for o in again
    )


@pytest.mark.parametrize("method", ["crepe-tiny", "fcpe"])
def test_pitch_networks_take_the_device_they_are_given(method):
    extractor = PitchModels(device="cpu")(method)
    network = extractor.net
    assert {p.device for p in network.parameters()} == {torch.device("cpu")}
    track = extractor.extract(_tone(0.5, 16000).mono)
    assert isinstance(track.f0_hz, np.ndarray) and len(track.f0_hz) == 8000 // 160 + 1


def test_rmvpe_moves_its_input_to_its_network_and_its_output_back(fixtures):
    extractor = RmvpeExtractor(load_rmvpe(fixtures / "rift" / "rmvpe_small" / "model.pt"), RmvpeConfig.rift())
    [track] = extractor.extract_batch(_tone(0.5, 16000).mono[None])
    assert isinstance(track.f0_hz, np.ndarray)


def test_rvc_extraction_batches_rmvpe_with_the_numbers_of_one_at_a_time(fixtures, tmp_path):
    hubert = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    pitch = PitchModels(fixtures / "rift" / "rmvpe_small" / "model.pt", device="cpu")
    for folder, batch_size in (("one", 1), ("four", 4)):
        config = RVCExtractConfig("v1", "rmvpe", batch_size=batch_size)
        outcomes = extract_rvc_features(_experiment(tmp_path / folder, 4), hubert, pitch, config)
        assert {o.status for o in outcomes} == {"done"}
    for path in sorted((tmp_path / "one" / "2b-f0nsf").glob("*.npy")):
        # the same network on the same samples; only the batched convolutions' summation order differs
        np.testing.assert_allclose(
            np.load(tmp_path / "four" / "2b-f0nsf" / path.name), np.load(path), rtol=1e-5
        )
