"""Loading torchfcpe's bundled model file: checksum, config, strict keys, clear errors."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import require
from timbrel.core.errors import BadInputError
from timbrel.core.files import sha256_of
from timbrel.features.pitch.fcpe import FcpeConfig
from timbrel.weights.fcpe import fcpe_config, fcpe_state_dict, load_fcpe, shipped_fcpe_path


def _path():
    try:
        return shipped_fcpe_path()
    except BadInputError as error:
        require(False, f"torchfcpe's bundled weights are not installed: {error}")


@pytest.fixture(scope="module")
def shipped():
    return torch.load(_path(), map_location="cpu", weights_only=True)


def test_shipped_file_is_the_one_the_fixtures_were_made_with(fixtures):
    meta = torch.load(fixtures / "pitch" / "fcpe.pt", weights_only=True)["meta"]
    assert sha256_of(_path()) == meta["weights_sha256"]["torchfcpe/assets/fcpe_c_v001.pt"]


def test_config_is_read_from_the_file(shipped):
    config = fcpe_config(shipped["config_dict"], "fcpe.pt")
    model, mel = shipped["config_dict"]["model"], shipped["config_dict"]["mel"]
    assert (config.hidden, config.n_layers, config.n_bins) == (
        model["hidden_dims"],
        model["n_layers"],
        model["out_dims"],
    )
    assert (config.f0_min_hz, config.f0_max_hz) == (model["f0_min"], model["f0_max"])
    assert (config.mel.sample_rate, config.mel.hop_length, config.mel.n_mels) == (
        mel["sr"],
        mel["hop_size"],
        mel["num_mels"],
    )


def test_load_folds_weight_norm(shipped):
    net = load_fcpe()
    assert not net.training
    g, v = shipped["model"]["output_proj.weight_g"], shipped["model"]["output_proj.weight_v"]
    torch.testing.assert_close(net.output_proj.weight, torch._weight_norm(v, g, 0), rtol=1e-6, atol=0)


def test_missing_and_unexpected_keys_are_named(shipped):
    config = fcpe_config(shipped["config_dict"], "fcpe.pt")
    state = dict(shipped["model"])
    del state["net.encoder_layers.2.conformer.net.4.conv.bias"]
    state["net.encoder_layers.0.attn.to_q.weight"] = torch.zeros(1)
    with pytest.raises(BadInputError, match=r"missing \['net.encoder_layers.2.conformer.net.4.conv.bias'\]"):
        fcpe_state_dict(state, config, "fcpe.pt")


def test_unsupported_model_is_rejected(shipped, tmp_path):
    data = {**shipped, "config_dict": {**shipped["config_dict"]}}
    data["config_dict"]["model"] = {**data["config_dict"]["model"], "conv_only": False}
    path = tmp_path / "attention.pt"
    torch.save(data, path)
    with pytest.raises(BadInputError, match="conv_only=True"):
        load_fcpe(path)
    with pytest.raises(BadInputError, match="config_dict lacks 'mel'"):
        fcpe_config({"model": {}}, "fcpe.pt")


def test_not_a_torchfcpe_file(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(1)}, path)
    with pytest.raises(BadInputError, match="'model' and 'config_dict'"):
        load_fcpe(path)


def test_default_config_is_the_bundled_layout(shipped):
    assert fcpe_config(shipped["config_dict"], "fcpe.pt") == FcpeConfig()
