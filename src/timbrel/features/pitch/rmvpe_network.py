"""RMVPE's E2E network: a deep U-Net over the log-mel image, then a BiGRU head over time.

Module names follow the layout of ``rmvpe.pt`` so that its state dict loads as is (RIFT's
file adds an unused ``unet.tf`` branch, which ``weights/rmvpe.py`` drops). BatchNorm layers use
their running statistics: call ``eval()`` before inference. Convolution weights may be kept in
the float16 the released files store (``weights/rmvpe.py``, ``float16_convolutions``): each
convolution widens its weight to its input's dtype as it runs, so the arithmetic stays float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

BATCH_NORM_MOMENTUM = 0.01
N_OUTPUT_CHANNELS = 3  # the `cnn` layer's output planes, flattened with the mel axis for the head


@dataclass(frozen=True)
class E2EConfig:
    """n_blocks: residual conv blocks per stage; n_gru: BiGRU layers (0: linear head only);
    kernel_size: pooling and up-sampling factor per level (time, mel); en_de_layers: encoder and
    decoder levels; inter_layers: bottleneck stages; en_out_channels: channels of the first level,
    doubled at each level."""

    n_blocks: int = 4
    n_gru: int = 1
    kernel_size: tuple[int, int] = (2, 2)
    en_de_layers: int = 5
    inter_layers: int = 4
    in_channels: int = 1
    en_out_channels: int = 16
    n_mels: int = 128
    gru_hidden: int = 256
    n_bins: int = 360

    @classmethod
    def tiny(cls) -> E2EConfig:
        """The layout of RIFT's small parity model (full-size head)."""
        return cls(n_blocks=1, inter_layers=1, en_out_channels=2)

    @property
    def time_multiple(self) -> int:
        """Frames must be a multiple of this for the U-Net's pooling to invert exactly."""
        return self.kernel_size[0] ** self.en_de_layers


class WideningConv2d(nn.Conv2d):
    """nn.Conv2d whose stored weight and bias may be narrower than its input (widened per call)."""

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight.to(x.dtype), _widened(self.bias, x.dtype))


class WideningConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose stored weight and bias may be narrower than its input."""

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        output_padding = self._output_padding(
            x,
            output_size,
            list(self.stride),
            list(self.padding),
            list(self.kernel_size),
            2,
            list(self.dilation),
        )
        return F.conv_transpose2d(
            x,
            self.weight.to(x.dtype),
            _widened(self.bias, x.dtype),
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


def _widened(bias: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if bias is None else bias.to(dtype)


class ConvBlockRes(nn.Module):
    """Two 3x3 conv + BN + ReLU with a residual (1x1 conv where the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            WideningConv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=BATCH_NORM_MOMENTUM),
            nn.ReLU(inplace=True),
            WideningConv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=BATCH_NORM_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        self.shortcut = WideningConv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.conv(x) + residual


def _conv_stack(in_channels: int, out_channels: int, n_blocks: int) -> nn.ModuleList:
    return nn.ModuleList(
        [ConvBlockRes(in_channels, out_channels)]
        + [ConvBlockRes(out_channels, out_channels) for _ in range(n_blocks - 1)]
    )


