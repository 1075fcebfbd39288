from __future__ import annotations

import pytest

from timbrel.core.errors import ConfigError
from timbrel.features.pitch.hybrid import HybridExtractor
from timbrel.features.pitch.pm import PmConfig, PmExtractor
from timbrel.features.pitch.registry import create, method_names, register
from timbrel.features.pitch.rmvpe import RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.features.pitch.world import WorldExtractor


def test_every_method_is_named():
    assert set(method_names()) >= {
        "pm",
        "harvest",
        "dio",
        "rmvpe",
        "crepe-full",
        "crepe-tiny",
        "fcpe",
        "hybrid",
    }


def test_create_builds_the_reference_settings():
    assert isinstance(create("pm"), PmExtractor)
    assert create("pm", config=PmConfig.rvc_realtime()).config.f0_min_hz == 65.0
    harvest, dio = create("harvest"), create("dio")
    assert isinstance(harvest, WorldExtractor) and harvest.name == "harvest" and dio.name == "dio"
    rmvpe = create("rmvpe", network=E2E(E2EConfig.tiny()))
    assert isinstance(rmvpe, RmvpeExtractor) and (rmvpe.sample_rate, rmvpe.hop_length) == (16000, 160)
    hybrid = create("hybrid", extractors=[harvest, dio, rmvpe])
    assert isinstance(hybrid, HybridExtractor)


def test_clear_errors():
    with pytest.raises(ConfigError, match="unknown pitch method 'yin'"):
        create("yin")
    with pytest.raises(ConfigError, match=r"'rmvpe' needs \['network'\]"):
        create("rmvpe")
    with pytest.raises(ConfigError, match=r"takes no \['hop'\]"):
        create("pm", hop=3)
    with pytest.raises(ConfigError, match="already registered"):
        register("pm", "somewhere.else:Thing")
