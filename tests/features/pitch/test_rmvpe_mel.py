from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from timbrel.features.pitch.rmvpe_mel import HOP_LENGTH, rmvpe_log_mel, rmvpe_mel_basis


def test_mel_basis_matches_reference(fixtures):
    data = torch.load(fixtures / "rvc/dsp/rmvpe_frontend.pt", weights_only=True)
    np.testing.assert_allclose(rmvpe_mel_basis(), data["mel_basis"].numpy(), rtol=0, atol=1e-7)


def test_log_mel_matches_rvc_reference(fixtures):
    data = torch.load(fixtures / "rvc/dsp/rmvpe_frontend.pt", weights_only=True)
    log_mel = rmvpe_log_mel(data["input_16k"][None])
    torch.testing.assert_close(log_mel, data["log_mel"], rtol=0, atol=1e-5)


def test_log_mel_matches_rift_reference(fixtures):
    data = torch.load(fixtures / "rift/rmvpe_small/io.pt", weights_only=True)
    torch.testing.assert_close(
        rmvpe_log_mel(data["audio_16k_resampled"]), data["rmvpe_mel"], rtol=0, atol=1e-5
    )


@settings(derandomize=True, max_examples=20, deadline=None)
@given(st.integers(600, 9000))
def test_frame_count(n_samples):
    log_mel = rmvpe_log_mel(torch.zeros(1, n_samples))
    assert log_mel.shape == (1, 128, n_samples // HOP_LENGTH + 1)
