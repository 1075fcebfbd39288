"""The HiFi-GAN decoder dec: latent frames -> waveform, with the NSF excitation for f0 models."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.nsf_source import SineSource
from timbrel.nn.legacy_weight_norm import WeightNormConv1d, WeightNormConvTranspose1d

LRELU_SLOPE = 0.1


class ResBlock1(nn.Module):
    """Pairs of (dilated conv, conv) with leaky ReLUs and residual adds. Parameters: convs1, convs2."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, dilation=d, padding=(kernel_size * d - d) // 2)
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2)
            for _ in dilations
        )

    def forward(self, x: Tensor, weights: dict[nn.Module, tuple[Tensor, Tensor | None]]) -> Tensor:
        """x: (b, channels, 1, n) channels-last -> the same shape. ``weights``: each conv's
        (weight, bias) from ``Generator.channels_last_weights``. In place where no gradient is
        recorded."""
        in_place = not torch.is_grad_enabled()
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            w1, b1 = weights[c1]
            w2, b2 = weights[c2]
            xt = F.conv2d(
                F.leaky_relu(x, LRELU_SLOPE), w1, b1, padding=(0, c1.padding[0]), dilation=(1, c1.dilation[0])
            )
            xt = F.leaky_relu_(xt, LRELU_SLOPE) if in_place else F.leaky_relu(xt, LRELU_SLOPE)
            xt = F.conv2d(xt, w2, b2, padding=(0, c2.padding[0]))
            x = xt.add_(x) if in_place else xt + x
        return x

    def layers(self) -> list[nn.Module]:
        return [*self.convs1, *self.convs2]

    def radius(self) -> int:
        return sum(
            c1.dilation[0] * (c1.kernel_size[0] - 1) // 2 + (c2.kernel_size[0] - 1) // 2
            for c1, c2 in zip(self.convs1, self.convs2, strict=True)
        )


