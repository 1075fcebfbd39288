"""Band-limited resampling with a Hann-windowed sinc, as torchaudio computes it.

RIFT-SVC resamples with torchaudio (lowpass_filter_width 6 by default, 128 inside RMVPE); to
reproduce its features the same filter is needed, not soxr. The rates are reduced by their gcd;
each of the ``new`` output phases has its own kernel of 2·width + orig taps, applied as one
strided convolution.

torchaudio builds the kernel in two precisions, and the outputs differ by ~1e-6:
``functional.resample`` in the waveform's float32 ("functional"), ``transforms.Resample`` mostly
in float64 from float32 output phases ("transform", what RMVPE's resampler is).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

ROLLOFF = 0.99
KernelPrecision = Literal["functional", "transform"]


@lru_cache(maxsize=8)
def _kernel(
    orig: int, new: int, lowpass_filter_width: int, rolloff: float, precision: KernelPrecision
) -> tuple[Tensor, int]:
    """(new, 1, 2·width + orig) float32 kernels, and width."""
    offsets_dtype = torch.float32 if precision == "functional" else torch.float64
    base_hz = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_hz)
    offsets = torch.arange(-width, width + orig, dtype=offsets_dtype)[None, None] / orig
    phases = torch.arange(0, -new, -1, dtype=torch.float32)[:, None, None] / new
    t = ((phases + offsets) * base_hz).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones((), dtype=t.dtype), torch.sin(t) / t)
    return (sinc * (window * (base_hz / orig))).to(torch.float32), width


def sinc_resample(
    samples: Tensor,
    from_rate: int,
    to_rate: int,
    lowpass_filter_width: int = 6,
    rolloff: float = ROLLOFF,
    precision: KernelPrecision = "functional",
) -> Tensor:
    """samples: (..., n) float32 -> (..., ceil(n · to_rate / from_rate)) float32."""
    if from_rate == to_rate:
        return samples
    divisor = math.gcd(from_rate, to_rate)
    orig, new = from_rate // divisor, to_rate // divisor
    kernel, width = _kernel(orig, new, lowpass_filter_width, rolloff, precision)
    shape = samples.shape
    flat = samples.reshape(-1, 1, shape[-1])
    padded = F.pad(flat, (width, width + orig))
    phases = F.conv1d(padded, kernel.to(device=samples.device, dtype=samples.dtype), stride=orig)
    out = phases.transpose(1, 2).reshape(flat.shape[0], -1)
    n_out = math.ceil(new * shape[-1] / orig)
    return out[:, :n_out].reshape(*shape[:-1], n_out)
