"""Presets, the exported 18-item list, and full-size key/shape manifests of every variant."""

from __future__ import annotations

import json

import pytest
import torch

from timbrel.core.config import from_dict, to_dict
from timbrel.core.errors import ConfigError
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.weights.rvc import config_from_exported_list, exported_list

VARIANTS = [
    (version, sample_rate, use_f0)
    for version in ("v1", "v2")
    for sample_rate in (32000, 40000, 48000)
    for use_f0 in (True, False)
]


def _manifest(fixtures, version, sample_rate, use_f0):
    name = f"G_{version}_{sample_rate // 1000}k_{'f0' if use_f0 else 'nof0'}.json"
    return json.loads((fixtures / "rvc" / "manifests" / name).read_text())


@pytest.mark.parametrize(("version", "sample_rate", "use_f0"), VARIANTS)
def test_full_size_state_dict_matches_manifest(fixtures, version, sample_rate, use_f0):
    manifest = _manifest(fixtures, version, sample_rate, use_f0)
    config = SynthesizerConfig.preset(version, sample_rate, use_f0)
    assert exported_list(config) == manifest["exported_config_list"]
    with torch.device("meta"):
        model = Synthesizer(config)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(shapes) == list(manifest["keys"])  # same keys in the same order
    assert shapes == manifest["keys"]
    assert len(shapes) == manifest["num_tensors"]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_params"]
    with torch.device("meta"):
        exported = Synthesizer(config, with_posterior=False)
    assert sum(p.numel() for p in exported.parameters()) == manifest["num_params_exported"]
    assert list(exported.state_dict()) == [k for k in manifest["keys"] if "enc_q" not in k]


@pytest.mark.parametrize(("version", "sample_rate", "use_f0"), VARIANTS)
def test_exported_list_round_trip(fixtures, version, sample_rate, use_f0):
    items = _manifest(fixtures, version, sample_rate, use_f0)["exported_config_list"]
    config = config_from_exported_list(items, version=version, use_f0=use_f0)
    assert exported_list(config) == items
    assert config.sample_rate == sample_rate
    assert config.upsample_factor == sample_rate // 100


def test_from_exported_list_overrides_speakers_and_accepts_label():
    items = exported_list(SynthesizerConfig.preset("v2", 40000))
    items[-1] = "40k"
    config = config_from_exported_list(items, version="v2", use_f0=True, n_speakers=5)
    assert config.n_speakers == 5
    assert config.sample_rate == 40000


def test_bad_configs_are_refused_with_the_value():
    with pytest.raises(ConfigError, match="18 items"):
        config_from_exported_list([1, 2, 3], version="v2", use_f0=True)
    with pytest.raises(ConfigError, match="v3"):
        SynthesizerConfig(version="v3")
    # What the reference constructors fail on: ResBlock1 indexes three dilations, ResBlock2 two.
    with pytest.raises(ConfigError, match="resblock '1' takes 3 dilations"):
        SynthesizerConfig(resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3),))
    with pytest.raises(ConfigError, match="resblock '2' takes 2 dilations"):
        SynthesizerConfig(resblock="2", resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1,),))
    with pytest.raises(ConfigError, match="p_dropout"):
        SynthesizerConfig(p_dropout=1.0)
    with pytest.raises(ConfigError, match="44100"):
        SynthesizerConfig.preset("v2", 44100)


def test_tiny_config_builds_a_small_model():
    model = Synthesizer(SynthesizerConfig.tiny())
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_typed_config_round_trip():
    config = SynthesizerConfig.preset("v1", 48000, use_f0=False)
    assert from_dict(SynthesizerConfig, to_dict(config)) == config
