"""WORLD's harvest and dio f0 (pyworld), each refined by stonemask, as RVC and RIFT call them."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from timbrel.features.pitch.base import PitchTrack


def _import_pyworld():
    """pyworld 0.3.5's __init__ reads its version through pkg_resources, which setuptools >= 81
    no longer ships; a stand-in answering that one call is put in place for the import only."""
    try:
        import pyworld
    except ModuleNotFoundError as error:
        if error.name != "pkg_resources":
            raise
        stand_in = types.ModuleType("pkg_resources")
        stand_in.get_distribution = lambda name: types.SimpleNamespace(
            version=importlib.metadata.version(name)
        )
        sys.modules["pkg_resources"] = stand_in
        try:
            import pyworld
        finally:
            del sys.modules["pkg_resources"]
    return pyworld


@dataclass(frozen=True)
class WorldConfig:
    """algorithm: harvest (slow, robust) or dio (fast); stonemask refines either."""

    algorithm: Literal["harvest", "dio"] = "harvest"
    sample_rate: int = 16000
    hop_length: int = 160
    f0_min_hz: float = 50.0
    f0_max_hz: float = 1100.0

    @classmethod
    def rvc_harvest(cls) -> WorldConfig:
        return cls()

    @classmethod
    def rvc_dio(cls) -> WorldConfig:
        return cls(algorithm="dio")

    @classmethod
    def rift_dio(cls) -> WorldConfig:
        return cls(algorithm="dio", sample_rate=44100, hop_length=512, f0_min_hz=40.0)


class WorldExtractor:
    """f0 frame i is centred on sample i * hop_length; there are n * 1000 / sample_rate /
    frame_period + 1 frames (rounded down), WORLD's own count."""

    def __init__(self, config: WorldConfig | None = None):
        self.config = config or WorldConfig()
        self.name = self.config.algorithm
        self.sample_rate = self.config.sample_rate
        self.hop_length = self.config.hop_length

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) float at sample_rate -> PitchTrack (frames,) float64."""
        pyworld = _import_pyworld()
        config = self.config
        samples = np.ascontiguousarray(samples, dtype=np.float64)
        analyse = pyworld.harvest if config.algorithm == "harvest" else pyworld.dio
        frame_period_ms = config.hop_length / config.sample_rate * 1000
        f0_hz, times_s = analyse(
            samples,
            config.sample_rate,
            f0_floor=config.f0_min_hz,
            f0_ceil=config.f0_max_hz,
            frame_period=frame_period_ms,
        )
        f0_hz = pyworld.stonemask(samples, f0_hz, times_s, config.sample_rate)
        return PitchTrack(f0_hz=f0_hz, sample_rate=config.sample_rate, hop_length=config.hop_length)


def harvest_extractor(config: WorldConfig | None = None) -> WorldExtractor:
    return WorldExtractor(replace(config or WorldConfig(), algorithm="harvest"))


def dio_extractor(config: WorldConfig | None = None) -> WorldExtractor:
    return WorldExtractor(replace(config or WorldConfig(), algorithm="dio"))
