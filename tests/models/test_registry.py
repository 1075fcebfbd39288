"""The family registry: every name it gives resolves, files find their family, and a new family
is reached through the API without touching it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from timbrel import api
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.models.registry import FAMILIES, RIFT, RVC, Family, WeightPaths, family_of_file
from timbrel.models.rvc.pipeline import RVCConvertOptions


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES)
def test_every_named_entry_point_resolves(family):
    for entry in dataclasses.fields(Family):
        value = getattr(family, entry.name)
        if isinstance(value, str) and ":" in value:
            assert callable(family.resolve(entry.name)), f"{family.name}.{entry.name} = {value}"


def test_files_find_their_family_by_suffix():
    assert family_of_file(Path("voice.pth")) is RVC
    assert family_of_file(Path("G_2333.CKPT")) is RIFT
    with pytest.raises(BadInputError, match=r"unknown model file type '\.onnx'.*\.pth.*\.ckpt"):
        family_of_file(Path("voice.onnx"))


def test_a_refused_option_names_itself():
    with pytest.raises(ConfigError, match="formant_shift_semitones: RIFT cannot shift formants"):
        RIFT.convert_options({"formant_shift_semitones": 2.0})


class ToyVoice:
    family = "toy"
    sample_rate = 16000
    speakers = ("toy",)

    def __init__(self, source, weights, device):
        self.source, self.weights, self.device = source, weights, device


def test_a_new_family_is_loaded_through_the_api_by_its_entry_alone(monkeypatch, tmp_path):
    toy = dataclasses.replace(
        RVC,
        name="toy",
        file_kind="a toy .toy",
        suffixes=(".toy",),
        loader=f"{__name__}:ToyVoice",
        onnx_engine=None,
    )
    monkeypatch.setitem(FAMILIES, "toy", toy)
    model = tmp_path / "voice.toy"
    model.write_bytes(b"")
    assert api.model_family(model) == "toy"
    voice = api.load(model, rmvpe="rmvpe.pt")
    assert isinstance(voice, ToyVoice) and voice.source == model
    assert voice.weights == WeightPaths(rmvpe="rmvpe.pt")
    assert isinstance(api.convert_options(voice, {"key_shift_semitones": 3.0}), RVCConvertOptions)
    with pytest.raises(BadInputError, match="onnx engine converts RVC models; TOY graphs are exported only"):
        api.load(model, engine="onnx")
