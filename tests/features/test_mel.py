"""RIFT-SVC's log-mel against the reference get_mel_spectrogram."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.mel import LogMelSpectrogram, MelConfig


def mel_terms(config: MelConfig) -> int:
    """One mel value sums an n_fft-point DFT, then the filterbank over the n_fft/2 + 1 bins."""
    return config.n_fft + config.n_fft // 2 + 1


@pytest.fixture(scope="module")
def mel_fixture(fixtures):
    return torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)


def test_filterbank_matches_librosa(mel_fixture):
    mel = LogMelSpectrogram(MelConfig(sample_rate=mel_fixture["sr"]))
    # librosa's float64 Slaney weights, stored in float32: one rounding each
    parity.float32_close(mel.mel_basis, mel_fixture["mel_basis"], terms=1, what="mel basis")


def test_log_mel_matches_reference(mel_fixture):
    mel = LogMelSpectrogram(MelConfig(sample_rate=mel_fixture["sr"]))
    out = mel(mel_fixture["wave"].unsqueeze(0))
    assert out.shape == mel_fixture["mel"].shape
    parity.log_close(out, mel_fixture["mel"], terms=mel_terms(mel.config), what="log-mel")


def test_vocoder_input_mel_matches_reference(fixtures):
    io = torch.load(fixtures / "rift" / "nsf_hifigan_small" / "io.pt", weights_only=True)
    mel = LogMelSpectrogram()
    out = mel(io["wav_in_for_mel"])
    parity.log_close(out, io["mel"], terms=mel_terms(mel.config), what="RIFT log-mel")
    parity.log_close(out, io["nvstft_mel_of_wav_in"], terms=mel_terms(mel.config), what="nvSTFT log-mel")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n_samples=st.integers(min_value=769, max_value=20000))
def test_frame_count_is_samples_over_hop(n_samples):
    config = MelConfig()
    out = LogMelSpectrogram(config)(torch.zeros(1, n_samples))
    assert out.shape == (1, config.n_mels, n_samples // config.hop_length)
    assert config.frame_count(n_samples) == n_samples // config.hop_length


def test_silence_hits_the_floor():
    config = MelConfig()
    out = LogMelSpectrogram(config)(torch.zeros(2, 4096))
    torch.testing.assert_close(out, torch.full_like(out, torch.log(torch.tensor(config.log_floor)).item()))


def test_too_short_signal_is_a_clear_error():
    with pytest.raises(ValueError, match="too short"):
        LogMelSpectrogram()(torch.zeros(1, 700))
