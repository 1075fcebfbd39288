from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from timbrel.core.config import from_dict, load_file, to_dict, with_overrides
from timbrel.core.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    threshold_db: float = -42.0
    method: Literal["pm", "rmvpe"] = "pm"


@dataclass(frozen=True)
class Outer:
    name: str = "exp"
    workers: int = 2
    out_dir: Path = Path("logs")
    rates: tuple[int, ...] = (32000, 40000)
    inner: Inner = field(default_factory=Inner)
    note: str | None = None


def test_round_trip_through_plain_data():
    config = Outer(name="x", rates=(48000,), inner=Inner(threshold_db=-30.0, method="rmvpe"))
    assert from_dict(Outer, to_dict(config)) == config


def test_dotted_overrides_are_typed():
    config = with_overrides(Outer(), ["inner.threshold_db=-20", "workers=4", "inner.method=rmvpe", "note=hi"])
    assert config.inner.threshold_db == -20.0
    assert isinstance(config.inner.threshold_db, float)
    assert config.workers == 4
    assert config.inner.method == "rmvpe"
    assert config.note == "hi"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("workers=two", "expected an integer"),
        ("inner.method=crepe", "is not one of"),
        ("inner.nope=1", "no field 'nope'"),
        ("workers", "expected dotted.name=value"),
        ("name.sub=1", "is not a section"),
    ],
)
def test_bad_overrides_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message):
        with_overrides(Outer(), [override])


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match="unknown field"):
        from_dict(Outer, {"nmae": "typo"})


def test_load_toml_and_json(tmp_path):
    (tmp_path / "c.toml").write_text('name = "t"\n[inner]\nthreshold_db = -10\n')
    assert load_file(Outer, tmp_path / "c.toml").inner.threshold_db == -10.0
    (tmp_path / "c.json").write_text('{"workers": 3}')
    assert load_file(Outer, tmp_path / "c.json").workers == 3
    (tmp_path / "c.yaml").write_text("workers: 3")
    with pytest.raises(ConfigError, match="toml or"):
        load_file(Outer, tmp_path / "c.yaml")


@dataclass(frozen=True)
class WithPreset:
    inner: Inner = field(default_factory=lambda: Inner(threshold_db=-30.0, method="rmvpe"))


def test_partial_nested_table_keeps_the_field_default():
    config = from_dict(WithPreset, {"inner": {"threshold_db": -10}})
    assert config.inner == Inner(threshold_db=-10.0, method="rmvpe")
