"""The prior (text) encoder enc_p: content + coarse pitch -> prior mean and log-scale per frame."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from timbrel.models.rvc.attention import RelativeSelfAttention


def sequence_mask(lengths: Tensor, max_length: int) -> Tensor:
    """lengths: (b,) -> (b, max_length) bool, True inside each sequence."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channel axis of (b, channels, t); parameters named gamma/beta."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.transpose(1, -1), self.gamma.shape, self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class FeedForward(nn.Module):
    """conv (kernel k, 'same') -> ReLU -> conv, inputs masked before each conv."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.padding = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """x: (b, channels, t), x_mask: (b, 1, t) -> (b, channels, t)."""
        x = self.conv_1(F.pad(x * x_mask, self.padding))
        x = torch.relu(x)
        x = self.conv_2(F.pad(x * x_mask, self.padding))
        return x * x_mask


class Encoder(nn.Module):
    """Post-norm transformer: attention and FFN sub-layers, each followed by a channel layer norm."""

    def __init__(
        self, hidden_channels: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int
    ):
        super().__init__()
        self.attn_layers = nn.ModuleList(
            RelativeSelfAttention(hidden_channels, n_heads) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FeedForward(hidden_channels, filter_channels, kernel_size) for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(ChannelLayerNorm(hidden_channels) for _ in range(n_layers))

    def forward(self, x: Tensor, x_mask: Tensor, key_mask: Tensor | None) -> Tensor:
        """x: (b, hidden, t), x_mask: (b, 1, t), key_mask: (b, t) bool or None when unpadded."""
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + attn(x, key_mask))
            x = norm_2(x + ffn(x, x_mask))
        return x * x_mask


class TextEncoder(nn.Module):
    """enc_p. Parameters: emb_phone, emb_pitch (f0 models), encoder, proj."""

    def __init__(
        self,
        content_dim: int,
        inter_channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        use_f0: bool,
    ):
        super().__init__()
        self.inter_channels = inter_channels
        self.hidden_channels = hidden_channels
        self.emb_phone = nn.Linear(content_dim, hidden_channels)
        self.emb_pitch = nn.Embedding(256, hidden_channels) if use_f0 else None
        self.encoder = Encoder(hidden_channels, filter_channels, n_heads, n_layers, kernel_size)
        self.proj = nn.Conv1d(hidden_channels, inter_channels * 2, 1)

    def forward(
        self, content: Tensor, pitch: Tensor | None, lengths: Tensor, skip_head: int = 0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """content: (b, t, content_dim), pitch: (b, t) coarse 1..255 or None, lengths: (b,)
        -> m_p, logs_p: (b, inter, t - skip_head), x_mask: (b, 1, t - skip_head).

        The encoder always sees all t frames; ``skip_head`` only drops leading outputs.
        """
        x = self.emb_phone(content)
        if self.emb_pitch is not None:
            if pitch is None:
                raise ValueError("this synthesizer uses pitch: pass the coarse pitch (b, t)")
            x = x + self.emb_pitch(pitch)
        x = x * math.sqrt(self.hidden_channels)
        x = F.leaky_relu(x, 0.1).transpose(1, -1)
        t = x.shape[-1]
        valid = sequence_mask(lengths, t)
        x_mask = valid[:, None, :].to(x.dtype)
        # An exported graph cannot branch on the lengths, so it always masks (a no-op when unpadded).
        unpadded = not torch.onnx.is_in_onnx_export() and bool((lengths >= t).all())
        key_mask = None if unpadded else valid
        x = self.encoder(x * x_mask, x_mask, key_mask)
        if skip_head:
            x = x[:, :, skip_head:]
            x_mask = x_mask[:, :, skip_head:]
        stats = self.proj(x) * x_mask
        m_p, logs_p = torch.split(stats, self.inter_channels, dim=1)
        return m_p, logs_p, x_mask
