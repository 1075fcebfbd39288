from __future__ import annotations

import math

import pytest
import torch

from tests import parity
from timbrel.audio.sinc_resample import ROLLOFF, _kernel, sinc_resample


def taps(from_rate: int, to_rate: int, lowpass_filter_width: int) -> int:
    """How many float32 products one output sample of the resampler sums."""
    divisor = math.gcd(from_rate, to_rate)
    kernel, _ = _kernel(from_rate // divisor, to_rate // divisor, lowpass_filter_width, ROLLOFF, "functional")
    return kernel.shape[-1]


@pytest.fixture(scope="module")
def resampled(fixtures):
    return torch.load(fixtures / "rift/features/mel_rms_resample.pt", weights_only=True)


def test_functional_default_width(resampled):
    out = sinc_resample(resampled["wave"][None], 44100, 16000)
    expected = resampled["to16k_torchaudio_default_lpfw6"]
    parity.float32_close(out, expected, terms=taps(44100, 16000, 6), what="torchaudio resample, width 6")


def test_transform_width_128_as_rmvpe_uses_it(resampled):
    out = sinc_resample(resampled["wave"][None], 44100, 16000, 128, precision="transform")
    expected = resampled["to16k_torchaudio_lpfw128"]
    parity.float32_close(out, expected, terms=taps(44100, 16000, 128), what="torchaudio resample, width 128")


@pytest.mark.parametrize(
    ("from_rate", "to_rate", "n"), [(44100, 16000, 1001), (16000, 48000, 777), (48000, 32000, 5)]
)
def test_lengths_and_batch_shape(from_rate, to_rate, n):
    samples = torch.randn(2, 3, n, generator=torch.Generator().manual_seed(0))
    out = sinc_resample(samples, from_rate, to_rate)
    assert out.shape == (2, 3, -(-n * to_rate // from_rate))
    torch.testing.assert_close(out[1, 2], sinc_resample(samples[1, 2], from_rate, to_rate))


def test_a_sine_below_both_nyquists_survives():
    t = torch.arange(44100) / 44100
    out = sinc_resample(torch.sin(2 * torch.pi * 1000 * t), 44100, 16000)
    expected = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)
    torch.testing.assert_close(out[200:-200], expected[200:-200], rtol=0, atol=2e-3)
