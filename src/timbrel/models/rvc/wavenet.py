"""WN: the non-causal WaveNet stack (gated dilated convs with speaker conditioning) of VITS."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from timbrel.nn.legacy_weight_norm import WeightNormConv1d


class WaveNet(nn.Module):
    """Parameters keep the reference names: in_layers, res_skip_layers, cond_layer (all weight-normed)."""

    def __init__(
        self, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int, gin_channels: int
    ):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layer = WeightNormConv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                WeightNormConv1d(
                    hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=padding
                )
            )
            out_channels = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(WeightNormConv1d(hidden_channels, out_channels, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor) -> Tensor:
        """x: (b, hidden, t), x_mask: (b, 1, t), g: (b, gin, 1) -> (b, hidden, t)."""
        h = self.hidden_channels
        output = torch.zeros_like(x)
        g = self.cond_layer(g)
        for i, (in_layer, res_skip_layer) in enumerate(
            zip(self.in_layers, self.res_skip_layers, strict=True)
        ):
            a = in_layer(x) + g[:, 2 * h * i : 2 * h * (i + 1)]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :h]) * x_mask
                output = output + res_skip[:, h:]
            else:
                output = output + res_skip
        return output * x_mask
