"""Reading and writing RVC voice models and training checkpoints; refusing unsafe files."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from tests.models.rvc.test_training import reference_version
from timbrel.core.errors import BadInputError
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.nn.legacy_weight_norm import remove_weight_norm
from timbrel.weights.rvc import (
    exported_list,
    load_state_dict_strict,
    load_voice_model,
    read_training_checkpoint,
    read_training_f0_stats,
    read_voice_model,
    sidecar_path,
    synthesizer_config_from_state,
    write_training_checkpoint,
    write_training_f0_stats,
    write_voice_model,
)

MODELS = ["v1_f0", "v1_nof0", "v2_f0", "v2_nof0"]


@pytest.mark.parametrize("name", MODELS)
def test_read_voice_model_detects_variant_and_config(fixtures, name):
    summary = json.loads((fixtures / "rvc" / "synth" / "summary.json").read_text())[name]
    voice = read_voice_model(fixtures / "rvc" / "synth" / f"{name}.pth")
    assert voice.version == summary["version"]
    assert voice.use_f0 == bool(summary["f0"])
    assert voice.info == summary["info"]
    assert voice.sample_rate_label == summary["sr"]
    assert exported_list(voice.config) == summary["config"]
    assert len(voice.weights) == summary["n_weight_tensors"]
    assert {str(v.dtype) for v in voice.weights.values()} == set(summary["weight_dtypes"])
    assert not any("enc_q" in k for k in voice.weights)


@pytest.mark.parametrize("name", MODELS)
def test_voice_model_write_read_round_trip(fixtures, tmp_path, name):
    source = fixtures / "rvc" / "synth" / f"{name}.pth"
    voice = read_voice_model(source)
    out = tmp_path / "copy.pth"
    write_voice_model(
        out, voice.config, voice.weights, info=voice.info, sample_rate_label=voice.sample_rate_label
    )
    again = read_voice_model(out)
    assert again.config == voice.config
    assert again.info == voice.info and again.sample_rate_label == voice.sample_rate_label
    assert list(again.weights) == list(voice.weights)
    assert all(torch.equal(again.weights[k], voice.weights[k]) for k in voice.weights)
    original = torch.load(source, weights_only=True)
    written = torch.load(out, weights_only=True)
    assert list(written) == list(original)  # same top-level entries in the same order
    assert written["config"] == original["config"]
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_write_voice_model_from_training_model_drops_posterior_and_halves(tmp_path):
    config = SynthesizerConfig.tiny()
    model = Synthesizer(config)
    write_voice_model(tmp_path / "m.pth", config, model.state_dict(), info="3epoch")
    voice = read_voice_model(tmp_path / "m.pth")
    assert list(voice.weights) == [k for k in model.state_dict() if not k.startswith("enc_q.")]
    assert all(v.dtype == torch.float16 for v in voice.weights.values())
    assert voice.sample_rate_label == "32k"
    loaded = load_voice_model(tmp_path / "m.pth")
    assert loaded.enc_q is None


def test_training_checkpoint_read_and_round_trip(fixtures, tmp_path):
    checkpoint = read_training_checkpoint(fixtures / "rvc" / "train" / "G_1.pth")
    assert checkpoint.iteration == 1
    assert checkpoint.learning_rate == pytest.approx(1e-4)
    assert set(checkpoint.optimizer) == {"state", "param_groups"}
    assert len(checkpoint.optimizer["state"]) == len(checkpoint.model)
    config = synthesizer_config_from_state(checkpoint.model)
    train = fixtures / "rvc" / "train"
    reference = torch.load(train / "train_step.pt", weights_only=True)["batch"]
    rate = json.loads((train / "summary.json").read_text())["config"]["data"]["sampling_rate"]
    assert (config.version, config.use_f0, config.sample_rate) == (
        reference_version(reference),
        "pitch" in reference,
        rate,
    )
    out = tmp_path / "G_2.pth"
    write_training_checkpoint(out, checkpoint)
    again = read_training_checkpoint(out)
    assert again.iteration == checkpoint.iteration and again.learning_rate == checkpoint.learning_rate
    assert list(again.model) == list(checkpoint.model)
    assert all(torch.equal(again.model[k], checkpoint.model[k]) for k in checkpoint.model)
    assert again.optimizer["param_groups"] == checkpoint.optimizer["param_groups"]
    for index, state in checkpoint.optimizer["state"].items():
        assert all(torch.equal(again.optimizer["state"][index][k], v) for k, v in state.items())


def test_pretrained_file_with_only_model_entry(tmp_path):
    model = Synthesizer(SynthesizerConfig.tiny())
    torch.save({"model": model.state_dict()}, tmp_path / "f0G32k.pth")
    checkpoint = read_training_checkpoint(tmp_path / "f0G32k.pth")
    assert checkpoint.iteration is None and checkpoint.optimizer is None
    # Every shape-derived field comes back; the segment length is the v2-32k preset's (no shape records it).
    expected = dataclasses.replace(SynthesizerConfig.tiny(), segment_frames=12800 // 320)
    assert synthesizer_config_from_state(checkpoint.model) == expected


class _Exploit:
    """Unpickling this would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    payload = OrderedDict(weight={"x": _Exploit(marker)}, config=[], info="", sr="40k", f0=1, version="v2")
    with open(evil, "wb") as f:
        pickle.dump(payload, f, protocol=2)
    torch.save(payload, tmp_path / "evil_zip.pth")
    for path in (evil, tmp_path / "evil_zip.pth"):
        with pytest.raises(BadInputError, match="refused") as info:
            read_voice_model(path)
        assert path.name in str(info.value)
        with pytest.raises(BadInputError, match="refused"):
            load_voice_model(path)
        with pytest.raises(BadInputError, match="refused"):
            read_training_checkpoint(path)
    assert not marker.exists()


