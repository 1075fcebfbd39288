"""The RVC synthesizer's hyper-parameters, with the reference presets (the exported 18-item list is
timbrel.weights.rvc's)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from timbrel.core.errors import ConfigError

Version = Literal["v1", "v2"]

CONTENT_DIM = {"v1": 256, "v2": 768}

# Per (version, sample rate): spec_channels, hop_length, upsample_rates, upsample_kernel_sizes,
# training segment in samples. v2 at 40 kHz trains with the v1 config file.
_LAYOUTS: dict[tuple[str, int], tuple[int, int, tuple[int, ...], tuple[int, ...], int]] = {
    ("v1", 32000): (513, 320, (10, 4, 2, 2, 2), (16, 16, 4, 4, 4), 12800),
    ("v1", 40000): (1025, 400, (10, 10, 2, 2), (16, 16, 4, 4), 12800),
    ("v1", 48000): (1025, 480, (10, 6, 2, 2, 2), (16, 16, 4, 4, 4), 11520),
    ("v2", 32000): (513, 320, (10, 8, 2, 2), (20, 16, 4, 4), 12800),
    ("v2", 40000): (1025, 400, (10, 10, 2, 2), (16, 16, 4, 4), 12800),
    ("v2", 48000): (1025, 480, (12, 10, 2, 2), (24, 20, 4, 4), 17280),
}


@dataclass(frozen=True)
class SynthesizerConfig:
    """Everything that fixes the synthesizer's shapes.

    ``version`` picks the content width (v1: 256, v2: 768); ``use_f0`` picks the NSF decoder
    with a pitch embedding (the reference's ``...NSFsid``) or the plain decoder (``..._nono``).
    ``segment_frames`` is the training slice length in frames (unused at inference).
    """

    version: Version = "v2"
    use_f0: bool = True
    spec_channels: int = 1025
    segment_frames: int = 32
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.0  # the text encoder's training dropout: inert at inference; the presets use 0
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 10, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    n_speakers: int = 109
    gin_channels: int = 256
    sample_rate: int = 40000

    def __post_init__(self) -> None:
        if self.version not in CONTENT_DIM:
            raise ConfigError(f"version {self.version!r} is not one of {sorted(CONTENT_DIM)}")
        # The reference builds ResBlock1 for "1" and ResBlock2 for anything else, from the first 3 (or 2)
        # dilations of each kernel.
        needed = 3 if self.resblock == "1" else 2
        if any(len(d) < needed for d in self.resblock_dilation_sizes):
            raise ConfigError(
                f"resblock {self.resblock!r} takes {needed} dilations per kernel, "
                f"got {self.resblock_dilation_sizes}"
            )
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError(
                f"upsample_rates {self.upsample_rates} and upsample_kernel_sizes "
                f"{self.upsample_kernel_sizes} differ in length"
            )
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError(
                f"resblock_kernel_sizes {self.resblock_kernel_sizes} and resblock_dilation_sizes "
                f"{self.resblock_dilation_sizes} differ in length"
            )
        if self.hidden_channels % self.n_heads:
            raise ConfigError(
                f"hidden_channels {self.hidden_channels} is not divisible by n_heads {self.n_heads}"
            )
        if self.inter_channels % 2:
            raise ConfigError(
                f"inter_channels {self.inter_channels} must be even (the flow splits it in halves)"
            )
        if not 0 <= self.p_dropout < 1:
            raise ConfigError(f"p_dropout {self.p_dropout} is not in [0, 1)")
        if self.n_speakers < 1:
            raise ConfigError(f"n_speakers {self.n_speakers} must be at least 1")
        sizes = {
            "sample_rate": self.sample_rate,
            "spec_channels": self.spec_channels,
            "segment_frames": self.segment_frames,
            "inter_channels": self.inter_channels,
            "hidden_channels": self.hidden_channels,
            "filter_channels": self.filter_channels,
            "n_heads": self.n_heads,
            "kernel_size": self.kernel_size,
            "upsample_initial_channel": self.upsample_initial_channel,
            "gin_channels": self.gin_channels,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ConfigError(f"{name} {value} must be positive")
        if (
            min((*self.upsample_rates, *self.upsample_kernel_sizes, *self.resblock_kernel_sizes), default=1)
            < 1
        ):
            raise ConfigError("upsample rates and kernel sizes must be positive")

    @property
    def content_dim(self) -> int:
        return CONTENT_DIM[self.version]

    @property
    def upsample_factor(self) -> int:
        """Output samples per frame (the product of the upsample rates)."""
        return math.prod(self.upsample_rates)

    @classmethod
    def preset(cls, version: Version, sample_rate: int, use_f0: bool = True) -> SynthesizerConfig:
        """The full-size model the reference trains for (version, sample_rate, use_f0)."""
        if (version, sample_rate) not in _LAYOUTS:
            raise ConfigError(
                f"no RVC preset for version {version!r} at {sample_rate} Hz; available: {sorted(_LAYOUTS)}"
            )
        spec_channels, hop_length, rates, kernels, segment_samples = _LAYOUTS[(version, sample_rate)]
        return cls(
            version=version,
            use_f0=use_f0,
            spec_channels=spec_channels,
            segment_frames=segment_samples // hop_length,
            upsample_rates=rates,
            upsample_kernel_sizes=kernels,
            sample_rate=sample_rate,
        )

    @classmethod
    def tiny(cls, version: Version = "v2", use_f0: bool = True) -> SynthesizerConfig:
        """A small model for tests: the v2-32k upsampling layout with narrow layers."""
        return cls(
            version=version,
            use_f0=use_f0,
            spec_channels=513,
            segment_frames=10,
            inter_channels=8,
            hidden_channels=16,
            filter_channels=32,
            n_layers=2,
            upsample_rates=(10, 8, 2, 2),
            upsample_initial_channel=32,
            upsample_kernel_sizes=(20, 16, 4, 4),
            n_speakers=3,
            gin_channels=16,
            sample_rate=32000,
        )

    def with_speakers(self, n_speakers: int) -> SynthesizerConfig:
        return replace(self, n_speakers=n_speakers)