class ResBlock2(nn.Module):
    """Single dilated convs with leaky ReLUs and residual adds (resblock "2"). Parameters: convs."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, dilation=d, padding=(kernel_size * d - d) // 2)
            for d in dilations
        )

    def forward(self, x: Tensor, weights: dict[nn.Module, tuple[Tensor, Tensor | None]]) -> Tensor:
        """As ResBlock1.forward."""
        in_place = not torch.is_grad_enabled()
        for conv in self.convs:
            weight, bias = weights[conv]
            xt = F.conv2d(
                F.leaky_relu(x, LRELU_SLOPE),
                weight,
                bias,
                padding=(0, conv.padding[0]),
                dilation=(1, conv.dilation[0]),
            )
            x = xt.add_(x) if in_place else xt + x
        return x

    def layers(self) -> list[nn.Module]:
        return list(self.convs)

    def radius(self) -> int:
        return sum(c.dilation[0] * (c.kernel_size[0] - 1) // 2 for c in self.convs)


# resblock kind -> (block class, how many of each kernel's dilations the reference builds convs for);
# the reference takes every kind but "1" for "2".
RESBLOCKS = {"1": (ResBlock1, 3), "2": (ResBlock2, 2)}


class Generator(nn.Module):
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
            block(channels // 2 ** (i + 1), kernel, tuple(dilations[:n_dilations]))
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
        computed from f0_hz; ``noise`` and ``generator`` feed ``source``. ``tile`` (output samples,
        default ``DEFAULT_TILE_SAMPLES``; 0: the whole signal at once) runs the stages from
        ``TILED_FROM_STAGE`` on tile by tile with exact halos when no gradient is recorded, and
        signals over ``OUTER_TILE_FRAMES`` frames go through the whole stack in tiles of that many;
        the output is the same up to float rounding.
        """
        if self.m_source is not None and har_source is None:
            if f0_hz is None:
                raise ValueError("this decoder needs f0_hz (b, t)")
            har_source = self.source(f0_hz, noise, generator)
        if n_frames is not None and n_frames != x.shape[-1]:
            x = F.interpolate(x, size=n_frames, mode="linear")
            if har_source is not None:
                har_source = F.interpolate(har_source, size=n_frames * self.upsample_factor, mode="linear")
        weights = self.channels_last_weights()
        x = self.conv_pre(x) + self.cond(g)
        x = x[:, :, None].contiguous(memory_format=torch.channels_last)
        if har_source is not None:
            har_source = har_source[:, :, None]
        tile = DEFAULT_TILE_SAMPLES if tile is None else tile
        if torch.is_grad_enabled() or tile <= 0 or x.shape[-1] <= OUTER_TILE_FRAMES:
            return self._decode(x, har_source, weights, tile)[:, :, 0]
        # Long chunks: the early stages' wide activations of the whole chunk would dominate memory.
        return self._tiled(
            x, har_source, 0, OUTER_TILE_FRAMES, lambda xs, hs: self._decode(xs, hs, weights, tile)
        )[:, :, 0]

    def _decode(self, x: Tensor, har_source: Tensor | None, weights: dict, tile: int) -> Tensor:
        """x: (b, c, 1, n) channels-last stage-0 input -> waveform (b, 1, 1, n * upsample_factor): the
        stages before ``TILED_FROM_STAGE`` whole, the rest in tiles of ``tile`` output samples."""
        first_tiled = min(TILED_FROM_STAGE, len(self.ups))
        for stage in range(first_tiled):
            x = self._stage(stage, x, har_source, weights)
        unit = math.prod(up.stride[0] for up in self.ups[first_tiled:])
        tile_units = tile // unit
        if torch.is_grad_enabled() or tile_units <= 0 or x.shape[-1] <= tile_units:
            return self._tail(x, har_source, weights, first_tiled)
        return self._tiled(
            x, har_source, first_tiled, tile_units, lambda xs, hs: self._tail(xs, hs, weights, first_tiled)
        )

    def receptive_radius(self, first_stage: int = 0) -> int:
        """An upper bound on how many input samples of stage ``first_stage`` either side of one
        reach the output samples it produces (stages first_stage.. and conv_post)."""
        radius = 3  # conv_post, in output samples
        for i in reversed(range(first_stage, len(self.ups))):
            radius += max(block.radius() for block in self._blocks(i))
            up = self.ups[i]
            radius = -(-(radius + up.kernel_size[0]) // up.stride[0])
        return radius

    def _tiled(
        self,
        x: Tensor,
        har_source: Tensor | None,
        first_stage: int,
        tile: int,
        decode: Callable[[Tensor, Tensor | None], Tensor],
    ) -> Tensor:
        """``decode`` (stage ``first_stage`` input -> waveform) over tiles of ``tile`` input samples,
        each with ``receptive_radius`` samples of context either side (fewer at the signal's ends,
        where the whole-signal pass's zero padding applies): the same output, with the activations
        of one tile alive at a time."""
        n = x.shape[-1]
        unit = math.prod(up.stride[0] for up in self.ups[first_stage:])
        halo = self.receptive_radius(first_stage)
        out = x.new_empty(x.shape[0], 1, 1, n * unit)
        for start in range(0, n, tile):
            stop = min(start + tile, n)
            lo, hi = max(start - halo, 0), min(stop + halo, n)
            source = None if har_source is None else har_source[..., lo * unit : hi * unit]
            y = decode(x[..., lo:hi], source)
            out[..., start * unit : stop * unit] = y[..., (start - lo) * unit : (stop - lo) * unit]
        return out

    def _tail(self, x: Tensor, har_source: Tensor | None, weights: dict, first_stage: int) -> Tensor:
        """x: (b, c, 1, n) channels-last input of stage ``first_stage`` -> waveform (b, 1, 1, n * r)
        through the remaining stages and conv_post; har_source: (b, 1, 1, n * r)."""
        for stage in range(first_stage, len(self.ups)):
            x = self._stage(stage, x, har_source, weights)
        # The reference's last activation uses PyTorch's default slope (0.01), not LRELU_SLOPE.
        weight, _ = weights[self.conv_post]
        return torch.tanh(F.conv2d(F.leaky_relu(x), weight, None, padding=(0, 3)))

    def _stage(self, i: int, x: Tensor, har_source: Tensor | None, weights: dict) -> Tensor:
        """One upsampling stage: leaky ReLU, ups[i], + noise_convs[i](har_source), mean of the
        stage's residual blocks. x: (b, c, 1, n) channels-last -> (b, c / 2, 1, n * rate)."""
        in_place = not torch.is_grad_enabled()
        up = self.ups[i]
        weight, bias = weights[up]
        x = F.conv_transpose2d(
            F.leaky_relu(x, LRELU_SLOPE), weight, bias, (1, up.stride[0]), (0, up.padding[0])
        )
        if self.noise_convs is not None:
            conv = self.noise_convs[i]
            weight, bias = weights[conv]
            noise = F.conv2d(har_source, weight, bias, (1, conv.stride[0]), (0, conv.padding[0]))
            x = x.add_(noise) if in_place else x + noise
        blocks = self._blocks(i)
        xs = blocks[0](x, weights)
        for block in blocks[1:]:
            y = block(x, weights)
            xs = xs.add_(y) if in_place else xs + y
        return xs.div_(self.num_kernels) if in_place else xs / self.num_kernels

    def _blocks(self, stage: int) -> nn.ModuleList:
        return self.resblocks[stage * self.num_kernels : (stage + 1) * self.num_kernels]

    def channels_last_weights(self) -> dict[nn.Module, tuple[Tensor, Tensor | None]]:
        """Every upsampling-stack conv's weight as (out, in, 1, k) channels-last (the layout
        oneDNN's fast 1-D kernels take), with weight norm applied if still unfolded."""
        layers = [*self.ups, self.conv_post, *(c for b in self.resblocks for c in b.layers())]
        if self.noise_convs is not None:
            layers += list(self.noise_convs)
        weights = {}
        for layer in layers:
            weight = layer.current_weight() if isinstance(layer, _WEIGHT_NORMED) else layer.weight
            weights[layer] = (weight[:, :, None].contiguous(memory_format=torch.channels_last), layer.bias)
        return weights


# Measured on a 2-core AVX-512 machine (v2-40k, 4 s): channels-last convolutions cut the decoder's
# CPU time by about 18%; tiling the last two stages (64 and 32 channels at the highest rates) in
# 40000-sample tiles saved about 4% more; tiling the whole stack lost more to the halos of its
# wide early stages than the cache gained.
TILED_FROM_STAGE = 2
DEFAULT_TILE_SAMPLES = 40000
# Chunks longer than this (in frames) go through the whole stack in tiles of it: at 38 s the first
# two stages' activations of v2-40k held 1.2 GB; 5 s tiles hold 0.15 GB and repeat about 9 of 500
# frames either side (the receptive radius), a few percent of those stages' time.
OUTER_TILE_FRAMES = 500
_WEIGHT_NORMED = (WeightNormConv1d, WeightNormConvTranspose1d)
