"""The CLI reads each option's help and default from the config's source; they must be what the
imported dataclass holds."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

from timbrel.cli.fields import default_of, help_of

NAMED_DEFAULTS = {"features", "threshold_db"}  # defaults given by a module constant, not a literal
CONFIGS = [
    ("timbrel.dataset.rvc", "RVCPrepareConfig"),
    ("timbrel.dataset.rift", "SplitConfig"),
    ("timbrel.features.extract_rvc", "RVCExtractConfig"),
    ("timbrel.features.extract_rift", "RIFTExtractConfig"),
    ("timbrel.models.rvc.pipeline", "RVCConvertOptions"),
    ("timbrel.models.rift.pipeline", "RIFTConvertOptions"),
    ("timbrel.infer.streaming", "StreamSettings"),
    ("timbrel.eval.evaluate", "EvalConfig"),
    ("timbrel.train.rvc", "RVCTrainConfig"),
]


@pytest.mark.parametrize(("module", "class_name"), CONFIGS)
def test_the_source_reading_agrees_with_the_dataclass(module, class_name):
    config = getattr(importlib.import_module(module), class_name)
    helped = [field for field in dataclasses.fields(config) if "help" in field.metadata]
    assert helped
    for field in helped:
        assert help_of(module, class_name, field.name) == field.metadata["help"]
        if field.default is not dataclasses.MISSING and field.name not in NAMED_DEFAULTS:
            assert default_of(module, class_name, field.name) == field.default
