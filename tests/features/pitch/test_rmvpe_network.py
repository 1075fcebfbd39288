from __future__ import annotations

import json

import pytest
import torch

from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig


def _shapes(config: E2EConfig) -> dict[str, list[int]]:
    with torch.device("meta"):
        network = E2E(config)
    return {key: list(value.shape) for key, value in network.state_dict().items()}


def test_full_size_layout_is_rvc_rmvpe_pt(fixtures):
    manifest = json.loads((fixtures / "rvc/manifests/rmvpe_E2E.json").read_text())
    shapes = _shapes(E2EConfig())
    assert shapes == manifest["keys"]
    assert list(shapes) == list(manifest["keys"])
    assert len(shapes) == manifest["num_tensors"]


def test_full_size_layout_is_rift_e2e0_without_its_unused_branch(fixtures):
    manifest = json.loads((fixtures / "rift/manifest_rmvpe.json").read_text())
    unused = tuple(manifest["unused_in_forward_prefixes"])
    expected = {k: v["shape"] for k, v in manifest["state_dict"].items() if not k.startswith(unused)}
    assert _shapes(E2EConfig()) == expected


def test_element_count_matches_rvc_manifest(fixtures):
    manifest = json.loads((fixtures / "rvc/manifests/rmvpe_E2E.json").read_text())
    with torch.device("meta"):
        network = E2E(E2EConfig())
    assert sum(v.numel() for v in network.state_dict().values()) == manifest["num_params"]


@pytest.mark.parametrize("n_frames", [32, 64])
def test_tiny_network_shapes(n_frames):
    network = E2E(E2EConfig.tiny()).eval()
    with torch.inference_mode():
        salience = network(torch.randn(2, 128, n_frames, generator=torch.Generator().manual_seed(0)))
    assert salience.shape == (2, n_frames, 360)
    assert salience.min() >= 0 and salience.max() <= 1


def test_linear_head_without_gru_builds():
    network = E2E(E2EConfig(n_blocks=1, n_gru=0, inter_layers=1, en_out_channels=2)).eval()
    with torch.inference_mode():
        assert network(torch.zeros(1, 128, 32)).shape == (1, 32, 360)
