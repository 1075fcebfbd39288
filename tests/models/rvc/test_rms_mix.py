"""The rms_mix_rate envelope change against the reference change_rms."""

from __future__ import annotations

import pytest
import torch

from tests import parity
from timbrel.models.rvc.rms_mix import mix_rms, rms_envelope


@pytest.fixture(scope="module")
def change_rms(fixtures):
    return torch.load(fixtures / "rvc" / "dsp" / "change_rms.pt", weights_only=True)


@pytest.mark.parametrize("rate_key", ["rate_0.0", "rate_0.25", "rate_0.75"])
def test_matches_reference(change_rms, rate_key):
    rate = float(rate_key.removeprefix("rate_"))
    out = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"], 40000, rate)
    expected = change_rms[rate_key]
    assert out.shape == expected.shape
    # float32 RMS over the reference's one-second frames (40000 samples at 40 kHz), then a gain
    parity.float32_close(out, expected, terms=40000, what=rate_key)


def test_rate_one_keeps_output(change_rms):
    out = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"], 40000, 1.0)
    assert torch.allclose(out, change_rms["data2_40k"], rtol=0, atol=0)


def test_envelope_of_a_constant_and_frame_count():
    samples = torch.full((1000,), 0.5)
    rms = rms_envelope(samples, 200, 100)
    assert rms.shape == (1 + 1000 // 100,)
    assert torch.allclose(rms[1:-1], torch.full((9,), 0.5))
    assert torch.allclose(rms[0], torch.tensor(0.5 / 2**0.5))  # half the first frame is padding


def test_bad_rate_is_refused():
    with pytest.raises(ValueError, match="rms_mix_rate"):
        mix_rms(torch.zeros(10), 16000, torch.zeros(10), 16000, 1.5)
