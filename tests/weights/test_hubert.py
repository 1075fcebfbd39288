"""HuBERT / ContentVec loaders: parity of both file layouts with the reference, full-size key
tables, strict key checks, and refusal of pickles that would run code."""

from __future__ import annotations

import argparse
import enum
import json
import os
import pickle
import shutil
import sys
import types
import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests import parity
from timbrel.core.errors import BadInputError
from timbrel.features.content.hubert import HubertModel
from timbrel.weights.hubert import (
    hubert_config_from_fairseq,
    hubert_config_from_transformers,
    hubert_state_from_fairseq,
    hubert_state_from_transformers,
    load_contentvec,
    load_hubert,
    load_hubert_fairseq,
    load_hubert_folder,
)


@pytest.fixture(scope="module")
def hubert_dir(fixtures) -> Path:
    return fixtures / "rvc" / "hubert"


@pytest.fixture(scope="module")
def hubert_io(hubert_dir):
    return torch.load(hubert_dir / "hubert_io.pt", weights_only=True)


def assert_matches_reference(model: HubertModel, io: dict) -> None:
    samples = io["input_16k"].unsqueeze(0)
    terms = parity.network_terms(model)
    with torch.inference_mode():
        parity.float32_close(
            model.conv_features(samples), io["conv_features"], terms=terms, what="conv features"
        )
        states = model.hidden_states(samples)
        assert len(states) == len(io["hidden_states"])
        for layer, (ours, reference) in enumerate(zip(states, io["hidden_states"], strict=True)):
            parity.float32_close(ours, reference, terms=terms, what=f"hidden state {layer}")
        parity.float32_close(model.project(states[9]), io["v1_features"], terms=terms, what="v1 features")
        parity.float32_close(states[-1], io["v2_features"], terms=terms, what="v2 features")


@pytest.mark.parametrize("layout", ["hubert_tiny", "hubert_tiny_fairseq_layout.pt"])
def test_both_layouts_match_reference(hubert_dir, hubert_io, layout):
    model = load_hubert(hubert_dir / layout)
    meta = json.loads((hubert_dir / "meta.json").read_text())
    assert model.config.frame_count(meta["input_samples"]) == meta["frames"]
    described = json.loads((hubert_dir / "hubert_tiny" / "config.json").read_text())
    sizes = ("hidden_size", "num_layers", "num_heads", "ffn_size", "pos_conv_kernel", "pos_conv_groups")
    theirs = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
    theirs += ("num_conv_pos_embeddings", "num_conv_pos_embedding_groups")
    assert [getattr(model.config, name) for name in sizes] == [described[name] for name in theirs]
    assert model.config.conv_channels == tuple(described["conv_dim"])
    assert model.config.conv_bias == described["conv_bias"]
    assert model.config.proj_size == described["classifier_proj_size"]
    assert_matches_reference(model, hubert_io)


def test_pytorch_model_bin_with_weight_g_names(hubert_dir, hubert_io, tmp_path):
    """The real assets/hubert_base/ ships pytorch_model.bin with the older weight-norm names."""
    folder = tmp_path / "hubert_base"
    folder.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(hubert_dir / "hubert_tiny" / name, folder / name)
    state = load_file(hubert_dir / "hubert_tiny" / "model.safetensors")
    renamed = {
        key.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        ): value
        for key, value in state.items()
    }
    assert renamed.keys() != state.keys()
    torch.save(renamed, folder / "pytorch_model.bin")
    assert_matches_reference(load_hubert_folder(folder), hubert_io)


def test_float16_fairseq_weights_are_cast(hubert_dir, hubert_io, tmp_path):
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    checkpoint["model"] = {k: v.half() for k, v in checkpoint["model"].items()}
    path = tmp_path / "hubert_base.pt"
    torch.save(checkpoint, path)
    model = load_hubert_fairseq(path)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    samples = hubert_io["input_16k"].unsqueeze(0)
    with torch.inference_mode():
        assert torch.isfinite(model(samples)).all()


def _meta_state(keys: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in keys.items()}


def _load_on_meta(config, state) -> HubertModel:
    with torch.device("meta"):
        model = HubertModel(config)
    model.load_state_dict(state, strict=True, assign=True)
    return model


