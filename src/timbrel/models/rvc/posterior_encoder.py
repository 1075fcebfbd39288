"""enc_q: the posterior encoder over linear spectrograms (training only; exported models drop it)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from timbrel.models.rvc.text_encoder import sequence_mask
from timbrel.models.rvc.wavenet import WaveNet


class PosteriorEncoder(nn.Module):
    def __init__(
        self,
        spec_channels: int,
        inter_channels: int,
        hidden_channels: int,
        gin_channels: int,
        kernel_size: int = 5,
        n_layers: int = 16,
    ):
        super().__init__()
        self.inter_channels = inter_channels
        self.pre = nn.Conv1d(spec_channels, hidden_channels, 1)
        self.enc = WaveNet(hidden_channels, kernel_size, 1, n_layers, gin_channels)
        self.proj = nn.Conv1d(hidden_channels, inter_channels * 2, 1)

    def forward(
        self, spec: Tensor, lengths: Tensor, g: Tensor, noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """spec: (b, spec_channels, t), lengths: (b,), g: (b, gin, 1), noise: (b, inter, t) or None (zeros)
        -> z, m_q, logs_q: (b, inter, t), y_mask: (b, 1, t)."""
        y_mask = sequence_mask(lengths, spec.shape[-1])[:, None, :].to(spec.dtype)
        x = self.pre(spec) * y_mask
        x = self.enc(x, y_mask, g)
        stats = self.proj(x) * y_mask
        m_q, logs_q = torch.split(stats, self.inter_channels, dim=1)
        z = m_q if noise is None else m_q + noise * torch.exp(logs_q)
        return z * y_mask, m_q, logs_q, y_mask
