"""RIFT-SVC Lightning checkpoints: strict DiT loading, speakers, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch

from timbrel.core.errors import BadInputError
from timbrel.models.rift.dit import DiT
from timbrel.weights.rift import STATE_PREFIX, load_pretrained_dit, load_rift_checkpoint


@pytest.fixture(scope="module")
def checkpoint_path(fixtures):
    return fixtures / "rift" / "dit_small" / "model-step=2.ckpt"


@pytest.fixture(scope="module")
def raw(checkpoint_path):
    return torch.load(checkpoint_path, weights_only=True)


def test_checkpoint_builds_the_configured_model(fixtures, checkpoint_path, raw):
    info = json.loads((fixtures / "rift" / "dit_small" / "checkpoint_info.json").read_text())
    loaded = load_rift_checkpoint(checkpoint_path)
    model_cfg = info["cfg"]["model"]
    assert loaded.speakers == info["cfg"]["spk2idx"]
    assert (loaded.config.dim, loaded.config.depth, loaded.config.head_dim) == (
        model_cfg["dim"],
        model_cfg["depth"],
        model_cfg["head_dim"],
    )
    assert (loaded.config.ff_mult, loaded.config.kernel_size, loaded.config.n_mels) == (
        model_cfg["ff_mult"],
        model_cfg["kernel_size"],
        model_cfg["n_mel_channels"],
    )
    assert loaded.config.num_speakers == len(info["cfg"]["spk2idx"])
    assert not loaded.model.training
    state = loaded.model.state_dict()
    assert {STATE_PREFIX + k for k in state} == set(info["state_dict"])
    for key, tensor in raw["state_dict"].items():
        assert torch.equal(state[key.removeprefix(STATE_PREFIX)], tensor), key


def test_content_dim_comes_from_the_checkpoint(fixtures):
    loaded = load_rift_checkpoint(fixtures / "rift" / "e2e" / "model-step=2.ckpt")
    assert loaded.config.content_dim == loaded.training_config["model"]["cvec_dim"]
    assert loaded.config.head_dim == loaded.training_config["model"]["head_dim"]


def test_speaker_table_disagreeing_with_spk2idx_is_an_error(raw, tmp_path):
    broken = {**raw, "hyper_parameters": {**raw["hyper_parameters"]}}
    cfg = dict(raw["hyper_parameters"]["cfg"])
    cfg["spk2idx"] = {**cfg["spk2idx"], "dave": len(cfg["spk2idx"])}
    broken["hyper_parameters"]["cfg"] = cfg
    torch.save(broken, tmp_path / "broken.ckpt")
    rows = raw["state_dict"][STATE_PREFIX + "spk_embed.weight"].shape[0]
    message = rf"spk_embed\.weight has {rows} rows but cfg\.spk2idx names {len(cfg['spk2idx'])}"
    with pytest.raises(BadInputError, match=message):
        load_rift_checkpoint(tmp_path / "broken.ckpt")


def test_missing_and_unexpected_keys_are_named(raw, tmp_path):
    state = dict(raw["state_dict"])
    del state[STATE_PREFIX + "output.bias"]
    state[STATE_PREFIX + "extra.weight"] = torch.zeros(1)
    torch.save({**raw, "state_dict": state}, tmp_path / "keys.ckpt")
    with pytest.raises(BadInputError, match=r"missing \['output.bias'\]; unexpected \['extra.weight'\]"):
        load_rift_checkpoint(tmp_path / "keys.ckpt")


class NotPlainData:
    pass


def test_pickled_objects_are_refused_with_a_clear_error(raw, tmp_path):
    torch.save({**raw, "extra": NotPlainData()}, tmp_path / "objects.ckpt")
    with pytest.raises(BadInputError, match="refused: loading it would run code"):
        load_rift_checkpoint(tmp_path / "objects.ckpt")


def test_not_a_rift_checkpoint(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(BadInputError, match="not a RIFT-SVC"):
        load_rift_checkpoint(tmp_path / "other.ckpt")


def test_pretrained_speaker_table_of_another_size_is_left_out_and_reported(checkpoint_path, raw, caplog):
    loaded = load_rift_checkpoint(checkpoint_path)
    config = dataclasses.replace(loaded.config, num_speakers=loaded.config.num_speakers + 1)
    model = DiT(config)
    fresh = model.spk_embed.weight.detach().clone()
    with caplog.at_level(logging.WARNING):
        left_out = load_pretrained_dit(model, checkpoint_path)
    assert left_out == ["spk_embed.weight"]
    assert "spk_embed.weight" in caplog.text and f"{loaded.config.num_speakers} speakers" in caplog.text
    assert torch.equal(model.spk_embed.weight, fresh)
    assert torch.equal(model.output.weight, raw["state_dict"][STATE_PREFIX + "output.weight"])


def test_pretrained_with_the_same_speakers_loads_everything(checkpoint_path):
    loaded = load_rift_checkpoint(checkpoint_path)
    model = DiT(loaded.config)
    assert load_pretrained_dit(model, checkpoint_path) == []
    assert torch.equal(model.spk_embed.weight, loaded.model.spk_embed.weight)
