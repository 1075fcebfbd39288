"""DiT parity with RIFT-SVC (fixtures/rift/dit_small) and the full-size key tables."""

from __future__ import annotations

import json

import pytest
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.models.rift.dit import PRESETS, DiT, DiTConfig
from timbrel.weights.rift import STATE_PREFIX, load_rift_checkpoint


@pytest.fixture(scope="module")
def small(fixtures):
    folder = fixtures / "rift" / "dit_small"
    model = load_rift_checkpoint(folder / "model-step=2.ckpt").model
    return model, torch.load(folder / "forward.pt", weights_only=True)


# Output name in forward.pt -> the DiT.forward arguments the fixture README gives for it.
VARIANTS = {
    "out_mask": {},
    "out_drop_speaker_item1": {"drop_speaker": torch.tensor([False, True])},
    "out_drop_speaker_all": {"drop_speaker": True},
    "out_no_mask": {"mask": None},
    "out_scalar_time_0p5": {"time": torch.tensor(0.5)},
}


def skip_layer_cases(data: dict) -> dict[str, dict]:
    """The skip-layer outputs in forward.pt with their arguments. A set that lists them in
    ``skip_layers_cases`` says so; otherwise the names spell the layers (out_skip_layers_1_3)."""
    if "skip_layers_cases" in data:
        return {name: {"skip_layers": layers} for name, layers in data["skip_layers_cases"].items()}
    cases = {}
    for name in data:
        if name.startswith("out_skip_layers_"):
            cases[name] = {"skip_layers": [int(i) for i in name.removeprefix("out_skip_layers_").split("_")]}
        elif name.startswith("out_skip_layer_"):
            cases[name] = {"skip_layers": int(name.removeprefix("out_skip_layer_"))}
    return cases


@pytest.mark.parametrize("name", [*sorted(VARIANTS), "skip_layers"])
def test_forward_matches_reference(small, name):
    model, data = small
    inputs = data["inputs"]
    cases = skip_layer_cases(data) if name == "skip_layers" else {name: VARIANTS[name]}
    assert cases
    for case, variant in cases.items():
        args = {"time": inputs["t"], "mask": inputs["mask"], **variant}
        with torch.no_grad():
            out = model(inputs["x_t"], inputs["spk"], inputs["f0"], inputs["rms"], inputs["cvec"], **args)
        parity.float32_close(out, data[case], terms=parity.network_terms(model), what=case)


def test_intermediates_match_reference(small):
    model, data = small
    inputs, expected = data["inputs"], data["intermediates_for_out_mask"]
    terms = parity.network_terms(model)

    def close(got, want):
        parity.float32_close(got, want, terms=terms, what="intermediate")

    with torch.no_grad():
        close(model.tembed(inputs["t"]), expected["tembed_out"])
        cond = model.condition(inputs["f0"], inputs["rms"], inputs["cvec"], inputs["mask"])
        close(cond.features, expected["cond_embed_out"])
        h = model.embed(inputs["x_t"], cond)
        close(h, expected["input_embed_out"])
        c = model.conditioning_vector(inputs["t"], inputs["spk"])
        for index in range(model.config.depth):
            h = model.run_blocks(h, c, cond, start=index, stop=index + 1)
            close(h, expected[f"block{index}_out"])
        close(model.norm_out(h, c), expected["norm_out_out"])


def test_rotary_angles_match_reference(small):
    model, data = small
    expected = data["rope_freqs"][0]
    # position · inverse frequency, the frequency a float32 power: a couple of roundings each
    parity.float32_close(
        model.rotary_embed.angles(expected.shape[0]), expected, terms=2, what="rotary angles"
    )


