"""HuBERT-base as RVC (hubert_base) and RIFT-SVC (ContentVec) run it: a post-LN transformer over
20 ms frames of a 16 kHz waveform.

Conv feature extractor (no bias unless conv_bias, GroupNorm on conv 0, GELU after each) -> LayerNorm -> Linear
to hidden -> + GELU(positional conv) -> LayerNorm -> layers of [self-attention, residual,
LayerNorm, FFN (GELU), residual, LayerNorm], optionally final_proj. Inference only: no dropout,
no masking, no padding mask (inputs of one batch have one length).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class HubertConfig:
    """HuBERT-base by default. proj_size: final_proj width, None for a model without it.

    input_norm_eps: when set, each waveform is normalised to zero mean and unit variance over time
    with this epsilon first (Transformers' do_normalize uses 1e-7, fairseq's task.normalize 1e-5);
    None (hubert_base, ContentVec) feeds the raw samples.
    """

    conv_channels: tuple[int, ...] = (512,) * 7
    conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_strides: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_size: int = 3072
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    proj_size: int | None = 256
    layer_norm_eps: float = 1e-5
    input_norm_eps: float | None = None
    conv_bias: bool = False

    def __post_init__(self) -> None:
        if not len(self.conv_channels) == len(self.conv_kernels) == len(self.conv_strides) >= 1:
            raise ValueError(
                "conv_channels, conv_kernels and conv_strides need one entry per conv layer, got "
                f"{self.conv_channels}, {self.conv_kernels}, {self.conv_strides}"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.hidden_size % self.pos_conv_groups:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by pos_conv_groups {self.pos_conv_groups}"
            )

    @classmethod
    def base(cls) -> HubertConfig:
        return cls()

    @classmethod
    def tiny(cls) -> HubertConfig:
        """The sizes of the RVC test model: real frame rate, hidden 32, 12 layers."""
        return cls(
            conv_channels=(32,) * 7,
            hidden_size=32,
            num_heads=2,
            ffn_size=64,
            pos_conv_kernel=16,
            pos_conv_groups=4,
            proj_size=16,
        )

    @property
    def receptive_field(self) -> int:
        """Samples one output frame sees (400 for the real kernels)."""
        field = 1
        for kernel, stride in zip(reversed(self.conv_kernels), reversed(self.conv_strides), strict=True):
            field = (field - 1) * stride + kernel
        return field

    @property
    def hop_length(self) -> int:
        """Samples between frames (320 for the real strides, i.e. 50 frames/s at 16 kHz)."""
        hop = 1
        for stride in self.conv_strides:
            hop *= stride
        return hop

    def frame_count(self, n_samples: int) -> int:
        """Frames for n_samples: floor((n - 400) / 320) + 1 for the real kernels, 0 below 400 samples."""
        frames = n_samples
        for kernel, stride in zip(self.conv_kernels, self.conv_strides, strict=True):
            if frames < kernel:
                return 0
            frames = (frames - kernel) // stride + 1
        return frames


GROUP_NORM_SLAB_GROUPS = 32
CONV_TILE_FRAMES = 4096


def _conv_in_tiles(
    conv: nn.Conv1d, x: torch.Tensor, activation: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """activation(conv(x)) (conv(x) without one) for an unpadded, undilated conv and an in-place
    elementwise activation, written tile by tile into one output (each tile activated while it is
    whole and contiguous, as the whole output would be).

    With no more output than input channels the output takes x's own storage (x is overwritten;
    the result is a view of it): output frame j goes to position j of its channel's row, and the
    tiles after it read only positions from stride * (j + 1) on, so nothing is overwritten before
    it is read."""
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    frames = (x.shape[-1] - kernel) // stride + 1
    if activation is None:
        activation = _unchanged
    if frames <= CONV_TILE_FRAMES:
        return activation(conv(x))
    if conv.out_channels <= x.shape[1]:
        out = x[:, : conv.out_channels, :frames]
    else:
        out = x.new_empty(x.shape[0], conv.out_channels, frames)
    for start in range(0, frames, CONV_TILE_FRAMES):
        stop = min(start + CONV_TILE_FRAMES, frames)
        out[..., start:stop] = activation(conv(x[..., stride * start : stride * (stop - 1) + kernel]))
    return out


def _unchanged(x: torch.Tensor) -> torch.Tensor:
    return x


class ConvFeatureExtractor(nn.Module):
    def __init__(self, config: HubertConfig):
        super().__init__()
        in_channels = (1, *config.conv_channels[:-1])
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel, stride=stride, bias=config.conv_bias)
            for c_in, c_out, kernel, stride in zip(
                in_channels, config.conv_channels, config.conv_kernels, config.conv_strides, strict=True
            )
        )
        channels = config.conv_channels[0]
        self.group_norm = nn.GroupNorm(channels, channels, eps=config.layer_norm_eps)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """samples: (b, n) -> features (b, conv_channels[-1], frames)."""
        x = samples.unsqueeze(1)
        # Without autograd the convolutions run in time tiles and the activations are updated in
        # place: the first conv's output is the largest tensor of a long chunk (512 x n / 5 floats,
        # 281 MB for 45 s), and oneDNN's layout copies of whole inputs and outputs plus a copy per
        # op made the peak 2.5 times that; the later convs write into that same storage. Each
        # value comes from the same kernels on the same inputs.
        if torch.is_grad_enabled():
            for index, conv in enumerate(self.convs):
                x = conv(x)
                x = F.gelu(self.group_norm(x) if index == 0 else x)
            return x
        first, *rest = self.convs
        # the group norm needs the whole of the first conv's output before its activation
        x = torch.ops.aten.gelu_(self._group_norm_in_place(_conv_in_tiles(first, x)))
        for conv in rest:
            x = _conv_in_tiles(conv, x, torch.ops.aten.gelu_)
        # a view into the first conv's storage would keep all of it alive
        return x.contiguous()

    def _group_norm_in_place(self, x: torch.Tensor) -> torch.Tensor:
        """group_norm into x, a slab of groups at a time: each group (here one channel) is
        normalised on its own, so the slabs give the whole call's numbers."""
        norm = self.group_norm
        per_group = norm.num_channels // norm.num_groups
        step = GROUP_NORM_SLAB_GROUPS * per_group
        for start in range(0, norm.num_channels, step):
            stop = min(start + step, norm.num_channels)
            x[:, start:stop] = F.group_norm(
                x[:, start:stop],
                (stop - start) // per_group,
                norm.weight[start:stop],
                norm.bias[start:stop],
                norm.eps,
            )
        return x


