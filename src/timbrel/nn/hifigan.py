"""HiFi-GAN's upsampling stack, shared by RVC's NSF decoder and the NSF-HiFiGAN vocoder.

Both stack the same stages (leaky ReLU, transposed conv, + the strided source, mean of residual
blocks) and end in conv_post and tanh. Here they run as channels-last conv2d (the layout oneDNN's
fast 1-D kernels take), in place when no gradient is recorded, and in tiles with exact halos so
that the wide late stages stay in cache and long inputs hold one tile's activations at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from timbrel.nn.legacy_weight_norm import WeightNormConv1d, WeightNormConvTranspose1d

LRELU_SLOPE = 0.1

# Measured on a 2-core AVX-512 machine (RVC v2-40k, 4 s): channels-last convolutions cut the
# decoder's CPU time by about 18%; tiling the last two stages (64 and 32 channels at the highest
# rates) in 40000-sample tiles saved about 4% more; tiling the whole stack lost more to the halos
# of its wide early stages than the cache gained.
TILED_FROM_STAGE = 2
DEFAULT_TILE_SAMPLES = 40000
# Inputs longer than this (in frames) go through the whole stack in tiles of it: at 38 s the first
# two stages' activations of v2-40k held 1.2 GB; 5 s tiles hold 0.15 GB and repeat about 9 of 500
# frames either side (the receptive radius), a few percent of those stages' time.
OUTER_TILE_FRAMES = 500


class ResBlock1(nn.Module):
    """Pairs of (dilated conv, conv) with leaky ReLUs and residual adds. Parameters: convs1, convs2.
    ``conv``: the layer class (plain, or weight-normed as the file stores it)."""

    def __init__(
        self, channels: int, kernel_size: int, dilations: tuple[int, ...], conv: type[nn.Conv1d] = nn.Conv1d
    ):
        super().__init__()
        self.convs1 = nn.ModuleList(
            conv(channels, channels, kernel_size, dilation=d, padding=(kernel_size * d - d) // 2)
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            conv(channels, channels, kernel_size, padding=(kernel_size - 1) // 2) for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, channels, 1, n) channels-last -> the same shape. In place where no gradient
        is recorded."""
        in_place = not torch.is_grad_enabled()
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            w1, b1 = channels_last_weight(c1)
            w2, b2 = channels_last_weight(c2)
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

    def __init__(
        self, channels: int, kernel_size: int, dilations: tuple[int, ...], conv: type[nn.Conv1d] = nn.Conv1d
    ):
        super().__init__()
        self.convs = nn.ModuleList(
            conv(channels, channels, kernel_size, dilation=d, padding=(kernel_size * d - d) // 2)
            for d in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        """As ResBlock1.forward."""
        in_place = not torch.is_grad_enabled()
        for conv in self.convs:
            weight, bias = channels_last_weight(conv)
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


class UpsamplingStack(nn.Module):
    """Base of a HiFi-GAN generator. A subclass registers, in its reference's state-dict order,
    ``ups`` (transposed convs), ``noise_convs`` (one per stage, or None without a source),
    ``resblocks`` (``num_kernels`` per stage) and ``conv_post``, and sets ``num_kernels``."""

    ups: nn.ModuleList
    noise_convs: nn.ModuleList | None
    resblocks: nn.ModuleList
    conv_post: nn.Conv1d
    num_kernels: int

    def upsample(self, x: Tensor, source: Tensor | None, tile: int | None = None) -> Tensor:
        """x: (b, c, n) the first stage's input, source: (b, 1, n * r) at the output rate ->
        waveform (b, 1, n * r). ``tile`` (output samples, default ``DEFAULT_TILE_SAMPLES``; 0: the
        whole signal at once) runs the stages from ``TILED_FROM_STAGE`` on tile by tile with exact
        halos when no gradient is recorded, and inputs over ``OUTER_TILE_FRAMES`` frames go through
        the whole stack in tiles of that many; the output is the same up to float rounding."""
        x = x[:, :, None].contiguous(memory_format=torch.channels_last)
        if source is not None:
            source = source[:, :, None]
        tile = DEFAULT_TILE_SAMPLES if tile is None else tile
        if torch.is_grad_enabled() or tile <= 0 or x.shape[-1] <= OUTER_TILE_FRAMES:
            return self._decode(x, source, tile)[:, :, 0]
        # Long inputs: the early stages' wide activations of the whole input would dominate memory.
        decode = partial(self._decode, tile=tile)
        return self._tiled(x, source, 0, OUTER_TILE_FRAMES, decode)[:, :, 0]

    def _decode(self, x: Tensor, source: Tensor | None, tile: int) -> Tensor:
        """x: (b, c, 1, n) channels-last stage-0 input -> waveform (b, 1, 1, n * r): the stages
        before ``TILED_FROM_STAGE`` whole, the rest in tiles of ``tile`` output samples."""
        first_tiled = min(TILED_FROM_STAGE, len(self.ups))
        for stage in range(first_tiled):
            x = self._stage(stage, x, source)
        unit = math.prod(up.stride[0] for up in self.ups[first_tiled:])
        tile_units = tile // unit
        if torch.is_grad_enabled() or tile_units <= 0 or x.shape[-1] <= tile_units:
            return self._tail(x, source, first_tiled)
        tail = partial(self._tail, first_stage=first_tiled)
        return self._tiled(x, source, first_tiled, tile_units, tail)

    def receptive_radius(self, first_stage: int = 0) -> int:
        """An upper bound on how many input samples of stage ``first_stage`` either side of one
        reach the output samples it produces (stages first_stage.. and conv_post)."""
        radius = (self.conv_post.kernel_size[0] - 1) // 2  # in output samples
        for i in reversed(range(first_stage, len(self.ups))):
            radius += max(block.radius() for block in self._blocks(i))
            up = self.ups[i]
            radius = -(-(radius + up.kernel_size[0]) // up.stride[0])
        return radius

    def _tiled(
        self,
        x: Tensor,
        source: Tensor | None,
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
            part = None if source is None else source[..., lo * unit : hi * unit]
            y = decode(x[..., lo:hi], part)
            out[..., start * unit : stop * unit] = y[..., (start - lo) * unit : (stop - lo) * unit]
        return out

    def _tail(self, x: Tensor, source: Tensor | None, first_stage: int) -> Tensor:
        """x: (b, c, 1, n) channels-last input of stage ``first_stage`` -> waveform (b, 1, 1, n * r)
        through the remaining stages and conv_post; source: (b, 1, 1, n * r)."""
        for stage in range(first_stage, len(self.ups)):
            x = self._stage(stage, x, source)
        # The references' last activation uses PyTorch's default slope (0.01), not LRELU_SLOPE.
        weight, bias = channels_last_weight(self.conv_post)
        padding = (0, self.conv_post.padding[0])
        return torch.tanh(F.conv2d(F.leaky_relu(x), weight, bias, padding=padding))

    def _stage(self, i: int, x: Tensor, source: Tensor | None) -> Tensor:
        """One upsampling stage: leaky ReLU, ups[i], + noise_convs[i](source), mean of the
        stage's residual blocks. x: (b, c, 1, n) channels-last -> (b, c / 2, 1, n * rate)."""
        in_place = not torch.is_grad_enabled()
        up = self.ups[i]
        weight, bias = channels_last_weight(up)
        x = F.conv_transpose2d(
            F.leaky_relu(x, LRELU_SLOPE), weight, bias, (1, up.stride[0]), (0, up.padding[0])
        )
        if self.noise_convs is not None:
            conv = self.noise_convs[i]
            weight, bias = channels_last_weight(conv)
            noise = F.conv2d(source, weight, bias, (1, conv.stride[0]), (0, conv.padding[0]))
            x = x.add_(noise) if in_place else x + noise
            del noise  # one activation less alive through the residual blocks
        blocks = self._blocks(i)
        xs = blocks[0](x)
        for block in blocks[1:]:
            # not bound to a name: the last block's output would stay alive through the next one
            xs = xs.add_(block(x)) if in_place else xs + block(x)
        return xs.div_(self.num_kernels) if in_place else xs / self.num_kernels

    def _blocks(self, stage: int) -> nn.ModuleList:
        return self.resblocks[stage * self.num_kernels : (stage + 1) * self.num_kernels]


def channels_last_weight(layer: nn.Module) -> tuple[Tensor, Tensor | None]:
    """A conv's (weight as (out, in, 1, k) channels-last, with weight norm applied if still
    unfolded, bias). Made when a stage asks for it rather than for the whole stack at once, which
    held a second copy of every weight through the pass (52 MB for the full-size vocoder); tiles
    ask again, at the cost of a copy of the weights per outer tile (under 1% of its time)."""
    weight = layer.current_weight() if isinstance(layer, _WEIGHT_NORMED) else layer.weight
    return weight[:, :, None].contiguous(memory_format=torch.channels_last), layer.bias


_WEIGHT_NORMED = (WeightNormConv1d, WeightNormConvTranspose1d)
