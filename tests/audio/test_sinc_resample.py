from __future__ import annotations

import pytest
import torch

from timbrel.audio.sinc_resample import sinc_resample


@pytest.fixture(scope="module")
def resampled(fixtures):
    return torch.load(fixtures / "rift/features/mel_rms_resample.pt", weights_only=True)


def test_functional_default_width(resampled):
    out = sinc_resample(resampled["wave"][None], 44100, 16000)
    torch.testing.assert_close(out, resampled["to16k_torchaudio_default_lpfw6"], rtol=0, atol=0)


def test_transform_width_128_as_rmvpe_uses_it(resampled):
    out = sinc_resample(resampled["wave"][None], 44100, 16000, 128, precision="transform")
    torch.testing.assert_close(out, resampled["to16k_torchaudio_lpfw128"], rtol=0, atol=0)


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