class ResEncoderBlock(nn.Module):
    """Conv blocks, then (on encoder levels) average pooling; returns the pre-pool map as the skip."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] | None, n_blocks: int
    ):
        super().__init__()
        self.conv = _conv_stack(in_channels, out_channels, n_blocks)
        self.pool = nn.AvgPool2d(kernel_size) if kernel_size is not None else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for block in self.conv:
            x = block(x)
        return x, (x if self.pool is None else self.pool(x))


class Encoder(nn.Module):
    def __init__(self, config: E2EConfig):
        super().__init__()
        self.bn = nn.BatchNorm2d(config.in_channels, momentum=BATCH_NORM_MOMENTUM)
        channels = [config.in_channels] + [config.en_out_channels * 2**i for i in range(config.en_de_layers)]
        self.layers = nn.ModuleList(
            ResEncoderBlock(channels[i], channels[i + 1], config.kernel_size, config.n_blocks)
            for i in range(config.en_de_layers)
        )
        self.out_channels = channels[-1]

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        x = self.bn(x)
        skips = []
        for layer in self.layers:
            skip, x = layer(x)
            skips.append(skip)
        return x, skips


class Intermediate(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, n_layers: int, n_blocks: int):
        super().__init__()
        self.layers = nn.ModuleList(
            ResEncoderBlock(in_channels if i == 0 else out_channels, out_channels, None, n_blocks)
            for i in range(n_layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)[1]
        return x


class ResDecoderBlock(nn.Module):
    """Transposed conv up by ``stride`` + BN + ReLU, concatenate the encoder skip, conv blocks."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int], n_blocks: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            WideningConvTranspose2d(
                in_channels,
                out_channels,
                3,
                stride=stride,
                padding=1,
                output_padding=(stride[0] - 1, stride[1] - 1),
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, momentum=BATCH_NORM_MOMENTUM),
            nn.ReLU(inplace=True),
        )
        self.conv2 = _conv_stack(out_channels * 2, out_channels, n_blocks)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = torch.cat((self.conv1(x), skip), dim=1)
        for block in self.conv2:
            x = block(x)
        return x


class Decoder(nn.Module):
    def __init__(self, in_channels: int, config: E2EConfig):
        super().__init__()
        layers = []
        for _ in range(config.en_de_layers):
            layers.append(ResDecoderBlock(in_channels, in_channels // 2, config.kernel_size, config.n_blocks))
            in_channels //= 2
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        for layer, skip in zip(self.layers, reversed(skips), strict=True):
            x = layer(x, skip)
        return x


class DeepUnet(nn.Module):
    def __init__(self, config: E2EConfig):
        super().__init__()
        self.encoder = Encoder(config)
        bottleneck = self.encoder.out_channels * 2
        self.intermediate = Intermediate(
            self.encoder.out_channels, bottleneck, config.inter_layers, config.n_blocks
        )
        self.decoder = Decoder(bottleneck, config)

    def forward(self, x: Tensor) -> Tensor:
        x, skips = self.encoder(x)
        return self.decoder(self.intermediate(x), skips)


class BiGRU(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int):
        super().__init__()
        self.gru = nn.GRU(
            input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.gru(x)[0]


class E2E(nn.Module):
    """log_mel (b, n_mels, t) with t a multiple of ``config.time_multiple`` -> salience (b, t, n_bins)
    in [0, 1]."""

    def __init__(self, config: E2EConfig):
        super().__init__()
        self.config = config
        self.unet = DeepUnet(config)
        self.cnn = WideningConv2d(config.en_out_channels, N_OUTPUT_CHANNELS, 3, padding=1)
        features = N_OUTPUT_CHANNELS * config.n_mels
        if config.n_gru:
            self.fc = nn.Sequential(
                BiGRU(features, config.gru_hidden, config.n_gru),
                nn.Linear(2 * config.gru_hidden, config.n_bins),
                nn.Dropout(0.25),
                nn.Sigmoid(),
            )
        else:
            self.fc = nn.Sequential(nn.Linear(features, config.n_bins), nn.Dropout(0.25), nn.Sigmoid())

    @property
    def dtype(self) -> torch.dtype:
        """The dtype it computes in (convolution weights may be stored narrower)."""
        return self.unet.encoder.bn.weight.dtype

    def forward(self, log_mel: Tensor) -> Tensor:
        x = log_mel.transpose(-1, -2).unsqueeze(1)
        x = self.cnn(self.unet(x)).transpose(1, 2).flatten(-2)
        return self.fc(x)


def fold_batch_norm(network: E2E) -> E2E:
    """Fold every BatchNorm that follows a conv into that conv's weights, in place, for inference.

    About 1.5x faster on CPU; saliences move by ~1e-7 (float rounding), f0 by ~1e-4 Hz. The
    folded network no longer has rmvpe.pt's state-dict layout and must not be trained.
    """
    network.eval()
    for module in network.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d | nn.ConvTranspose2d) and isinstance(norm, nn.BatchNorm2d):
                conv.to(norm.weight.dtype)  # the fused weight is new storage: no reason to keep it narrow
                module[i] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                module[i + 1] = nn.Identity()
    return network
