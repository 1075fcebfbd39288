"""The model families, one entry each: name, files, loader, conversion options, training.

``timbrel.api`` asks this table which family a file belongs to, how to load and export it and
which options it converts with; adding a family adds an entry here, not a branch in the API.

A family's loader, ONNX export and training run live above ``models/`` (in ``weights/`` and
``train/``), so the entry names them as ``"module:attribute"`` and ``Family`` imports them on
first use. That keeps the table whole in one place, and keeps ``models/`` from importing the
layers above it (the import-linter contracts in pyproject.toml); ``tests/models/test_registry.py``
resolves every name, so a moved function fails there rather than at a user's first load.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timbrel.core.config import from_dict
from timbrel.core.errors import BadInputError, ConfigError
from timbrel.models.rift.pipeline import RIFTConvertOptions
from timbrel.models.rvc.pipeline import RVCConvertOptions


@dataclass(frozen=True)
class WeightPaths:
    """The standard weights a voice needs besides its own file; None: from the weight cache.
    index: RVC's retrieval index (replacing a bundled one)."""

    index: str | Path | None = None
    hubert: str | Path | None = None
    rmvpe: str | Path | None = None
    contentvec: str | Path | None = None
    vocoder: str | Path | None = None


@dataclass(frozen=True)
class Family:
    """name: as bundles and sidecars spell it; suffixes: its model files' (lower case), the first
    named in messages as ``file_kind``; options: its conversion options dataclass.

    Named by "module:attribute":
    loader: (a model path or a read bundle, WeightPaths, torch.device) -> VoiceModel;
    onnx_export: (a model path or a read bundle, output_dir, name, vocoder folder or None) -> paths;
    train: the family's training run (its data folder and training config -> the result);
    default_train_config: called with no arguments -> the training config used when none is given.

    onnx_engine: (a loaded voice, its model path) -> None, switching the voice to run through
    onnxruntime (``load(engine="onnx")``); None: the family has no ONNX engine.
    refused_options: option name -> why this family refuses a true value of it."""

    name: str
    file_kind: str
    suffixes: tuple[str, ...]
    options: type
    loader: str
    onnx_export: str
    train: str
    default_train_config: str
    onnx_engine: str | None = None
    refused_options: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, attribute: str) -> Any:
        """The object one of the "module:attribute" fields names."""
        module, _, names = str(getattr(self, attribute)).partition(":")
        found = importlib.import_module(module)
        for name in names.split("."):
            found = getattr(found, name)
        return found

    def convert_options(self, values: Mapping[str, Any]) -> Any:
        """Typed conversion options from plain values; a value the family lacks or refuses is an
        error naming it."""
        for name, reason in self.refused_options.items():
            if values.get(name):
                raise ConfigError(f"{name}: {reason}")
        return from_dict(self.options, dict(values), where=f"{self.name} conversion options")


RVC = Family(
    name="rvc",
    file_kind="an RVC .pth",
    suffixes=(".pth",),
    options=RVCConvertOptions,
    loader="timbrel.weights.rvc_voice:load_voice",
    onnx_export="timbrel.weights.rvc_voice:export_onnx",
    train="timbrel.train.rvc:train_rvc",
    default_train_config="timbrel.train.rvc:RVCTrainConfig",
    onnx_engine="timbrel.weights.rvc_voice:use_onnx_synthesizer",
)

RIFT = Family(
    name="rift",
    file_kind="a RIFT .ckpt",
    suffixes=(".ckpt",),
    options=RIFTConvertOptions,
    loader="timbrel.weights.rift_voice:load_voice",
    onnx_export="timbrel.weights.rift_voice:export_onnx",
    train="timbrel.train.rift:train_rift",
    default_train_config="timbrel.train.rift_config:RIFTTrainConfig.finetune",
    refused_options={
        "formant_shift_semitones": "RIFT cannot shift formants cleanly: its DiT draws the whole mel "
        "spectrum, formants included, from the speaker and the f0, and the vocoder has no formant "
        "control (RVC's stretch of the synthesizer's frames has no RIFT counterpart)"
    },
)

FAMILIES: dict[str, Family] = {family.name: family for family in (RVC, RIFT)}


def family_of_file(path: Path) -> Family:
    """The family whose model files end like ``path`` (not a bundle: bundles name their family)."""
    suffix = path.suffix.lower()
    for family in FAMILIES.values():
        if suffix in family.suffixes:
            return family
    kinds = ", ".join(family.file_kind for family in FAMILIES.values())
    raise BadInputError(
        path, f"unknown model file type {path.suffix!r}: expected {kinds} or a Timbrel bundle (.timbrel.zip)"
    )
