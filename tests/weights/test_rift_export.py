"""Timbrel-written RIFT-SVC Lightning checkpoints have the reference layout and load back."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.training import RIFTTrainSettings, RIFTTrainTask
from timbrel.weights.rift import load_pretrained_dit, load_rift_checkpoint, read_lightning_file
from timbrel.weights.rift_export import lightning_checkpoint, save_lightning_checkpoint


@pytest.fixture(scope="module")
def reference(fixtures):
    folder = fixtures / "rift" / "dit_small"
    info = json.loads((folder / "checkpoint_info.json").read_text())
    return folder / "model-step=2.ckpt", info


def export_fixture(reference, tmp_path, **kwargs):
    path, info = reference
    loaded = load_rift_checkpoint(path)
    cfg = {k: v for k, v in info["cfg"].items() if k not in ("model", "spk2idx")}
    checkpoint = lightning_checkpoint(loaded.model, loaded.speakers, cfg, info["global_step"], **kwargs)
    return loaded, save_lightning_checkpoint(tmp_path / "model-step=2.ckpt", checkpoint)


def test_weights_only_export_has_the_reference_layout(reference, tmp_path):
    path, info = reference
    _, out = export_fixture(reference, tmp_path)
    written = read_lightning_file(out)
    original = read_lightning_file(path)
    assert sorted(written) == info["checkpoint_top_level_keys"]
    assert list(written) == list(original)
    assert sorted(written["hyper_parameters"]) == info["hyper_parameters_keys"]
    assert written["hparams_name"] == info["hparams_name"]
    assert written["pytorch-lightning_version"] == info["pytorch-lightning_version"]
    assert (written["epoch"], written["global_step"]) == (info["epoch"], info["global_step"])
    assert written["hyper_parameters"] == original["hyper_parameters"]
    assert written["hyper_parameters"]["cfg"] == info["cfg"]
    assert written["loops"] == original["loops"]
    shapes = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
        for k, v in written["state_dict"].items()
    }
    assert shapes == info["state_dict"]
    assert list(written["state_dict"]) == list(original["state_dict"])
    for key, value in original["state_dict"].items():
        assert torch.equal(written["state_dict"][key], value), key


def test_export_reads_back_with_the_infer_loader(reference, tmp_path):
    loaded, out = export_fixture(reference, tmp_path)
    again = load_rift_checkpoint(out)
    assert again.speakers == loaded.speakers and again.config == loaded.config
    config = loaded.config
    x = torch.randn(1, 10, config.n_mels)
    speaker = torch.tensor([config.num_speakers - 1])
    args = (speaker, torch.full((1, 10), 200.0), torch.rand(1, 10), torch.randn(1, 10, config.content_dim))
    with torch.no_grad():
        torch.testing.assert_close(
            again.model(x, *args, torch.tensor([0.3])), loaded.model(x, *args, torch.tensor([0.3]))
        )


def test_full_state_export_carries_the_optimizer(tmp_path):
    model = DiT(DiTConfig.tiny())
    task = RIFTTrainTask(model, RIFTTrainSettings())
    checkpoint = lightning_checkpoint(
        model, {"a": 0, "b": 1}, {"seed": 1}, 3, optimizer_state=task.optimizer.state_dict()
    )
    out = save_lightning_checkpoint(tmp_path / "full.ckpt", checkpoint)
    written = read_lightning_file(out)
    assert {"callbacks", "optimizer_states", "lr_schedulers"} <= set(written)
    assert len(written["optimizer_states"][0]["param_groups"]) == len(task.optimizer.param_groups)
    assert written["hyper_parameters"]["cfg"]["model"]["cvec_dim"] == 32
    assert load_rift_checkpoint(out).config == model.config


def test_export_is_a_pretrained_file_for_fine_tuning(reference, tmp_path):
    loaded, out = export_fixture(reference, tmp_path)
    model = DiT(dataclasses.replace(loaded.config, num_speakers=loaded.config.num_speakers + 2))
    assert load_pretrained_dit(model, out) == ["spk_embed.weight"]