def test_full_size_transformers_and_fairseq_key_tables(fixtures):
    manifest = json.loads((fixtures / "rvc" / "manifests" / "hubert_base_transformers.json").read_text())
    transformers_state = _meta_state(manifest["keys"])
    config = hubert_config_from_transformers(manifest["config"], None, transformers_state)
    assert (config.hidden_size, config.num_layers, config.proj_size) == (
        manifest["config"]["hidden_size"],
        manifest["config"]["num_hidden_layers"],
        manifest["config"]["classifier_proj_size"],
    )
    ours = hubert_state_from_transformers(transformers_state, config)
    _load_on_meta(config, ours)

    fairseq_state = _meta_state(manifest["fairseq_keys"])
    fairseq_state["label_embs_concat"] = torch.empty(1, config.proj_size, device="meta")
    fairseq_config = hubert_config_from_fairseq(None, None, fairseq_state)
    assert fairseq_config == config
    from_fairseq = hubert_state_from_fairseq(fairseq_state, config)
    assert {k: v.shape for k, v in from_fairseq.items()} == {k: v.shape for k, v in ours.items()}

    # every tensor of the file is used except the two weight-norm halves folded into one and the
    # training-only mask embedding; q, k and v become one projection
    file_params = sum(torch.Size(shape).numel() for shape in manifest["keys"].values())
    assert file_params == manifest["num_params"]
    g_shape = manifest["keys"]["encoder.pos_conv_embed.conv.parametrizations.weight.original0"]
    mask_shape = manifest["keys"]["masked_spec_embed"]
    ours_params = sum(v.numel() for v in ours.values())
    assert ours_params == file_params - torch.Size(g_shape).numel() - torch.Size(mask_shape).numel()


def test_full_size_contentvec_key_table(fixtures):
    manifest = json.loads((fixtures / "rift" / "manifest_contentvec.json").read_text())
    state = _meta_state({key: entry["shape"] for key, entry in manifest["state_dict"].items()})
    config = hubert_config_from_transformers(manifest["config"], None, state)
    assert config.proj_size == manifest["config"]["classifier_proj_size"]
    assert config.input_norm_eps is None
    _load_on_meta(config, hubert_state_from_transformers(state, config))


def test_contentvec_folder_loads(fixtures):
    folder = fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best"
    config_json = json.loads((folder / "config.json").read_text())
    model = load_contentvec(folder)
    assert model.config.hidden_size == config_json["hidden_size"]
    assert model.config.num_layers == config_json["num_hidden_layers"]


def test_missing_and_unexpected_keys_are_named(hubert_dir, tmp_path):
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    del checkpoint["model"]["encoder.layers.3.fc1.bias"]
    checkpoint["model"]["encoder.layers.3.extra.weight"] = torch.zeros(2)
    path = tmp_path / "hubert_base.pt"
    torch.save(checkpoint, path)
    with pytest.raises(BadInputError, match=r"encoder\.layers\.3\.fc1\.bias") as error:
        load_hubert(path)
    assert "encoder.layers.3.extra.weight" in str(error.value)


def test_shape_mismatch_is_an_error(hubert_dir, tmp_path):
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    checkpoint["cfg"]["model"]["encoder_ffn_embed_dim"] *= 2
    path = tmp_path / "hubert_base.pt"
    torch.save(checkpoint, path)
    with pytest.raises(BadInputError, match="fc1"):
        load_hubert(path)


