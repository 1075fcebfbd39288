from __future__ import annotations

import ast
import json
import re

import pytest
import torch

from timbrel.core.errors import BadInputError
from timbrel.features.pitch.rmvpe_network import E2EConfig
from timbrel.weights.rmvpe import load_rmvpe, rmvpe_config_from_state_dict


def test_infers_the_full_layout_from_the_rvc_key_table(fixtures):
    manifest = json.loads((fixtures / "rvc/manifests/rmvpe_E2E.json").read_text())
    state_dict = {k: torch.empty(shape, device="meta") for k, shape in manifest["keys"].items()}
    assert rmvpe_config_from_state_dict(state_dict) == E2EConfig()


def test_loads_rift_wrapped_file_dropping_the_unused_branch(fixtures):
    network = load_rmvpe(fixtures / "rift/rmvpe_small/model.pt")
    assert network.config == _small_config(fixtures)
    assert not network.training
    assert not any(k.startswith("unet.tf.") for k in network.state_dict())
    assert not any(t.is_meta for t in [*network.parameters(), *network.buffers()])


def test_float16_file_widens_to_float32_or_keeps_narrow_convolutions_with_the_same_numbers(fixtures):
    path = fixtures / "rift/e2e/pretrained/rmvpe/model.pt"
    stored = torch.load(path, weights_only=True)["model"]
    assert stored["unet.intermediate.layers.0.conv.0.conv.0.weight"].dtype == torch.float16
    wide = load_rmvpe(path)
    narrow = load_rmvpe(path, float16_convolutions=True)
    assert all(p.dtype == torch.float32 for p in wide.parameters())
    convolutions = [m for m in narrow.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    kept = {id(p) for m in convolutions for p in m.parameters()}
    for name, tensor in [*narrow.named_parameters(), *narrow.named_buffers()]:
        if tensor.is_floating_point():
            assert tensor.dtype == (stored[name].dtype if id(tensor) in kept else torch.float32), name
    assert narrow.dtype == wide.dtype == torch.float32

    frames = 2 * wide.config.time_multiple
    log_mel = torch.randn(1, wide.config.n_mels, frames, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(narrow(log_mel), wide(log_mel))


def test_plain_state_dict_round_trip(fixtures, tmp_path):
    source = torch.load(fixtures / "rift/rmvpe_small/model.pt", weights_only=True)["model"]
    plain = {k: v for k, v in source.items() if not k.startswith("unet.tf.")}
    torch.save(plain, tmp_path / "rmvpe.pt")
    network = load_rmvpe(tmp_path / "rmvpe.pt")
    for key, value in network.state_dict().items():
        torch.testing.assert_close(value, plain[key], rtol=0, atol=0)


def test_missing_and_unexpected_keys_are_named(fixtures, tmp_path):
    source = torch.load(fixtures / "rift/rmvpe_small/model.pt", weights_only=True)["model"]
    del source["cnn.bias"]
    source["extra.weight"] = torch.zeros(1)
    torch.save(source, tmp_path / "broken.pt")
    with pytest.raises(BadInputError, match=r"missing \['cnn.bias'\]; unexpected \['extra.weight'\]"):
        load_rmvpe(tmp_path / "broken.pt")


def test_not_an_rmvpe_file(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(BadInputError, match="not an RMVPE state dict"):
        load_rmvpe(tmp_path / "other.pt")
    with pytest.raises(BadInputError, match="no such file"):
        load_rmvpe(tmp_path / "absent.pt")


def _small_config(fixtures) -> E2EConfig:
    """The E2E0 constructor call small_config.json records, e.g. "E2E0(n_blocks=1, ...)"."""
    constructor = json.loads((fixtures / "rift/rmvpe_small/small_config.json").read_text())["constructor"]
    kwargs = {
        name: ast.literal_eval(value) for name, value in re.findall(r"(\w+)=(\([^)]*\)|[^,()]+)", constructor)
    }
    return E2EConfig(**kwargs)
