"""The harmonic-plus-noise excitation of RVC's NSF decoder (reference: SineGen + SourceModuleHnNSF).

Only the fundamental is generated (harmonic_num 0), so the reference's random initial phase,
which it zeroes for the fundamental, never matters and is not drawn here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class SineSource(nn.Module):
    """f0 per frame -> tanh(l_linear(sine + noise)) per sample. Parameter: l_linear (Linear(1, 1))."""

    def __init__(
        self,
        sample_rate: int,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold_hz: float = 0.0,
    ):
        super().__init__()
        self.sample_rate = sample_rate
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold_hz = voiced_threshold_hz
        self.l_linear = nn.Linear(1, 1)

    def forward(
        self,
        f0_hz: Tensor,
        upsample_factor: int,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """f0_hz: (b, t) -> har_source (b, 1, t * upsample_factor).

        noise: (b, t * upsample_factor) standard normal draws; when None they are drawn from
        ``generator``, or zeros without one (the clean sine in voiced frames, 0 elsewhere).
        """
        sine = self.excitation(f0_hz, upsample_factor, noise, generator)
        return torch.tanh(self.l_linear(sine[..., None])).transpose(1, 2)

    def excitation(
        self,
        f0_hz: Tensor,
        upsample_factor: int,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """f0_hz: (b, t) -> sine * uv + noise, (b, t * upsample_factor)."""
        upp = upsample_factor
        rad = (f0_hz / self.sample_rate) % 1
        # The phase is accumulated per frame and interpolated so that frame-to-frame f0 changes
        # do not introduce phase jumps; the wrap points of that interpolated phase mark where a
        # whole cycle is removed from the per-sample running sum, keeping it small.
        phase = _running_sum(rad) * upp
        phase = F.interpolate(phase[:, None], scale_factor=float(upp), mode="linear", align_corners=True)[
            :, 0
        ]
        phase = phase % 1
        rad = rad.repeat_interleave(upp, dim=1)
        shift = torch.zeros_like(rad)
        shift[:, 1:] = ((phase[:, 1:] - phase[:, :-1]) < 0) * -1.0
        sine = torch.sin(_running_sum(rad + shift) * 2 * math.pi) * self.sine_amp
        uv = (f0_hz > self.voiced_threshold_hz).to(sine.dtype).repeat_interleave(upp, dim=1)
        if noise is None:
            if generator is None:
                return sine * uv
            noise = torch.randn(sine.shape, generator=generator, device=sine.device, dtype=sine.dtype)
        noise_amp = uv * self.noise_std + (1 - uv) * self.sine_amp / 3
        return sine * uv + noise_amp * noise


def _running_sum(x: Tensor) -> Tensor:
    """cumsum over dim 1. torch's CPU kernel adds in float64 whatever the dtype; ONNX's CumSum adds
    in the tensor's own type, and over a song's samples that drifts by 1e-4 of a cycle, so an
    exported graph asks for float64."""
    if torch.onnx.is_in_onnx_export():
        return torch.cumsum(x.double(), dim=1).to(x.dtype)
    return torch.cumsum(x, dim=1)
