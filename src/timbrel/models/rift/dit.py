"""The RIFT velocity network: a Diffusion Transformer over mel frames (RIFT-SVC V3, spec 3.2).

Module and parameter names follow the RIFT-SVC checkpoints (after their `model.` prefix) so that
real files load with strict=True.

Work that does not change across sampling steps (content/pitch/loudness features, rotary tables,
the attention key-padding bias) lives in `SegmentConditioning`, built once per segment by
`DiT.condition` and reused by every `DiT.velocity` call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbrel.core.errors import ConfigError

_LN_EPS = 1e-6
_TIME_FEATURES = 256
_TIME_SCALE = 1000.0
_F0_SCALE_HZ = 1200.0
_ROPE_BASE = 10000.0

PRESETS: dict[str, tuple[int, int]] = {
    "dit-512-8": (512, 8),
    "dit-768-12": (768, 12),
    "dit-1024-16": (1024, 16),
}


@dataclass(frozen=True)
class DiTConfig:
    """Size of the velocity network. `heads = dim // head_dim`; every speaker adds `dim` parameters."""

    dim: int
    depth: int
    head_dim: int = 64
    ff_mult: int = 4
    n_mels: int = 128
    content_dim: int = 768
    kernel_size: int = 31
    num_speakers: int = 1

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "head_dim", "ff_mult", "n_mels", "content_dim", "kernel_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"DiTConfig.{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.num_speakers, int) or self.num_speakers < 1:
            raise ConfigError(f"DiTConfig.num_speakers: expected at least 1, got {self.num_speakers!r}")
        if self.dim % self.head_dim:
            raise ConfigError(f"DiTConfig: dim {self.dim} is not a multiple of head_dim {self.head_dim}")
        if self.head_dim % 2:
            raise ConfigError(f"DiTConfig.head_dim: rotary pairs need an even size, got {self.head_dim}")
        if self.kernel_size % 2 == 0:
            raise ConfigError(
                f"DiTConfig.kernel_size: 'same' padding needs an odd size, got {self.kernel_size}"
            )

    @property
    def heads(self) -> int:
        return self.dim // self.head_dim

    @classmethod
    def preset(cls, name: str, num_speakers: int = 1) -> DiTConfig:
        """One of the released sizes: dit-512-8, dit-768-12, dit-1024-16."""
        if name not in PRESETS:
            raise ConfigError(f"unknown DiT preset {name!r}; allowed: {sorted(PRESETS)}")
        dim, depth = PRESETS[name]
        return cls(dim=dim, depth=depth, num_speakers=num_speakers)

    @classmethod
    def tiny(cls, num_speakers: int = 2) -> DiTConfig:
        """A few-thousand-parameter model for tests."""
        return cls(dim=64, depth=2, head_dim=32, ff_mult=2, content_dim=32, num_speakers=num_speakers)


@dataclass(frozen=True)
class SegmentConditioning:
    """Everything the DiT derives from a segment's features, independent of time and x_t.

    features: (b, n, dim) embedded f0/rms/content; cos, sin: (n, head_dim) rotary tables;
    frame_mask: (b, n) bool, True = valid, or None when no frame is padded;
    attn_bias: (b, 1, 1, n) additive key-padding bias (0 or -inf), or None when no frame is padded.
    """

    features: Tensor
    cos: Tensor
    sin: Tensor
    frame_mask: Tensor | None
    attn_bias: Tensor | None

    @property
    def batch_size(self) -> int:
        return self.features.shape[0]


def _layer_norm(x: Tensor) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=_LN_EPS)


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """LN(no affine)(x)·(1 + scale) + shift. x: (b, n, d), shift/scale: (b, d)."""
    if shift.shape[0] == 1:
        # One modulation for the whole batch is a LayerNorm affine: one fused pass instead of two.
        return F.layer_norm(x, x.shape[-1:], 1 + scale[0], shift[0], eps=_LN_EPS)
    return torch.addcmul(shift.unsqueeze(1), _layer_norm(x), 1 + scale.unsqueeze(1))


def _rotate_pairs(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """GPT-J style rotary: each consecutive pair (a, b) -> (a·cos − b·sin, b·cos + a·sin)."""
    a, b = x.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack((-b, a), dim=-1).flatten(-2)
    return x * cos + rotated * sin


class TimeEmbedding(nn.Module):
    """t: (b,) or () -> (b, dim) or (1, dim); sinusoidal features (sin first), then an MLP."""

    def __init__(self, dim: int):
        super().__init__()
        self.time_emb = nn.Linear(_TIME_FEATURES, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, time: Tensor) -> Tensor:
        # float32 whatever the weights' dtype: sin(1000·t·f) needs more precision than half types have.
        half = _TIME_FEATURES // 2
        step = math.log(10000.0) / (half - 1)
        frequencies = torch.exp(torch.arange(half, device=time.device, dtype=torch.float32) * -step)
        arg = (_TIME_SCALE * time.reshape(-1).float()).unsqueeze(1) * frequencies.unsqueeze(0)
        features = torch.cat((arg.sin(), arg.cos()), dim=-1)
        return self.proj(F.silu(self.time_emb(features.to(self.time_emb.weight.dtype))))


class ConditionEmbedding(nn.Module):
    """f0_hz, rms: (b, n), content: (b, n, content_dim) -> (b, n, dim)."""

    def __init__(self, dim: int, content_dim: int):
        super().__init__()
        self.f0_embed = nn.Linear(1, dim)
        self.rms_embed = nn.Linear(1, dim)
        self.cvec_embed = nn.Linear(content_dim, dim)
        self.out = nn.Linear(dim, dim)
        self.ln = nn.LayerNorm(dim, eps=_LN_EPS)

    def forward(self, f0_hz: Tensor, rms: Tensor, content: Tensor) -> Tensor:
        # Raw Hz / 1200, no log: unvoiced frames (0 Hz) embed to the bias alone.
        e_f0 = self.f0_embed((f0_hz / _F0_SCALE_HZ).unsqueeze(-1))
        e_rms = self.rms_embed(rms.unsqueeze(-1))
        e_content = _layer_norm(self.cvec_embed(content))
        return self.ln(self.out(e_f0 + e_rms + e_content))


class InputEmbedding(nn.Module):
    """x_t: (b, n, n_mels), features: (b, n, dim) -> (b, n, dim), post-LayerNorm."""

    def __init__(self, n_mels: int, dim: int):
        super().__init__()
        self.mel_embed = nn.Linear(n_mels, dim)
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, x_t: Tensor, features: Tensor) -> Tensor:
        return _layer_norm(self.proj(torch.cat((self.mel_embed(x_t), features), dim=-1)))


class RotaryEmbedding(nn.Module):
    """Rotary angles for positions 0..n-1, each repeated for its interleaved channel pair."""

    def __init__(self, head_dim: int):
        super().__init__()
        inv_freq = 1.0 / (_ROPE_BASE ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)

    def angles(self, n_frames: int) -> Tensor:
        """-> (n_frames, head_dim) float32 (positions in the thousands need it)"""
        positions = torch.arange(n_frames, device=self.inv_freq.device, dtype=torch.float32)
        return torch.outer(positions, self.inv_freq.float()).repeat_interleave(2, dim=-1)


class AdaLayerNormZero(nn.Module):
    """c: (b, dim) -> six (b, dim) chunks: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp."""

    def __init__(self, dim: int, chunks: int):
        super().__init__()
        self.chunks = chunks
        self.proj = nn.Linear(dim, chunks * dim)

    def forward(self, c: Tensor) -> tuple[Tensor, ...]:
        return self.proj(F.silu(c)).chunk(self.chunks, dim=-1)


class Attention(nn.Module):
    """Rotary on head 0 only, q/k LayerNorm per head, softmax scale 1/dim (not 1/sqrt(head_dim))."""

    def __init__(self, dim: int, head_dim: int):
        super().__init__()
        self.dim = dim
        self.head_dim = head_dim
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.attn_out = nn.Linear(dim, dim)

    def _heads(self, x: Tensor, normalise: bool) -> Tensor:
        """(b, n, dim) -> (b, heads, n, head_dim)"""
        x = x.unflatten(-1, (-1, self.head_dim))
        if normalise:
            x = _layer_norm(x)
        return x.transpose(1, 2)

    def _rotary(self, x: Tensor, cond: SegmentConditioning) -> Tensor:
        """Rotate head 0 in place (x is a fresh projection output): no copy of the other heads."""
        d = self.head_dim
        x[..., :d] = _rotate_pairs(x[..., :d], cond.cos, cond.sin)
        return x

    def forward(self, x: Tensor, cond: SegmentConditioning) -> Tensor:
        """x: (b, n, dim) -> (b, n, dim), zero at padded frames."""
        q = self._heads(self._rotary(self.q_proj(x), cond), normalise=True)
        k = self._heads(self._rotary(self.k_proj(x), cond), normalise=True)
        v = self._heads(self.v_proj(x), normalise=False)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=cond.attn_bias, scale=1.0 / self.dim)
        out = self.attn_out(out.transpose(1, 2).flatten(-2))
        if cond.frame_mask is not None:
            out = out.masked_fill(~cond.frame_mask.unsqueeze(-1), 0.0)
        return out


class ConvMLP(nn.Module):
    """Depthwise conv over time (padded frames included), LayerNorm, Linear, ReLU², Linear."""

    def __init__(self, dim: int, ff_mult: int, kernel_size: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.mlp_proj = nn.Linear(dim, ff_mult * dim)
        self.mlp_out = nn.Linear(ff_mult * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """x: (b, n, dim) -> (b, n, dim)"""
        x = self._depthwise(x)
        x = self.mlp_proj(_layer_norm(x))
        x = F.relu(x, inplace=True)
        return self.mlp_out(x * x)

    def _depthwise(self, x: Tensor) -> Tensor:
        """The depthwise conv over time as a 2-D conv: (b, n, dim) memory is the channels-last layout of
        (b, dim, 1, n), so no transposed copy is made on the way in or out, and the CPU's depthwise
        kernels are faster in that layout. Same numbers as the 1-D conv."""
        conv = self.dwconv
        weight, padding = conv.weight.unsqueeze(2), (0, conv.padding[0])
        out = F.conv2d(x.transpose(1, 2).unsqueeze(2), weight, conv.bias, padding=padding, groups=conv.groups)
        return out.squeeze(2).transpose(1, 2)


class DiTBlock(nn.Module):
    def __init__(self, config: DiTConfig):
        super().__init__()
        self.attn_norm = AdaLayerNormZero(config.dim, 6)
        self.attn = Attention(config.dim, config.head_dim)
        self.mlp = ConvMLP(config.dim, config.ff_mult, config.kernel_size)

    def forward(self, h: Tensor, c: Tensor, cond: SegmentConditioning) -> Tensor:
        """h: (b, n, dim), c: (b, dim) -> (b, n, dim)"""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.attn_norm(c)
        h = torch.addcmul(h, gate_msa.unsqueeze(1), self.attn(_modulate(h, shift_msa, scale_msa), cond))
        return torch.addcmul(h, gate_mlp.unsqueeze(1), self.mlp(_modulate(h, shift_mlp, scale_mlp)))


class FinalNorm(nn.Module):
    """adaLN with chunks in the order (scale, shift), the reverse of the blocks'."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * dim)

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        scale, shift = self.proj(F.silu(c)).chunk(2, dim=-1)
        return _modulate(h, shift, scale)