class SelfAttention(nn.Module):
    """Multi-head self-attention with q, k and v in one projection (one matmul instead of three)."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (b, t, hidden) -> (b, t, hidden)."""
        b, t, hidden = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, hidden // self.num_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, hidden))


class EncoderLayer(nn.Module):
    """Post-LN transformer layer (HuBERT-base: layer_norm_first = False)."""

    def __init__(self, config: HubertConfig):
        super().__init__()
        eps = config.layer_norm_eps
        self.attention = SelfAttention(config.hidden_size, config.num_heads)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.ffn_size)
        self.ffn_out = nn.Linear(config.ffn_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.attention(x))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))


class HubertModel(nn.Module):
    """HuBERT encoder. Hidden state 0 is the encoder input after its LayerNorm; state i is the
    output of layer i (1-based), so RVC v1 reads state 9 through final_proj and v2 reads the last.

    The positional conv holds its plain weight: weight norm is folded once when the file is loaded.
    """

    def __init__(self, config: HubertConfig):
        super().__init__()
        self.config = config
        last_channels = config.conv_channels[-1]
        self.feature_extractor = ConvFeatureExtractor(config)
        self.feature_norm = nn.LayerNorm(last_channels, eps=config.layer_norm_eps)
        self.feature_projection = nn.Linear(last_channels, config.hidden_size)
        self.pos_conv = nn.Conv1d(
            config.hidden_size,
            config.hidden_size,
            config.pos_conv_kernel,
            padding=config.pos_conv_kernel // 2,
            groups=config.pos_conv_groups,
        )
        self.encoder_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))
        self.final_proj = (
            nn.Linear(config.hidden_size, config.proj_size) if config.proj_size is not None else None
        )

    def conv_features(self, samples: torch.Tensor) -> torch.Tensor:
        """samples: (b, n) at 16 kHz -> (b, conv_channels[-1], frames)."""
        if samples.dim() != 2:
            raise ValueError(f"expected samples of shape (batch, n), got {tuple(samples.shape)}")
        if samples.shape[-1] < self.config.receptive_field:
            raise ValueError(
                f"HuBERT needs at least {self.config.receptive_field} samples (one frame), "
                f"got {samples.shape[-1]}"
            )
        eps = self.config.input_norm_eps
        if eps is not None:
            mean = samples.mean(dim=-1, keepdim=True)
            var = samples.var(dim=-1, keepdim=True, unbiased=False)
            samples = (samples - mean) / torch.sqrt(var + eps)
        return self.feature_extractor(samples)

    def hidden_states(self, samples: torch.Tensor, up_to_layer: int | None = None) -> list[torch.Tensor]:
        """samples: (b, n) -> [state 0, ..., state up_to_layer], each (b, frames, hidden).

        Layers after up_to_layer (default: the last) are not run.
        """
        return list(self._states(samples, up_to_layer))

    def forward(self, samples: torch.Tensor, output_layer: int | None = None) -> torch.Tensor:
        """samples: (b, n) at 16 kHz -> hidden state of output_layer (default: last) (b, frames, hidden).
        The earlier states are dropped as the layers run (a long chunk's 13 states are 86 MB)."""
        return deque(self._states(samples, output_layer), maxlen=1)[0]

    def _states(self, samples: torch.Tensor, up_to_layer: int | None) -> Iterator[torch.Tensor]:
        """hidden_states, one state at a time."""
        last = self.config.num_layers if up_to_layer is None else up_to_layer
        if not 0 <= last <= self.config.num_layers:
            raise ValueError(
                f"layer {last} is out of range: this model has layers 0..{self.config.num_layers}"
            )
        features = self.conv_features(samples).transpose(1, 2)
        x = self.feature_projection(self.feature_norm(features))
        position = self.pos_conv(x.transpose(1, 2))
        if self.config.pos_conv_kernel % 2 == 0:
            position = position[:, :, :-1]  # an even kernel with padding k // 2 yields one extra frame
        x = self.encoder_norm(x + F.gelu(position).transpose(1, 2))
        del features, position
        yield x
        for layer in self.layers[:last]:
            x = layer(x)
            yield x

    def project(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden: (b, frames, hidden) -> final_proj(hidden) (b, frames, proj_size)."""
        if self.final_proj is None:
            raise ValueError("this HuBERT model has no final_proj (proj_size is None)")
        return self.final_proj(hidden)
