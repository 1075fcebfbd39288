"""The RVC synthesizer's hyper-parameters, with the reference presets and the exported 18-item list."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

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

# The reference exporter writes this constant as item 1 whatever the training segment was.
_EXPORTED_SEGMENT_ITEM = 32


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

    @classmethod
    def from_exported_list(
        cls, items: list[Any], *, version: Version, use_f0: bool, n_speakers: int | None = None
    ) -> SynthesizerConfig:
        """Parse the 18-item positional ``config`` list of an exported voice model.

        ``n_speakers`` replaces item 15, as the reference does with the rows of ``emb_g.weight``.
        """
        if not isinstance(items, list | tuple) or len(items) != 18:
            raise ConfigError(f"an RVC config list has 18 items, got {items!r}")
        (
            spec_channels,
            segment_frames,
            inter,
            hidden,
            filter_channels,
            n_heads,
            n_layers,
            kernel_size,
            p_dropout,
            resblock,
            resblock_kernels,
            resblock_dilations,
            upsample_rates,
            upsample_initial,
            upsample_kernels,
            spk_embed_dim,
            gin,
            sample_rate,
        ) = items
        try:
            return cls(
                version=version,
                use_f0=use_f0,
                spec_channels=int(spec_channels),
                segment_frames=int(segment_frames),
                inter_channels=int(inter),
                hidden_channels=int(hidden),
                filter_channels=int(filter_channels),
                n_heads=int(n_heads),
                n_layers=int(n_layers),
                kernel_size=int(kernel_size),
                p_dropout=float(p_dropout),
                resblock=str(resblock),
                resblock_kernel_sizes=tuple(int(k) for k in resblock_kernels),
                resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in resblock_dilations),
                upsample_rates=tuple(int(u) for u in upsample_rates),
                upsample_initial_channel=int(upsample_initial),
                upsample_kernel_sizes=tuple(int(k) for k in upsample_kernels),
                n_speakers=int(spk_embed_dim if n_speakers is None else n_speakers),
                gin_channels=int(gin),
                sample_rate=_sample_rate_hz(sample_rate),
            )
        except (TypeError, ValueError) as error:
            raise ConfigError(f"bad RVC config list {items!r}: {error}") from error

    def to_exported_list(self) -> list[Any]:
        """The 18-item ``config`` list the reference exporter writes for this model."""
        return [
            self.spec_channels,
            _EXPORTED_SEGMENT_ITEM,
            self.inter_channels,
            self.hidden_channels,
            self.filter_channels,
            self.n_heads,
            self.n_layers,
            self.kernel_size,
            int(self.p_dropout) if float(self.p_dropout).is_integer() else self.p_dropout,
            self.resblock,
            list(self.resblock_kernel_sizes),
            [list(d) for d in self.resblock_dilation_sizes],
            list(self.upsample_rates),
            self.upsample_initial_channel,
            list(self.upsample_kernel_sizes),
            self.n_speakers,
            self.gin_channels,
            self.sample_rate,
        ]

    def with_speakers(self, n_speakers: int) -> SynthesizerConfig:
        return replace(self, n_speakers=n_speakers)


def _sample_rate_hz(value: Any) -> int:
    """The sample rate from an int or a reference label such as "40k"."""
    if isinstance(value, str):
        labels = {"32k": 32000, "40k": 40000, "48k": 48000}
        if value not in labels:
            raise ValueError(f"sample rate label {value!r} is not one of {sorted(labels)}")
        return labels[value]
    return int(value)
