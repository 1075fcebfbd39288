from __future__ import annotations

import pytest
import torch

from timbrel.core.errors import BadInputError
from timbrel.features.voice_encoder import VoiceEncoder
from timbrel.weights.cache import MissingWeightError
from timbrel.weights.resemblyzer import find_voice_encoder_weights, load_voice_encoder


def _checkpoint(model_state: dict) -> dict:
    return {"step": 1, "model_state": model_state, "optimizer_state": {}}


def test_loads_a_checkpoint_and_drops_the_training_only_scale(tmp_path):
    state = VoiceEncoder().state_dict()
    state["similarity_weight"] = torch.tensor([10.0])
    state["similarity_bias"] = torch.tensor([-5.0])
    torch.save(_checkpoint(state), tmp_path / "pretrained.pt")
    encoder = load_voice_encoder(tmp_path / "pretrained.pt")
    assert not encoder.training
    torch.testing.assert_close(encoder.linear.weight, state["linear.weight"])


def test_unexpected_and_missing_keys_are_named(tmp_path):
    state = VoiceEncoder().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["linear.bias"]
    torch.save(_checkpoint(state), tmp_path / "bad.pt")
    with pytest.raises(BadInputError, match=r"missing \['linear.bias'\]; unexpected \['extra.weight'\]"):
        load_voice_encoder(tmp_path / "bad.pt")


def test_not_a_checkpoint_and_missing_file(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(BadInputError, match="model_state"):
        load_voice_encoder(tmp_path / "other.pt")
    with pytest.raises(MissingWeightError, match=r"nowhere\.pt"):
        find_voice_encoder_weights(tmp_path / "nowhere.pt")


def test_cache_folder_comes_before_the_package(tmp_path, monkeypatch):
    cached = tmp_path / "resemblyzer" / "pretrained.pt"
    cached.parent.mkdir()
    cached.write_bytes(b"x")
    monkeypatch.setenv("TIMBREL_HOME", str(tmp_path))
    assert find_voice_encoder_weights() == cached
