"""The normalising flow between the prior and the posterior latent: mean-only affine couplings and flips."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from timbrel.models.rvc.wavenet import WaveNet


class ResidualCoupling(nn.Module):
    """Shifts the second half of the channels by a WaveNet function of the first half."""

    def __init__(
        self, channels: int, hidden_channels: int, kernel_size: int, n_layers: int, gin_channels: int
    ):
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WaveNet(hidden_channels, kernel_size, 1, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)
        # The coupling starts as the identity.
        self.post.weight.data.zero_()
        self.post.bias.data.zero_()

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor, reverse: bool = False) -> Tensor:
        """x: (b, channels, t), x_mask: (b, 1, t), g: (b, gin, 1) -> (b, channels, t)."""
        x0, x1 = torch.split(x, [self.half_channels, self.half_channels], dim=1)
        h = self.pre(x0) * x_mask
        h = self.enc(h, x_mask, g)
        m = self.post(h) * x_mask
        x1 = (x1 - m) * x_mask if reverse else m + x1 * x_mask
        return torch.cat([x0, x1], dim=1)


class Flip(nn.Module):
    """Reverses the channel order (its own inverse)."""

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor, reverse: bool = False) -> Tensor:
        return torch.flip(x, [1])


class ResidualCouplingBlock(nn.Module):
    """flows = [coupling, flip] x n_flows, so the couplings sit at flows.0, .2, .4, ..."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        gin_channels: int,
        kernel_size: int = 5,
        n_layers: int = 3,
        n_flows: int = 4,
    ):
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(
                ResidualCoupling(channels, hidden_channels, kernel_size, n_layers, gin_channels)
            )
            self.flows.append(Flip())

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor, reverse: bool = False) -> Tensor:
        """x: (b, channels, t) -> (b, channels, t); reverse maps the prior sample to the decoder latent."""
        flows = reversed(self.flows) if reverse else self.flows
        for flow in flows:
            x = flow(x, x_mask, g, reverse=reverse)
        return x
