"""The HiFi-GAN decoder dec: latent frames -> waveform, with the NSF excitation for f0 models."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.nsf_source import SineSource
from timbrel.nn.hifigan import ResBlock1, ResBlock2, UpsamplingStack
from timbrel.nn.legacy_weight_norm import WeightNormConv1d, WeightNormConvTranspose1d

# resblock kind -> (block class, how many of each kernel's dilations the reference builds convs for);
# the reference takes every kind but "1" for "2".
RESBLOCKS = {"1": (ResBlock1, 3), "2": (ResBlock2, 2)}


class Generator(UpsamplingStack):
    """dec. With ``config.use_f0`` it is the NSF generator (m_source, noise_convs), else the plain one.

    Submodules are registered in the reference order (m_source, noise_convs, conv_pre, ups,
    resblocks, conv_post, cond) so state dicts list keys in the same order as the reference's.
    """

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        rates = config.upsample_rates
        channels = config.upsample_initial_channel
        self.upsample_factor = math.prod(rates)
        self.num_kernels = len(config.resblock_kernel_sizes)
        if config.use_f0:
            self.m_source = SineSource(config.sample_rate)
            self.noise_convs = nn.ModuleList()
            for i in range(len(rates)):
                out_channels = channels // 2 ** (i + 1)
                if i + 1 < len(rates):
                    stride = math.prod(rates[i + 1 :])
                    conv = nn.Conv1d(1, out_channels, stride * 2, stride=stride, padding=stride // 2)
                else:
                    conv = nn.Conv1d(1, out_channels, 1)
                self.noise_convs.append(conv)
        else:
            self.m_source = None
            self.noise_convs = None
        self.conv_pre = nn.Conv1d(config.inter_channels, channels, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            WeightNormConvTranspose1d(
                channels // 2**i, channels // 2 ** (i + 1), kernel, rate, padding=(kernel - rate) // 2
            )
            for i, (rate, kernel) in enumerate(zip(rates, config.upsample_kernel_sizes, strict=True))
        )
        block, n_dilations = RESBLOCKS["1" if config.resblock == "1" else "2"]
        self.resblocks = nn.ModuleList(
            block(channels // 2 ** (i + 1), kernel, tuple(dilations[:n_dilations]), WeightNormConv1d)
            for i in range(len(rates))
            for kernel, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            )
        )
        self.conv_post = nn.Conv1d(channels // 2 ** len(rates), 1, 7, 1, padding=3, bias=False)
        self.cond = nn.Conv1d(config.gin_channels, channels, 1)

    def source(
        self, f0_hz: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """f0_hz: (b, t) -> har_source (b, 1, t * upsample_factor). f0 models only."""
        if self.m_source is None:
            raise ValueError("this decoder has no NSF source (a no-f0 model)")
        return self.m_source(f0_hz, self.upsample_factor, noise, generator)

    def forward(
        self,
        x: Tensor,
        g: Tensor,
        f0_hz: Tensor | None = None,
        n_frames: int | None = None,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        har_source: Tensor | None = None,
        tile: int | None = None,
    ) -> Tensor:
        """x: (b, inter, t), g: (b, gin, 1), f0_hz: (b, t) for f0 models -> (b, 1, n * upsample_factor).

        ``n_frames`` (n, default t) linearly resizes x and the excitation to n frames first (the
        realtime formant shift). ``har_source`` (b, 1, t * upsample_factor) replaces the source
        computed from f0_hz; ``noise`` and ``generator`` feed ``source``. ``tile``: as
        ``UpsamplingStack.upsample``.
        """
        if self.m_source is not None and har_source is None:
            if f0_hz is None:
                raise ValueError("this decoder needs f0_hz (b, t)")
            har_source = self.source(f0_hz, noise, generator)
        if n_frames is not None and n_frames != x.shape[-1]:
            x = F.interpolate(x, size=n_frames, mode="linear")
            if har_source is not None:
                har_source = F.interpolate(har_source, size=n_frames * self.upsample_factor, mode="linear")
        return self.upsample(self.conv_pre(x) + self.cond(g), har_source, tile)
