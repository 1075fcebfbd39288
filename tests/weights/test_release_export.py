"""Writers of RIFT-SVC's standard network files: each written file has the reference release's keys,
shapes and config fields, and Timbrel's loader reads back the same weights."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from timbrel.weights.hubert import load_contentvec
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.release_export import (
    save_contentvec_folder,
    save_nsf_hifigan_release,
    save_rmvpe,
    unfold_weight_norm,
)
from timbrel.weights.rmvpe import load_rmvpe


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=2e-7, atol=0, msg=key)


def shapes(state: dict) -> dict:
    return {k: tuple(v.shape) for k, v in state.items()}


def test_unfold_weight_norm_folds_back():
    weight = torch.randn(6, 4, 3)
    for dim in (0, 2):
        g, v = unfold_weight_norm(weight, dim)
        others = tuple(d for d in range(3) if d != dim)
        assert g.shape == tuple(1 if d in others else weight.shape[d] for d in range(3))
        torch.testing.assert_close(v * (g / v.norm(dim=others, keepdim=True)), weight)


def test_nsf_hifigan_release_matches_the_reference_layout(fixtures, tmp_path):
    release = fixtures / "rift" / "e2e" / "pretrained" / "nsf_hifigan_44.1k_hop512_128bin_2024.02"
    model = load_nsf_hifigan(release)
    written = save_nsf_hifigan_release(model, tmp_path / "vocoder")
    theirs = torch.load(release / "model.ckpt", weights_only=True)["generator"]
    assert shapes(torch.load(written, weights_only=True)["generator"]) == shapes(theirs)
    assert json.loads((tmp_path / "vocoder" / "config.json").read_text()) == json.loads(
        (release / "config.json").read_text()
    )
    assert_same_state(load_nsf_hifigan(written), model)


def test_rmvpe_file_reads_back(fixtures, tmp_path):
    model = load_rmvpe(fixtures / "rift" / "rmvpe_small" / "model.pt")
    written = save_rmvpe(model, tmp_path / "rmvpe" / "model.pt")
    assert set(torch.load(written, weights_only=True)) == {"model"}
    assert_same_state(load_rmvpe(written), model)


def test_contentvec_folder_matches_the_reference_layout(fixtures, tmp_path):
    release = fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best"
    model = load_contentvec(release)
    folder = save_contentvec_folder(model, tmp_path / "content-vec-best")
    theirs = load_file(release / "model.safetensors")
    theirs.pop("masked_spec_embed")  # training-only: Transformers initialises it when absent
    assert shapes(load_file(folder / "model.safetensors")) == shapes(theirs)
    reference_config = json.loads((release / "config.json").read_text())
    for key, value in json.loads((folder / "config.json").read_text()).items():
        assert reference_config.get(key, value) == value, key
    again = load_contentvec(folder)
    assert again.config == model.config
    assert_same_state(again, model)
