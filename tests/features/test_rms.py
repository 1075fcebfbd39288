"""RIFT-SVC's RMSExtractor against the reference."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.mel import LogMelSpectrogram
from timbrel.features.rms import frame_rms


def test_rms_matches_reference(fixtures):
    data = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    out = frame_rms(data["wave"].unsqueeze(0))
    assert out.shape == data["rms"].shape
    # the mean of 2048 float32 squares (RMSExtractor's frame), then a square root
    parity.float32_close(out, data["rms"], terms=2048, what="rms")


def test_constant_signal_has_its_amplitude():
    out = frame_rms(torch.full((1, 8192), -0.25))
    torch.testing.assert_close(out, torch.full_like(out, 0.25))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n_samples=st.integers(min_value=769, max_value=20000))
def test_rms_frames_line_up_with_mel_frames(n_samples):
    samples = torch.zeros(1, n_samples)
    assert frame_rms(samples).shape[-1] == LogMelSpectrogram()(samples).shape[-1]
