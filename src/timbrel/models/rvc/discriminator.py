"""RVC's multi-period discriminator: one scale discriminator plus one period discriminator per period.

State-dict keys equal the reference's (``discriminators.{i}.convs.{j}.weight_g/weight_v/bias``,
``discriminators.{i}.conv_post.*``; index 0 is the scale discriminator), so pretrained
``f0D40k.pth`` files load with ``strict=True``.

Exact savings over the reference formulation: for the discriminator's own step, real and
generated audio go through every sub-discriminator in one batched call (each weight-norm product
is formed once per call, and the convolutions see twice the batch); for the generator's loss,
only the generated audio is recorded for autograd (``record_real=False``). The period
discriminators keep the reference's layout, Conv2d with (k, 1) kernels on (b, c, frames,
period): the alternative of 1-D convolutions with the period columns moved into the batch gives
the same numbers but measured slower here (its weight-gradient pass is about twice as slow in
this torch's CPU kernels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from timbrel.nn.legacy_weight_norm import WeightNormConv1d

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class DiscriminatorConfig:
    """periods: one period discriminator each. scale_channels/scale_groups: the six convs of the
    scale discriminator; period_channels: the five convs of each period discriminator."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11, 17, 23, 37)
    scale_channels: tuple[int, ...] = (16, 64, 256, 1024, 1024, 1024)
    scale_groups: tuple[int, ...] = (1, 4, 16, 64, 256, 1)
    period_channels: tuple[int, ...] = (32, 128, 512, 1024, 1024)

    def __post_init__(self) -> None:
        if len(self.scale_channels) != 6 or len(self.scale_groups) != 6 or len(self.period_channels) != 5:
            raise ValueError("the scale discriminator has 6 convs and each period discriminator 5")
        if any(p < 1 for p in self.periods):
            raise ValueError(f"periods must be positive, got {self.periods}")

    @classmethod
    def for_version(cls, version: str) -> DiscriminatorConfig:
        """v1: MultiPeriodDiscriminator (periods 2..17); v2: MultiPeriodDiscriminatorV2 (adds 23, 37)."""
        if version == "v1":
            return cls(periods=(2, 3, 5, 7, 11, 17))
        if version == "v2":
            return cls()
        raise ValueError(f"version {version!r} is not 'v1' or 'v2'")

    @classmethod
    def tiny(cls) -> DiscriminatorConfig:
        """Narrow layers with the real structure, for tests."""
        return cls(
            periods=(2, 3, 5),
            scale_channels=(4, 16, 16, 32, 32, 32),
            scale_groups=(1, 4, 4, 8, 8, 1),
            period_channels=(8, 16, 32, 32, 32),
        )


class PeriodConv(nn.Module):
    """A weight-normed Conv2d with a (k, 1) kernel. Parameters as the legacy weight norm stores
    them: bias (out,), weight_g (out, 1, 1, 1), weight_v (out, in, k, 1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.stride = stride
        self.padding = padding
        bound = 1 / (in_channels * kernel_size) ** 0.5
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        weight = torch.empty(out_channels, in_channels, kernel_size, 1)
        nn.init.kaiming_uniform_(weight, a=5**0.5)
        self.weight_g = nn.Parameter(torch.norm_except_dim(weight, 2, 0))
        self.weight_v = nn.Parameter(weight)

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, in, frames, period) -> (b, out, frames', period)."""
        weight = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv2d(x, weight, self.bias, (self.stride, 1), (self.padding, 0))


class ScaleDiscriminator(nn.Module):
    """The reference's DiscriminatorS on raw audio."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        kernels, strides, paddings = (15, 41, 41, 41, 41, 5), (1, 4, 4, 4, 4, 1), (7, 20, 20, 20, 20, 2)
        in_channels = (1, *config.scale_channels[:-1])
        self.convs = nn.ModuleList(
            WeightNormConv1d(i, o, k, s, groups=g, padding=p)
            for i, o, k, s, g, p in zip(
                in_channels,
                config.scale_channels,
                kernels,
                strides,
                config.scale_groups,
                paddings,
                strict=True,
            )
        )
        self.conv_post = WeightNormConv1d(config.scale_channels[-1], 1, 3, 1, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x: (b, 1, n) -> score (b, frames), feature maps [(b, c, frames_l)]."""
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class PeriodDiscriminator(nn.Module):
    """The reference's DiscriminatorP(period): audio folded into columns of ``period`` samples."""

    def __init__(self, period: int, config: DiscriminatorConfig):
        super().__init__()
        self.period = period
        channels = config.period_channels
        in_channels = (1, *channels[:-1])
        strides = (3, 3, 3, 3, 1)
        self.convs = nn.ModuleList(
            PeriodConv(i, o, 5, s, 2) for i, o, s in zip(in_channels, channels, strides, strict=True)
        )
        self.conv_post = PeriodConv(channels[-1], 1, 3, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x: (b, 1, n) -> score (b, frames * period), feature maps [(b, c, frames_l, period)]."""
        b, c, n = x.shape
        p = self.period
        if n % p:
            x = F.pad(x, (0, p - n % p), "reflect")
            n = x.shape[-1]
        x = x.view(b, c, n // p, p)
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


@dataclass(frozen=True)
class DiscriminatorOutput:
    """One entry per sub-discriminator: scores (b, frames_k) and feature maps."""

    real_scores: list[Tensor]
    fake_scores: list[Tensor]
    real_fmaps: list[list[Tensor]]
    fake_fmaps: list[list[Tensor]]


class MultiPeriodDiscriminator(nn.Module):
    """MultiPeriodDiscriminator (v1) / MultiPeriodDiscriminatorV2 (v2), by ``config.periods``."""

    def __init__(self, config: DiscriminatorConfig = DiscriminatorConfig()):
        super().__init__()
        self.config = config
        self.discriminators = nn.ModuleList(
            [ScaleDiscriminator(config), *(PeriodDiscriminator(p, config) for p in config.periods)]
        )

    def forward(self, real: Tensor, fake: Tensor, record_real: bool = True) -> DiscriminatorOutput:
        """real, fake: (b, 1, n) -> scores and feature maps of both, from one batched call per
        sub-discriminator. record_real False (the generator's loss, whose feature loss takes the
        real feature maps as constants): real audio goes through without autograd and the
        generated audio alone is recorded, so the generator's backward does not compute input
        gradients for a real half that nothing uses."""
        out = DiscriminatorOutput([], [], [], [])
        for discriminator in self.discriminators:
            if record_real:
                score, fmap = discriminator(torch.cat([real, fake], dim=0))
                real_score, real_fmap = score[: real.shape[0]], [f[: real.shape[0]] for f in fmap]
                fake_score, fake_fmap = score[real.shape[0] :], [f[real.shape[0] :] for f in fmap]
            else:
                with torch.no_grad():
                    real_score, real_fmap = discriminator(real)
                fake_score, fake_fmap = discriminator(fake)
            out.real_scores.append(real_score)
            out.fake_scores.append(fake_score)
            out.real_fmaps.append(real_fmap)
            out.fake_fmaps.append(fake_fmap)
        return out
