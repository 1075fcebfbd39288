"""Config forms: every field of a config on the page with its default, and page values back to configs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from timbrel import api
from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.dataset.rift import RIFTPrepareConfig, SplitConfig
from timbrel.dataset.rvc import RVCPrepareConfig
from timbrel.features.extract_rvc import RVCExtractConfig
from timbrel.features.pitch import registry
from timbrel.models.rift.pipeline import RIFTConvertOptions
from timbrel.models.rvc.pipeline import RVCConvertOptions
from timbrel.ui.forms import NONE_CHOICE, form_fields, form_values
from timbrel.ui.workspace import Workspace


@dataclass(frozen=True)
class Inner:
    pad_s: float = 1.0
    rule: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Example:
    """Every kind of field a family's options use."""

    speaker: str | int = 0
    key_shift_semitones: float = 0.0
    steps: int = 32
    output_sample_rate: int | None = None
    method: str | None = "rmvpe"
    layers: int | tuple[int, ...] | None = None
    names: tuple[str, ...] = ()
    sample_rate: Literal[32000, 40000] = 40000
    flag: bool = True
    label: str = "x"
    start_from: Path | None = None
    inner: Inner = field(default_factory=Inner)


def example_fields():
    return form_fields(Example, {"method": ("pm", "rmvpe")})


def shown_defaults(fields):
    return [f.shown_default for f in fields]


CONFIGS = [
    *api.CONVERT_OPTIONS.values(),
    RVCConvertOptions,
    RIFTConvertOptions,  # nested slicer defaults from its default_factory, not SlicerConfig()
    RVCPrepareConfig,
    RIFTPrepareConfig,
    SplitConfig,
    RVCExtractConfig,
]


@pytest.mark.parametrize("config_class", CONFIGS, ids=lambda c: c.__name__)
def test_untouched_form_gives_the_default_config(config_class):
    fields = form_fields(config_class, {"f0_method": registry.method_names()})
    assert from_dict(config_class, form_values(fields, shown_defaults(fields))) == config_class()


@pytest.mark.parametrize("options", [RVCConvertOptions, RIFTConvertOptions], ids=lambda c: c.__name__)
def test_every_option_of_a_family_is_a_field(options):
    fields = form_fields(options)
    assert {f.name.split(".")[0] for f in fields} == {f.name for f in dataclasses.fields(options)}
    assert len({f.name for f in fields}) == len(fields)


def test_kinds_labels_and_shown_defaults():
    fields = {f.name: f for f in example_fields()}
    assert {name: f.kind for name, f in fields.items()} == {
        "speaker": "value", "key_shift_semitones": "float", "steps": "int", "output_sample_rate": "int",
        "method": "choice", "layers": "value", "names": "names", "sample_rate": "choice", "flag": "bool",
        "label": "text", "start_from": "path", "inner.pad_s": "float", "inner.rule": "choice",
    }  # fmt: skip
    assert fields["key_shift_semitones"].label == "key shift (semitones)"
    assert fields["inner.pad_s"].label == "pad (s)" and fields["inner.pad_s"].advanced
    assert fields["output_sample_rate"].optional and fields["method"].optional
    assert fields["speaker"].shown_default == "0"
    assert fields["layers"].shown_default == ""
    assert fields["sample_rate"].shown_default == "40000"
    assert fields["sample_rate"].choices == (32000, 40000)


def test_page_values_become_typed_config():
    fields = example_fields()
    shown = dict(zip([f.name for f in fields], shown_defaults(fields), strict=True))
    shown.update(
        {
            "speaker": "alice",
            "key_shift_semitones": 2,
            "steps": 8.0,  # number boxes may hand back floats
            "output_sample_rate": " 44100 ",
            "method": NONE_CHOICE,
            "layers": "[6, 7]",
            "names": " a, b ,, c ",
            "sample_rate": "32000",
            "flag": False,
            "inner.rule": "b",
        }
    )
    config = from_dict(Example, form_values(fields, list(shown.values())))
    assert config == Example(
        speaker="alice", key_shift_semitones=2.0, steps=8, output_sample_rate=44100, method=None,
        layers=(6, 7), names=("a", "b", "c"), sample_rate=32000, flag=False, inner=Inner(rule="b"),
    )  # fmt: skip
    shown.update({"speaker": "3", "layers": "5", "output_sample_rate": ""})
    config = from_dict(Example, form_values(fields, list(shown.values())))
    assert (config.speaker, config.layers, config.output_sample_rate) == (3, 5, None)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("steps", 2.5, "whole number"),
        ("steps", None, "a number is needed"),
        ("output_sample_rate", "fast", "expected a number"),
        ("sample_rate", "44100", "not one of"),
        ("method", "crepe", "not one of"),
        ("speaker", "", "a value is needed"),
    ],
)
def test_bad_page_values_are_config_errors(name, value, message):
    fields = example_fields()
    shown = [value if f.name == name else f.shown_default for f in fields]
    with pytest.raises(ConfigError, match=message):
        form_values(fields, shown)


def test_typed_paths_go_through_the_guard(tmp_path):
    fields = example_fields()
    shown = [("../G_1.pth" if f.name == "start_from" else f.shown_default) for f in fields]
    with pytest.raises(ConfigError, match="paths cannot be given here"):
        form_values(fields, shown)
    workspace = Workspace.create(tmp_path / "ws")
    with pytest.raises(BadInputError, match="outside the workspace"):
        form_values(fields, shown, workspace.path)
    shown = [("models/G_1.pth" if f.name == "start_from" else f.shown_default) for f in fields]
    config = from_dict(Example, form_values(fields, shown, workspace.path))
    assert config.start_from == workspace.root / "models" / "G_1.pth"
    untouched = from_dict(Example, form_values(fields, shown_defaults(fields)))
    assert untouched.start_from is None


def test_rvc_options_through_the_api():
    """Values as the convert tab hands them over -> api.convert_options -> the family's options."""
    fields = form_fields(api.CONVERT_OPTIONS["rvc"], {"f0_method": registry.method_names()})
    shown = {f.name: f.shown_default for f in fields}
    shown.update({"f0_method": "pm", "key_shift_semitones": 2, "index_rate": 0.5, "speaker": 1.0})
    voice = type("Voice", (), {"family": "rvc"})()
    options = api.convert_options(voice, form_values(fields, list(shown.values())))
    expected = api.CONVERT_OPTIONS["rvc"](f0_method="pm", key_shift_semitones=2.0, index_rate=0.5, speaker=1)
    assert options == expected
    shown["protect"] = 1.5
    with pytest.raises(ConfigError, match="protect"):
        api.convert_options(voice, form_values(fields, list(shown.values())))
