"""The Transformers HuBERT folder writer: the reference's own files' layout, and a round trip
through the loader that keeps the reference's numbers."""

from __future__ import annotations

import json
from dataclasses import replace

import torch
from safetensors.torch import load_file

from tests.weights.test_hubert import assert_matches_reference
from timbrel.weights.hubert import load_hubert_folder
from timbrel.weights.hubert_folder import write_hubert_folder


def test_written_folder_has_the_reference_layout_and_numbers(fixtures, tmp_path):
    reference = fixtures / "rvc" / "hubert" / "hubert_tiny"
    model = load_hubert_folder(reference)
    write_hubert_folder(tmp_path, model)
    theirs, ours = load_file(reference / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    described = json.loads((reference / "config.json").read_text())
    written = json.loads((tmp_path / "config.json").read_text())
    for key in (
        "architectures",
        "conv_dim",
        "conv_kernel",
        "conv_stride",
        "hidden_size",
        "num_hidden_layers",
    ):
        assert written[key] == described[key], key
    assert not json.loads((tmp_path / "preprocessor_config.json").read_text())["do_normalize"]
    again = load_hubert_folder(tmp_path)
    assert again.config == model.config
    for key, value in model.state_dict().items():
        if key == "pos_conv.weight":  # folded from the written (g, v) pair: one rounding apart
            torch.testing.assert_close(again.state_dict()[key], value, rtol=2e-7, atol=0)
        else:
            assert torch.equal(again.state_dict()[key], value), key
    assert_matches_reference(
        again, torch.load(fixtures / "rvc" / "hubert" / "hubert_io.pt", weights_only=True)
    )


def test_input_normalisation_is_written(fixtures, tmp_path):
    model = load_hubert_folder(fixtures / "rvc" / "hubert" / "hubert_tiny")
    model.config = replace(model.config, input_norm_eps=1e-7)
    write_hubert_folder(tmp_path, model)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text())["do_normalize"]
    assert load_hubert_folder(tmp_path).config.input_norm_eps == 1e-7