def test_unsupported_variant_is_refused(hubert_dir, tmp_path):
    folder = tmp_path / "hubert_large"
    shutil.copytree(hubert_dir / "hubert_tiny", folder)
    config = json.loads((folder / "config.json").read_text())
    config["do_stable_layer_norm"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(BadInputError, match="do_stable_layer_norm"):
        load_hubert(folder)


def test_preprocessor_normalisation_is_honoured(hubert_dir, hubert_io, tmp_path):
    folder = tmp_path / "normalising"
    shutil.copytree(hubert_dir / "hubert_tiny", folder)
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    preprocessor["do_normalize"] = True
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    normalising = load_hubert_folder(folder)
    plain = load_hubert_folder(hubert_dir / "hubert_tiny")
    samples = hubert_io["input_16k"].unsqueeze(0)
    normalised = (samples - samples.mean()) / torch.sqrt(samples.var(unbiased=False) + 1e-7)
    with torch.inference_mode():
        expected = plain(normalised)  # normalised in float32 over the whole input first
        terms = parity.network_terms(plain) * samples.shape[-1]
        parity.float32_close(normalising(samples), expected, terms=terms, what="input normalisation")
    # RIFT's ContentVec never normalises, whatever the folder says
    assert load_contentvec(folder).config.input_norm_eps is None


# --- pickles -------------------------------------------------------------------------------------


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zip_format", [True, False])
def test_pickle_that_would_run_code_is_refused(hubert_dir, tmp_path, zip_format):
    marker = tmp_path / "marker"
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    checkpoint["extra_state"] = _RunsCode(marker)
    path = tmp_path / "hubert_base.pt"
    torch.save(checkpoint, path, _use_new_zipfile_serialization=zip_format)
    with pytest.raises(BadInputError, match=r"refused.*(posix|os|nt)\.system"):
        load_hubert(path)
    assert not marker.exists()


class _Choices(enum.Enum):
    DEFAULT = "default"


def _fake_module(name: str, **classes: type) -> types.ModuleType:
    module = types.ModuleType(name)
    for class_name, cls in classes.items():
        cls.__module__ = name
        cls.__qualname__ = class_name
        cls.__name__ = class_name
        setattr(module, class_name, cls)
    return module


def _fairseq_like_checkpoint(model_state: dict, cfg: dict, tmp_path: Path) -> Path:
    """A checkpoint pickling omegaconf/fairseq objects the way a real hubert_base.pt does, written
    with stand-in classes registered under those module names only while saving."""

    class DictConfig:
        def __init__(self, content):
            self._metadata = ContainerMetadata()
            self._parent = None
            self._content = content

    class ContainerMetadata:
        def __init__(self):
            self.key_type = typing.Any
            self.ref_type = typing.Optional[str]  # noqa: UP045 (the pickled form is what matters)

    class AnyNode:
        def __init__(self, value):
            self._metadata = ContainerMetadata()
            self._parent = None
            self._val = value

    class Dictionary:
        def __init__(self):
            self.symbols = ["<s>", "<pad>"]
            self.indices = {"<s>": 0, "<pad>": 1}

    choices = enum.Enum("Choices", {"DEFAULT": "default", "LAYER_NORM": "layer_norm"})
    modules = {
        "omegaconf.dictconfig": _fake_module("omegaconf.dictconfig", DictConfig=DictConfig),
        "omegaconf.base": _fake_module("omegaconf.base", ContainerMetadata=ContainerMetadata),
        "omegaconf.nodes": _fake_module("omegaconf.nodes", AnyNode=AnyNode),
        "fairseq.data.dictionary": _fake_module("fairseq.data.dictionary", Dictionary=Dictionary),
        "fairseq.dataclass.constants": _fake_module("fairseq.dataclass.constants", Choices=choices),
    }

    def node(value):
        if isinstance(value, dict):
            return DictConfig({key: node(item) for key, item in value.items()})
        if value == "default":
            return AnyNode(choices("default"))
        return AnyNode(value)

    checkpoint = {
        "args": None,
        "cfg": node(cfg),
        "model": model_state,
        "task_state": {"dictionaries": [Dictionary()]},
    }
    for name in list(modules):
        parts = name.split(".")
        for depth in range(1, len(parts)):
            modules.setdefault(".".join(parts[:depth]), types.ModuleType(".".join(parts[:depth])))
    path = tmp_path / "hubert_base.pt"
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        torch.save(checkpoint, path)
    finally:
        for name, module in saved.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module
    return path


def test_fairseq_checkpoint_with_config_objects_loads(hubert_dir, hubert_io, tmp_path):
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    path = _fairseq_like_checkpoint(checkpoint["model"], checkpoint["cfg"], tmp_path)
    with pytest.raises(pickle.UnpicklingError, match=r"fairseq|omegaconf"):
        torch.load(path, weights_only=True)
    model = load_hubert(path)
    assert model.config.num_layers == checkpoint["cfg"]["model"]["encoder_layers"]
    assert_matches_reference(model, hubert_io)


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "hubert_base.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BadInputError, match=r"hubert_base\.pt"):
        load_hubert(path)
    with pytest.raises(BadInputError, match="no such file"):
        load_hubert(tmp_path / "missing.pt")


def test_legacy_args_namespace_config(hubert_dir, hubert_io, tmp_path):
    """Older fairseq checkpoints keep the hyper-parameters in an argparse namespace ("args")."""
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    fields = {**checkpoint["cfg"]["model"], **checkpoint["cfg"]["task"]}
    fields.pop("_name")
    legacy = {"args": argparse.Namespace(**fields), "cfg": None, "model": checkpoint["model"]}
    path = tmp_path / "hubert_base.pt"
    torch.save(legacy, path)
    assert_matches_reference(load_hubert(path), hubert_io)


def test_conv_layers_are_parsed_never_evaluated(hubert_dir, tmp_path):
    checkpoint = torch.load(hubert_dir / "hubert_tiny_fairseq_layout.pt", weights_only=True)
    checkpoint["cfg"]["model"]["conv_feature_layers"] = "__import__('os').system('true')"
    path = tmp_path / "hubert_base.pt"
    torch.save(checkpoint, path)
    with pytest.raises(BadInputError, match="conv_feature_layers"):
        load_hubert(path)
