"""The decoder's tiled and channels-last paths against its whole-signal pass."""

from __future__ import annotations

import pytest
import torch

from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.generator import Generator
from timbrel.nn import hifigan as generator_module
from timbrel.nn.legacy_weight_norm import remove_weight_norm


def _decoder(use_f0: bool = True) -> Generator:
    torch.manual_seed(0)
    decoder = remove_weight_norm(Generator(SynthesizerConfig.tiny(use_f0=use_f0)).eval())
    for parameter in decoder.parameters():
        # Unit-gain weights, so that distant inputs still reach the output measurably.
        fan_in = parameter[0].numel() if parameter.dim() > 1 else 1
        parameter.data.normal_(0, (1.0 / fan_in) ** 0.5 if parameter.dim() > 1 else 0.1)
    return decoder


def _inputs(decoder: Generator, frames: int):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, decoder.conv_pre.in_channels, frames, generator=generator)
    g = torch.randn(2, decoder.cond.in_channels, 1, generator=generator)
    f0_hz = 100 + 300 * torch.rand(2, frames, generator=generator)
    return x, g, f0_hz


@pytest.mark.parametrize("first_tiled", [0, 2])
@pytest.mark.parametrize("tile_frames", [1, 5])
@pytest.mark.parametrize("outer_tile_frames", [4, 500])
def test_tiles_reproduce_the_whole_signal(monkeypatch, first_tiled, tile_frames, outer_tile_frames):
    decoder = _decoder()
    x, g, f0_hz = _inputs(decoder, 23)
    monkeypatch.setattr(generator_module, "TILED_FROM_STAGE", first_tiled)
    monkeypatch.setattr(generator_module, "OUTER_TILE_FRAMES", outer_tile_frames)
    with torch.inference_mode():
        whole = decoder(x, g, f0_hz, tile=0)
        tiled = decoder(x, g, f0_hz, tile=tile_frames * decoder.upsample_factor)
    assert tiled.shape == whole.shape == (2, 1, 23 * decoder.upsample_factor)
    assert (tiled - whole).abs().max() <= 1e-5 * whole.abs().max()


def test_a_halo_smaller_than_the_receptive_field_would_show(monkeypatch):
    decoder = _decoder()
    x, g, f0_hz = _inputs(decoder, 23)
    monkeypatch.setattr(generator_module, "TILED_FROM_STAGE", 0)
    with torch.inference_mode():
        whole = decoder(x, g, f0_hz, tile=0)
        radius = decoder.receptive_radius(0)
        monkeypatch.setattr(Generator, "receptive_radius", lambda self, first=0: radius // 2)
        short = decoder(x, g, f0_hz, tile=3 * decoder.upsample_factor)
    assert (short - whole).abs().max() > 1e-3 * whole.abs().max()


def test_training_path_matches_inference_and_has_gradients():
    decoder = _decoder(use_f0=False)
    x, g, _ = _inputs(decoder, 9)
    with torch.inference_mode():
        expected = decoder(x, g)
    x = x.clone().requires_grad_(True)
    out = decoder(x, g)
    out.square().sum().backward()
    assert torch.allclose(out.detach(), expected, atol=1e-6)
    assert x.grad is not None and x.grad.abs().sum() > 0
