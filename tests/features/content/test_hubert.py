"""The HuBERT network itself: frame arithmetic, batching, layer selection, input checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.features.content import hubert as hubert_module
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.weights.hubert import load_hubert


def small_config(**overrides) -> HubertConfig:
    fields = dict(
        conv_channels=(4,) * 7,
        hidden_size=8,
        num_layers=1,
        num_heads=2,
        ffn_size=8,
        pos_conv_kernel=4,
        pos_conv_groups=2,
        proj_size=None,
    )
    fields.update(overrides)
    return HubertConfig(**fields)


@pytest.fixture(scope="module")
def small_model() -> HubertModel:
    torch.manual_seed(0)
    return HubertModel(small_config()).eval()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(n_samples=st.integers(min_value=400, max_value=16000))
def test_frame_count_for_any_length(small_model, n_samples):
    config = small_model.config
    expected = (n_samples - config.receptive_field) // config.hop_length + 1
    assert config.frame_count(n_samples) == expected
    with torch.inference_mode():
        assert small_model(torch.zeros(1, n_samples)).shape == (1, expected, config.hidden_size)


def test_real_frame_arithmetic():
    """Spec: N = floor((T - 400) / 320) + 1, 50 frames/s at 16 kHz."""
    config = HubertConfig.base()
    assert (config.receptive_field, config.hop_length) == (400, 320)
    assert config.frame_count(399) == 0
    assert config.frame_count(HubertConfig.tiny().receptive_field) == 1


def test_too_short_input_is_a_clear_error(small_model):
    with pytest.raises(ValueError, match="at least 400 samples"):
        small_model(torch.zeros(1, 399))


def test_layer_out_of_range_is_a_clear_error(small_model):
    with pytest.raises(ValueError, match="out of range"):
        small_model(torch.zeros(1, 1000), output_layer=2)


def test_no_final_proj_is_a_clear_error(small_model):
    with pytest.raises(ValueError, match="final_proj"):
        small_model.project(torch.zeros(1, 3, 8))


def test_zero_layer_model_gives_the_encoder_input():
    torch.manual_seed(1)
    model = HubertModel(small_config(num_layers=0)).eval()
    with torch.inference_mode():
        states = model.hidden_states(torch.randn(1, 2000))
    assert len(states) == 1


def test_odd_positional_kernel_keeps_every_frame():
    torch.manual_seed(2)
    model = HubertModel(small_config(pos_conv_kernel=5)).eval()
    with torch.inference_mode():
        assert model(torch.randn(1, 3000)).shape[1] == model.config.frame_count(3000)


def test_batch_equals_one_by_one(fixtures):
    model = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    samples = torch.load(fixtures / "rvc" / "hubert" / "hubert_io.pt", weights_only=True)["input_16k"]
    batch = torch.stack((samples, samples.flip(0)))
    with torch.inference_mode():
        together = model(batch)
        apart = torch.cat([model(item.unsqueeze(0)) for item in batch])
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=0)


def test_early_exit_equals_full_run(fixtures):
    model = load_hubert(fixtures / "rvc" / "hubert" / "hubert_tiny")
    samples = torch.load(fixtures / "rvc" / "hubert" / "hubert_io.pt", weights_only=True)["input_16k"][None]
    with torch.inference_mode():
        torch.testing.assert_close(model(samples, output_layer=4), model.hidden_states(samples)[4])


def test_config_validation():
    with pytest.raises(ValueError, match="num_heads"):
        small_config(num_heads=3)
    with pytest.raises(ValueError, match="one entry per conv layer"):
        small_config(conv_kernels=(10, 3))


def test_tiled_in_place_extractor_equals_the_autograd_path(monkeypatch):
    """Without autograd the feature extractor runs its convolutions in tiles and normalises in
    place (to bound a long chunk's memory); it gives the autograd path's numbers."""
    monkeypatch.setattr(hubert_module, "CONV_TILE_FRAMES", 7)
    monkeypatch.setattr(hubert_module, "GROUP_NORM_SLAB_GROUPS", 3)
    model = HubertModel(HubertConfig.tiny()).eval()
    samples = torch.randn(2, 4000, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        tiled = model.conv_features(samples)
    with torch.enable_grad():
        whole = model.conv_features(samples).detach()
    assert tiled.shape == whole.shape and tiled.shape[-1] > 7
    # float32 convolutions of at most conv_channels x kernel terms, summed in another order per tile
    parity.float32_close(
        tiled,
        whole,
        terms=max(c * k for c, k in zip(model.config.conv_channels, model.config.conv_kernels, strict=True)),
        what="tiled features",
    )
