"""The rms_mix_rate envelope change against the reference change_rms."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from tests import parity
from timbrel.models.rvc import rms_mix
from timbrel.models.rvc.rms_mix import mix_rms, mix_rms_realtime, rms_envelope


@pytest.fixture(scope="module")
def change_rms(fixtures):
    return torch.load(fixtures / "rvc" / "dsp" / "change_rms.pt", weights_only=True)


def test_matches_reference(change_rms):
    rate_keys = [key for key in change_rms if key.startswith("rate_")]
    assert rate_keys
    for rate_key in rate_keys:
        rate = float(rate_key.removeprefix("rate_"))
        out = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"].clone(), 40000, rate)
        expected = change_rms[rate_key]
        assert out.shape == expected.shape
        # float32 RMS over the reference's one-second frames (40000 samples at 40 kHz), then a gain
        parity.float32_close(out, expected, terms=40000, what=rate_key)


def test_rate_one_keeps_output(change_rms):
    out = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"].clone(), 40000, 1.0)
    assert torch.allclose(out, change_rms["data2_40k"], rtol=0, atol=0)


def test_blocks_give_the_whole_signal_result(change_rms, monkeypatch):
    """Gains applied block by block, with envelope slabs of one frame, equal the one-block result
    bit for bit (blocks of a power of two start on a vector boundary, so every sample meets the
    same vectorised kernel): the blocks only bound the temporaries of long conversions."""
    whole = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"].clone(), 40000, 0.25)
    monkeypatch.setattr(rms_mix, "GAIN_BLOCK_SAMPLES", 1024)
    monkeypatch.setattr(rms_mix, "ENVELOPE_SLAB_FRAMES", 1)
    blocked = mix_rms(change_rms["data1_16k"], 16000, change_rms["data2_40k"].clone(), 40000, 0.25)
    assert torch.equal(blocked, whole)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n_in", "size"), [(5, 23), (7, 2), (4, 4), (1201, 24_000_000)])
def test_block_resize_is_torch_linear_interpolation(n_in, size, dtype):
    values = torch.rand(n_in, generator=torch.Generator().manual_seed(n_in), dtype=dtype)
    whole = F.interpolate(values[None, None], size=size, mode="linear")[0, 0]
    for start, stop in (
        (0, min(size, 4096)),
        (size // 2, min(size, size // 2 + 4096)),
        (max(size - 4096, 0), size),
    ):
        block = rms_mix.linear_resize_block(values, size, start, stop)
        # torch's kernel may fuse the two-term blend differently: one rounding of a value <= max
        assert (block - whole[start:stop]).abs().max() <= 2 * torch.finfo(dtype).eps * values.max()


def test_envelope_of_a_constant_and_frame_count():
    samples = torch.full((1000,), 0.5)
    rms = rms_envelope(samples, 200, 100)
    assert rms.shape == (1 + 1000 // 100,)
    assert torch.allclose(rms[1:-1], torch.full((9,), 0.5))
    assert torch.allclose(rms[0], torch.tensor(0.5 / 2**0.5))  # half the first frame is padding


def test_bad_rate_is_refused():
    with pytest.raises(ValueError, match="rms_mix_rate"):
        mix_rms(torch.zeros(10), 16000, torch.zeros(10), 16000, 1.5)


def test_realtime_rule_imposes_the_input_envelope():
    """Rate 0 gives steady noise the input's envelope; rate 1 leaves the output alone; the gain
    never divides by less than the floor."""
    frame = 400
    n = 40 * frame
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(n, generator=generator) * 0.1
    envelope = torch.linspace(0.05, 0.5, n)
    source = torch.zeros(n + 7 * frame)  # longer than the output, as the realtime input window is
    source[:n] = torch.sign(torch.sin(torch.arange(n) * 0.3)) * envelope  # |x| = envelope exactly
    mixed = mix_rms_realtime(source, output, 4 * frame, frame, 0.0, 1e-3)
    ratio = rms_envelope(mixed, 4 * frame, frame)[4:-4] / rms_envelope(source[:n], 4 * frame, frame)[4:-4]
    assert torch.allclose(ratio, torch.ones_like(ratio), atol=0.1)
    assert torch.equal(mix_rms_realtime(source, output, 4 * frame, frame, 1.0, 1e-3), output)
    silent = mix_rms_realtime(source, torch.zeros(n), 4 * frame, frame, 0.0, 1e-3)
    assert torch.isfinite(silent).all() and torch.all(silent == 0)
