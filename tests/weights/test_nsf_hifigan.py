"""NSF-HiFiGAN release files: config.json + model.ckpt with legacy weight-norm tensors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from timbrel.core.errors import BadInputError
from timbrel.vocoders.nsf_hifigan import NsfHifiGan
from timbrel.weights.nsf_hifigan import config_from_json, fold_weight_norm, load_nsf_hifigan


def test_full_size_keys_and_shapes_match_the_release(fixtures):
    manifest = json.loads((fixtures / "rift" / "manifest_nsf_hifigan_44k.json").read_text())
    config = config_from_json(manifest["config_fields_used"], "config.json")
    with torch.device("meta"):
        model = NsfHifiGan(config)
        in_file = {k: torch.empty(v["shape"]) for k, v in manifest["generator_state_dict_in_file"].items()}
    assert sum(t.numel() for t in in_file.values()) == manifest["num_tensor_elements_in_file"]
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == {k: v["shape"] for k, v in manifest["state_dict_after_remove_weight_norm"].items()}
    assert {k: list(v.shape) for k, v in fold_weight_norm(in_file).items()} == ours


def test_fold_weight_norm_keeps_direction_and_sets_norm():
    v, g = torch.randn(4, 3, 5), torch.rand(4, 1, 1) + 0.5
    weight = fold_weight_norm({"conv.weight_v": v, "conv.weight_g": g, "conv.bias": torch.zeros(4)})[
        "conv.weight"
    ]
    torch.testing.assert_close(weight.flatten(1).norm(dim=1), g.flatten())
    torch.testing.assert_close(weight / g, v / v.flatten(1).norm(dim=1)[:, None, None])


def test_loaded_model_has_plain_weights(fixtures):
    model = load_nsf_hifigan(fixtures / "rift" / "nsf_hifigan_small" / "model.ckpt")
    assert not model.training
    assert not any(k.endswith(("weight_g", "weight_v")) for k in model.state_dict())
    assert not any(hasattr(m, "parametrizations") for m in model.modules())


def test_missing_config_and_foreign_files_are_clear_errors(fixtures, tmp_path):
    source = fixtures / "rift" / "nsf_hifigan_small"
    shutil.copy(source / "model.ckpt", tmp_path / "model.ckpt")
    with pytest.raises(BadInputError, match=r"config\.json"):
        load_nsf_hifigan(tmp_path)
    config = json.loads((source / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "upsample_initial_channel": 128}))
    with pytest.raises(BadInputError, match="mis-shaped"):
        load_nsf_hifigan(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "resblock": "2"}))
    with pytest.raises(BadInputError, match="resblock"):
        load_nsf_hifigan(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    torch.save({"state_dict": {}}, tmp_path / "model.ckpt")
    with pytest.raises(BadInputError, match="generator"):
        load_nsf_hifigan(tmp_path)