def test_declared_variant_must_match_the_weights(fixtures, tmp_path):
    data = torch.load(fixtures / "rvc" / "synth" / "v2_f0.pth", weights_only=True)
    data["version"] = "v1"
    torch.save(data, tmp_path / "wrong_version.pth")
    with pytest.raises(BadInputError, match=r"version 'v1'.*768"):
        read_voice_model(tmp_path / "wrong_version.pth")
    data["version"] = "v2"
    data["f0"] = 0
    torch.save(data, tmp_path / "wrong_f0.pth")
    with pytest.raises(BadInputError, match=r"f0=0.*emb_pitch"):
        read_voice_model(tmp_path / "wrong_f0.pth")


def test_missing_and_unexpected_keys_are_named(fixtures, tmp_path):
    data = torch.load(fixtures / "rvc" / "synth" / "v1_f0.pth", weights_only=True)
    del data["weight"]["dec.conv_post.weight"]
    data["weight"]["dec.extra.weight"] = torch.zeros(1)
    data["weight"]["flow.flows.0.pre.bias"] = torch.zeros(3, dtype=torch.float16)
    torch.save(data, tmp_path / "broken.pth")
    with pytest.raises(BadInputError) as info:
        load_voice_model(tmp_path / "broken.pth")
    message = str(info.value)
    assert "broken.pth" in message
    assert "dec.conv_post.weight" in message and "dec.extra.weight" in message
    assert "flow.flows.0.pre.bias" in message


def test_not_a_voice_model_is_named(tmp_path):
    torch.save({"model": {}}, tmp_path / "G_5.pth")
    with pytest.raises(BadInputError, match="'weight' and 'config'"):
        read_voice_model(tmp_path / "G_5.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(BadInputError, match=r"junk\.pth"):
        read_voice_model(tmp_path / "junk.pth")
    with pytest.raises(BadInputError, match="no such file"):
        read_voice_model(tmp_path / "absent.pth")


def test_load_state_dict_strict_accepts_exact_keys():
    model = Synthesizer(SynthesizerConfig.tiny(use_f0=False), with_posterior=False)
    load_state_dict_strict(model, model.state_dict(), "in-memory")


def test_writing_folded_weights_is_refused(tmp_path):
    config = SynthesizerConfig.tiny()
    model = remove_weight_norm(Synthesizer(config, with_posterior=False))
    with pytest.raises(BadInputError, match=r"dec\.ups\.0\.weight_g"):
        write_voice_model(tmp_path / "m.pth", config, model.state_dict())
    assert not list(tmp_path.iterdir())


def test_old_files_without_version_and_f0_default_to_v1_with_f0(fixtures, tmp_path):
    data = torch.load(fixtures / "rvc" / "synth" / "v1_f0.pth", weights_only=True)
    del data["version"], data["f0"]
    torch.save(data, tmp_path / "old.pth")
    voice = read_voice_model(tmp_path / "old.pth")
    assert (voice.version, voice.use_f0) == ("v1", True)


def test_training_f0_stats_sidecar_round_trip(tmp_path):
    f0_folder = tmp_path / "2b-f0nsf"
    f0_folder.mkdir()
    np.save(f0_folder / "0_1.wav.npy", np.array([0.0, 150.0, 250.0], dtype=np.float32))
    np.save(f0_folder / "0_2.wav.npy", np.array([200.0, 0.0], dtype=np.float32))
    model = tmp_path / "voice.pth"
    assert read_training_f0_stats(model) is None
    path = write_training_f0_stats(model, f0_folder)
    assert path == sidecar_path(model) == tmp_path / "voice.timbrel.json"
    stats = read_training_f0_stats(model)
    assert stats.median_hz == 200.0 and stats.voiced_frames == 3
    path.write_text("not json")
    with pytest.raises(BadInputError, match="JSON"):
        read_training_f0_stats(model)
    with pytest.raises(BadInputError, match="no f0 tracks"):
        write_training_f0_stats(model, tmp_path / "empty")


@pytest.mark.parametrize(
    ("sidecar", "named"),
    [
        ({"format_version": "2"}, "format_version"),
        ({"format_version": True}, "format_version"),
        ({"format_version": 0}, "format_version"),
        ({"format_version": 2}, "newer"),
        ({"family": "rift"}, "family"),
        ({"training_f0_hz": [200.0]}, "training_f0_hz"),
        ({"training_f0_hz": {"median": "high"}}, "training_f0_hz"),
        ({"training_f0_hz": {"median": 200.0, "quantiles": [1, 2]}}, "training_f0_hz"),
        ({"training_f0_hz": {"median": float("inf")}}, "training_f0_hz"),
        ({"training_f0_hz": {}}, "median"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_sidecar_with_unexpected_fields_or_types_is_named(tmp_path, sidecar, named):
    model = tmp_path / "voice.pth"
    sidecar_path(model).write_text(json.dumps(sidecar))
    with pytest.raises(BadInputError, match=named) as info:
        read_training_f0_stats(model)
    assert "voice.timbrel.json" in str(info.value)
