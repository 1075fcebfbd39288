"""Timbrel's own RIFT model files: round trip, strictness, training state."""

from __future__ import annotations

import json

import pytest
import torch

from timbrel.core.errors import BadInputError, ConfigError
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.weights.rift_native import (
    is_native_model,
    load_rift_model,
    model_paths,
    save_rift_model,
)


def test_round_trip_gives_identical_outputs(tmp_path):
    model = DiT(DiTConfig.tiny(num_speakers=2))
    path = save_rift_model(tmp_path / "voice", model, {"ann": 0, "bo": 1}, {"learning_rate": 1e-4})
    assert path.name == "voice.safetensors" and is_native_model(tmp_path / "voice")
    document = json.loads((tmp_path / "voice.json").read_text())
    assert document["family"] == "rift" and document["format_version"] == 1
    loaded = load_rift_model(path)
    assert loaded.speakers == {"ann": 0, "bo": 1} and loaded.config == model.config
    assert loaded.training_config == {"learning_rate": 1e-4}
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_wrong_version_and_family_are_refused(tmp_path):
    model = DiT(DiTConfig.tiny(num_speakers=1))
    save_rift_model(tmp_path / "v", model, {"a": 0})
    _, config = model_paths(tmp_path / "v")
    document = json.loads(config.read_text())
    config.write_text(json.dumps({**document, "format_version": 99}))
    with pytest.raises(BadInputError, match="format_version"):
        load_rift_model(tmp_path / "v")
    config.write_text(json.dumps({**document, "family": "rvc"}))
    with pytest.raises(BadInputError, match="not a Timbrel RIFT model"):
        load_rift_model(tmp_path / "v")
    with pytest.raises(ConfigError, match="speaker rows"):
        save_rift_model(tmp_path / "w", model, {"a": 0, "b": 1})
