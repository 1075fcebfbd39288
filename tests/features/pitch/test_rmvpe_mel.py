from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.pitch.rmvpe_mel import HOP_LENGTH, N_FFT, rmvpe_log_mel, rmvpe_mel_basis

MEL_TERMS = N_FFT + N_FFT // 2 + 1  # the DFT, then the filterbank over its bins


def test_mel_basis_matches_reference(fixtures):
    data = torch.load(fixtures / "rvc/dsp/rmvpe_frontend.pt", weights_only=True)
    parity.float32_close(rmvpe_mel_basis(), data["mel_basis"], terms=1, what="mel basis")  # stored float32


def test_log_mel_matches_rvc_reference(fixtures):
    data = torch.load(fixtures / "rvc/dsp/rmvpe_frontend.pt", weights_only=True)
    log_mel = rmvpe_log_mel(data["input_16k"][None])
    parity.log_close(log_mel, data["log_mel"], terms=MEL_TERMS, what="RVC RMVPE log-mel")


def test_log_mel_matches_rift_reference(fixtures):
    data = torch.load(fixtures / "rift/rmvpe_small/io.pt", weights_only=True)
    log_mel = rmvpe_log_mel(data["audio_16k_resampled"])
    parity.log_close(log_mel, data["rmvpe_mel"], terms=MEL_TERMS, what="RIFT RMVPE log-mel")


@settings(derandomize=True, max_examples=20, deadline=None)
@given(st.integers(600, 9000))
def test_frame_count(n_samples):
    log_mel = rmvpe_log_mel(torch.zeros(1, n_samples))
    assert log_mel.shape == (1, 128, n_samples // HOP_LENGTH + 1)
