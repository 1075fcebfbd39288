"""RVC's training spectrogram and mel (train/mel_processing.py) against the reference training step."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.spectrogram import TrainSpectrogram, TrainSpectrogramConfig


def mel_terms(spectrogram: TrainSpectrogram) -> int:
    """One mel value sums an n_fft-point DFT, then the filterbank over the n_fft/2 + 1 bins."""
    return spectrogram.config.n_fft + spectrogram.config.n_fft // 2 + 1


@pytest.fixture(scope="module")
def train_step(fixtures):
    step = torch.load(fixtures / "rvc" / "train" / "train_step.pt", weights_only=True)
    data = json.loads((fixtures / "rvc" / "train" / "summary.json").read_text())["config"]["data"]
    config = TrainSpectrogramConfig(
        sample_rate=data["sampling_rate"],
        n_fft=data["filter_length"],
        hop_length=data["hop_length"],
        win_length=data["win_length"],
        n_mels=data["n_mel_channels"],
        f_min_hz=data["mel_fmin"],
        f_max_hz=data["mel_fmax"],
    )
    return step, TrainSpectrogram(config)


def test_batch_spectrogram_from_wave(train_step):
    step, spectrogram = train_step
    batch = step["batch"]
    for item in range(batch["wave"].shape[0]):
        n_samples = int(batch["wave_lengths"][item])
        n_frames = int(batch["spec_lengths"][item])
        spec = spectrogram.linear(batch["wave"][item, :, :n_samples])
        assert spec.shape[-1] == n_frames == spectrogram.config.frame_count(n_samples)
        expected = batch["spec"][item, :, :n_frames]
        parity.float32_close(spec[0], expected, terms=spectrogram.config.n_fft, what="linear spectrogram")


def test_mel_of_batch_spectrogram(train_step):
    step, spectrogram = train_step
    expected = step["zero_noise"]["tensors"]["mel_full"]
    parity.log_close(
        spectrogram.spec_to_mel(step["batch"]["spec"]), expected, terms=mel_terms(spectrogram), what="mel"
    )


@pytest.mark.parametrize("case", ["zero_noise", "record_noise"])
def test_mel_of_generated_wave(train_step, case):
    step, spectrogram = train_step
    tensors = step[case]["tensors"]
    mel = spectrogram.mel(tensors["y_hat"].squeeze(1))
    parity.log_close(mel, tensors["y_hat_mel"], terms=mel_terms(spectrogram), what="mel of y_hat")


def test_classic_constants():
    classic = TrainSpectrogramConfig.classic(sample_rate=48000, hop_length=480)
    assert (classic.sample_rate, classic.hop_length) == (48000, 480)
    assert (classic.magnitude_eps, classic.log_floor) == (1e-6, 1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n_samples=st.integers(min_value=1000, max_value=20000), hop_index=st.sampled_from([0, 1, 2]))
def test_frame_count_is_samples_over_hop(n_samples, hop_index):
    sample_rate, hop_length = [(32000, 320), (40000, 400), (48000, 480)][hop_index]
    config = TrainSpectrogramConfig(sample_rate=sample_rate, hop_length=hop_length)
    spec = TrainSpectrogram(config).linear(torch.zeros(1, n_samples))
    assert spec.shape == (1, config.n_fft // 2 + 1, n_samples // hop_length)