def test_valid_mask_builds_no_attention_bias(small):
    model, data = small
    inputs = data["inputs"]
    full = torch.ones_like(inputs["mask"])
    cond = model.condition(inputs["f0"], inputs["rms"], inputs["cvec"], full)
    assert cond.attn_bias is None and cond.frame_mask is None
    padded = model.condition(inputs["f0"], inputs["rms"], inputs["cvec"], inputs["mask"])
    assert padded.attn_bias.shape == (inputs["mask"].shape[0], 1, 1, inputs["mask"].shape[1])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_full_size_keys_shapes_and_parameter_count(fixtures, preset):
    manifest = json.loads((fixtures / "rift" / "manifest_dit_full.json").read_text())[preset]
    constructor = manifest["constructor"]
    config = DiTConfig.preset(preset)
    assert (
        config.dim,
        config.depth,
        config.head_dim,
        config.ff_mult,
        config.kernel_size,
        config.content_dim,
    ) == (
        constructor["dim"],
        constructor["depth"],
        constructor["head_dim"],
        constructor["ff_mult"],
        constructor["kernel_size"],
        constructor["cvec_dim"],
    )
    with torch.device("meta"):
        model = DiT(config)
    state = {STATE_PREFIX + k: list(v.shape) for k, v in model.state_dict().items()}
    assert state == {k: v["shape"] for k, v in manifest["lightning_ckpt_state_dict"].items()}
    assert sum(p.numel() for p in model.parameters()) == manifest["num_params_with_1_speaker"]


def test_each_speaker_adds_dim_parameters():
    config = DiTConfig.tiny(num_speakers=1)
    with torch.device("meta"):
        one = sum(p.numel() for p in DiT(config).parameters())
        five = sum(p.numel() for p in DiT(DiTConfig.tiny(num_speakers=5)).parameters())
    assert five - one == 4 * config.dim


def test_bad_config_and_skip_layers_are_rejected():
    with pytest.raises(ConfigError, match="head_dim"):
        DiTConfig(dim=100, depth=2, head_dim=64)
    with pytest.raises(ConfigError, match="dit-512-8"):
        DiTConfig.preset("dit-9")
    model = DiT(DiTConfig.tiny())
    n, config = 5, model.config
    args = (
        torch.zeros(1, n, config.n_mels),
        torch.zeros(1, dtype=torch.long),
        torch.zeros(1, n),
        torch.zeros(1, n),
        torch.zeros(1, n, config.content_dim),
        torch.tensor(0.5),
    )
    with pytest.raises(ConfigError, match=r"\[2\]"):
        model(*args, skip_layers=[0, 2])


def test_freezing_matches_the_reference_list(fixtures):
    manifest = json.loads((fixtures / "rift" / "manifest_dit_full.json").read_text())["dit-512-8"]
    with torch.device("meta"):
        model = DiT(DiTConfig.preset("dit-512-8"))
    model.freeze_adaln_and_time_embedding()
    frozen = sorted("transformer." + name for name, p in model.named_parameters() if not p.requires_grad)
    assert frozen == sorted(manifest["frozen_by_freeze_adaln_and_tembed"])


def test_initialisation_follows_the_spectral_rule():
    model = DiT(DiTConfig(dim=128, depth=2, num_speakers=3))
    model.init_weights(torch.Generator().manual_seed(0))
    for block in model.transformer_blocks:
        assert not block.attn_norm.proj.weight.any() and not block.attn_norm.proj.bias.any()
    assert not model.output.weight.any() and not model.norm_out.proj.weight.any()
    mlp = model.transformer_blocks[0].mlp
    # mlp_proj: fan_in 128, fan_out 512 -> std 1/sqrt(128); mlp_out: fan_in 512, fan_out 128 -> 0.5/sqrt(512).
    assert mlp.mlp_proj.weight.std().item() == pytest.approx(128**-0.5, rel=0.05)
    assert mlp.mlp_out.weight.std().item() == pytest.approx(0.5 / 512**0.5, rel=0.05)
    assert mlp.dwconv.weight.std().item() == pytest.approx(31**-0.5, rel=0.1)
    assert model.spk_embed.weight.std().item() == pytest.approx(128**-0.5, rel=0.2)
    assert not mlp.mlp_proj.bias.any()


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DiT(DiTConfig.tiny())
    config, n = model.config, 12
    mask = torch.arange(n) < torch.tensor([[n], [7]])
    velocity = model(
        torch.randn(2, n, config.n_mels),
        torch.tensor([0, 1]),
        torch.rand(2, n) * 400,
        torch.rand(2, n),
        torch.randn(2, n, config.content_dim),
        torch.rand(2),
        drop_speaker=torch.tensor([False, True]),
        mask=mask,
    )
    velocity.square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.any(), name