def skip_set(skip_layers: int | Iterable[int] | None, depth: int) -> frozenset[int]:
    """Normalise `skip_layers` (None, one index or several) to a set of block indices in [0, depth)."""
    if skip_layers is None:
        return frozenset()
    layers = frozenset([skip_layers] if isinstance(skip_layers, int) else skip_layers)
    bad = sorted(i for i in layers if not isinstance(i, int) or not 0 <= i < depth)
    if bad:
        raise ConfigError(f"skip layers {bad} out of range; allowed: block indices 0..{depth - 1}")
    return layers


class DiT(nn.Module):
    """Velocity network: (x_t, time, speaker, segment conditioning) -> velocity in normalised-mel space."""

    def __init__(self, config: DiTConfig):
        super().__init__()
        self.config = config
        dim = config.dim
        self.spk_embed = nn.Embedding(config.num_speakers, dim)
        self.null_spk_embed = nn.Embedding(1, dim)
        self.tembed = TimeEmbedding(dim)
        self.cond_embed = ConditionEmbedding(dim, config.content_dim)
        self.input_embed = InputEmbedding(config.n_mels, dim)
        self.rotary_embed = RotaryEmbedding(config.head_dim)
        self.transformer_blocks = nn.ModuleList(DiTBlock(config) for _ in range(config.depth))
        self.norm_out = FinalNorm(dim)
        self.output = nn.Linear(dim, config.n_mels)

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """Training-from-scratch initialisation (spec 3.3): spectral normal init of linear and conv weights,
        zero biases, embeddings N(0, 1/dim), and zeroed adaLN projections and output layer."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Conv1d):
                fan_out = module.weight.shape[0]
                fan_in = module.weight[0].numel()
                std = min(1.0, math.sqrt(fan_out / fan_in)) / math.sqrt(fan_in)
                nn.init.normal_(module.weight, 0.0, std, generator=generator)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, 1 / math.sqrt(self.config.dim), generator=generator)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()
        zeroed = [block.attn_norm.proj for block in self.transformer_blocks] + [
            self.norm_out.proj,
            self.output,
        ]
        for module in zeroed:
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def freeze_adaln_and_time_embedding(self) -> None:
        """Stop training the time embedding and every adaLN projection (spec 3.4). Single-speaker fine-tuning
        keeps the null speaker meaningful this way, which speaker guidance needs."""
        frozen = [self.tembed, self.norm_out, *(block.attn_norm for block in self.transformer_blocks)]
        for module in frozen:
            module.requires_grad_(False)

    def condition(
        self, f0_hz: Tensor, rms: Tensor, content: Tensor, mask: Tensor | None = None
    ) -> SegmentConditioning:
        """f0_hz: (b, n) Hz (0 = unvoiced), rms: (b, n), content: (b, n, content_dim),
        mask: (b, n) bool (True = valid) or None -> the per-segment tables."""
        features = self.cond_embed(f0_hz, rms, content)
        angles = self.rotary_embed.angles(f0_hz.shape[1])
        frame_mask = attn_bias = None
        # An all-valid mask changes nothing, so it is dropped: attention then runs unmasked.
        if mask is not None and not bool(mask.all()):
            frame_mask = mask
            bias = torch.zeros(mask.shape, dtype=features.dtype, device=mask.device)
            attn_bias = bias.masked_fill(~mask, float("-inf"))[:, None, None, :]
        return SegmentConditioning(
            features=features,
            cos=angles.cos().to(features.dtype),
            sin=angles.sin().to(features.dtype),
            frame_mask=frame_mask,
            attn_bias=attn_bias,
        )

    def conditioning_vector(
        self, time: Tensor, speaker: Tensor, drop_speaker: bool | Tensor = False
    ) -> Tensor:
        """time: (b,) or (), speaker: (b,) long, drop_speaker: bool or (b,) bool -> c: (b, dim)"""
        speaker_vec = self.spk_embed(speaker)
        if isinstance(drop_speaker, Tensor):
            speaker_vec = torch.where(drop_speaker.unsqueeze(-1), self.null_spk_embed.weight, speaker_vec)
        elif drop_speaker:
            speaker_vec = self.null_spk_embed.weight.expand_as(speaker_vec)
        return self.tembed(time) + speaker_vec

    def embed(self, x_t: Tensor, cond: SegmentConditioning) -> Tensor:
        """x_t: (b, n, n_mels) -> h: (b, n, dim)"""
        return self.input_embed(x_t, cond.features)

    def run_blocks(
        self,
        h: Tensor,
        c: Tensor,
        cond: SegmentConditioning,
        *,
        start: int = 0,
        stop: int | None = None,
        skip: frozenset[int] = frozenset(),
    ) -> Tensor:
        """Blocks start..stop-1, leaving out those in `skip`. h: (b, n, dim), c: (b, dim)."""
        stop = self.config.depth if stop is None else stop
        for index in range(start, stop):
            if index not in skip:
                h = self.transformer_blocks[index](h, c, cond)
        return h

    def head(self, h: Tensor, c: Tensor) -> Tensor:
        """h: (b, n, dim), c: (b, dim) -> velocity (b, n, n_mels)"""
        return self.output(self.norm_out(h, c))

    def velocity(
        self,
        x_t: Tensor,
        time: Tensor,
        speaker: Tensor,
        cond: SegmentConditioning,
        drop_speaker: bool | Tensor = False,
        skip_layers: int | Iterable[int] | None = None,
    ) -> Tensor:
        """x_t: (b, n, n_mels), time: (b,) or (), speaker: (b,) long -> velocity (b, n, n_mels)"""
        c = self.conditioning_vector(time, speaker, drop_speaker)
        h = self.run_blocks(self.embed(x_t, cond), c, cond, skip=skip_set(skip_layers, self.config.depth))
        return self.head(h, c)

    def forward(
        self,
        x_t: Tensor,
        speaker: Tensor,
        f0_hz: Tensor,
        rms: Tensor,
        content: Tensor,
        time: Tensor,
        drop_speaker: bool | Tensor = False,
        mask: Tensor | None = None,
        skip_layers: int | Iterable[int] | None = None,
    ) -> Tensor:
        """x_t: (b, n, n_mels), speaker: (b,) long, f0_hz/rms: (b, n), content: (b, n, content_dim),
        time: (b,) or (), drop_speaker: bool or (b,) bool, mask: (b, n) bool or None
        -> velocity (b, n, n_mels)"""
        cond = self.condition(f0_hz, rms, content, mask)
        return self.velocity(x_t, time, speaker, cond, drop_speaker, skip_layers)
