"""The output loudness envelope mix of RVC conversion (the reference's ``change_rms``, rms_mix_rate).

rate 1 keeps the synthesized loudness, rate 0 imposes the input's RMS envelope on the output.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

MIN_OUTPUT_RMS = 1e-6
# Long conversions: envelopes reduce this many frames at a time and gains are applied in blocks of
# this many samples, so no temporary is as long as the signal (10 minutes at 40 kHz: 96 MB each). A
# power of two: every block starts on a vector boundary, so the result is the one-block result.
ENVELOPE_SLAB_FRAMES = 64
GAIN_BLOCK_SAMPLES = 1 << 20


def rms_envelope(samples: Tensor, frame_length: int, hop_length: int) -> Tensor:
    """samples: (n,) -> RMS per frame, (1 + n // hop_length,) for an even frame_length.

    Frames are centred on k·hop_length, with zeros beyond the ends, as in
    ``librosa.feature.rms(center=True, pad_mode="constant")``.
    """
    padded = F.pad(samples, (frame_length // 2, frame_length // 2))
    frames = padded.unfold(0, frame_length, hop_length)
    return torch.cat(
        [torch.sqrt(torch.mean(slab * slab, dim=-1)) for slab in frames.split(ENVELOPE_SLAB_FRAMES)]
    )


def linear_resize_block(values: Tensor, size: int, start: int, stop: int) -> Tensor:
    """``F.interpolate(values[None, None], size, mode="linear")[0, 0, start:stop]`` without the
    size-long result: torch's rule for align_corners=False (source index in the values' dtype)."""
    last = values.shape[0] - 1
    scale = torch.tensor(values.shape[0], dtype=values.dtype) / size
    position = torch.arange(start, stop).to(values.dtype).add_(0.5).mul_(scale).sub_(0.5).clamp_(min=0)
    left = position.floor().long().clamp_(max=last)
    weight = (position - left).clamp_(0, 1)
    right = torch.where(left < last, left + 1, left)
    return values[left] * (1 - weight) + values[right] * weight


def mix_rms(
    source: Tensor, source_rate: int, output: Tensor, output_rate: int, rms_mix_rate: float
) -> Tensor:
    """source: (n_in,) input audio at source_rate, output: (n_out,) converted audio -> output,
    scaled in place (as the reference scales its array).

    Both envelopes use half-second frames (frame sr//2·2, hop sr//2), are resized linearly to
    n_out samples, and the output is scaled by rms_in^(1 - rate) · rms_out^(rate - 1), with the
    output RMS floored at 1e-6.
    """
    if not 0.0 <= rms_mix_rate <= 1.0:
        raise ValueError(f"rms_mix_rate {rms_mix_rate} is outside [0, 1]")
    n_out = output.shape[-1]
    rms_in = rms_envelope(source, source_rate // 2 * 2, source_rate // 2)
    rms_out = rms_envelope(output, output_rate // 2 * 2, output_rate // 2)
    exponent_in = torch.tensor(1 - rms_mix_rate, dtype=output.dtype)
    exponent_out = torch.tensor(rms_mix_rate - 1, dtype=output.dtype)
    for start in range(0, n_out, GAIN_BLOCK_SAMPLES):
        stop = min(start + GAIN_BLOCK_SAMPLES, n_out)
        level_in = linear_resize_block(rms_in, n_out, start, stop)
        level_out = linear_resize_block(rms_out, n_out, start, stop).clamp_(min=MIN_OUTPUT_RMS)
        output[start:stop].mul_(torch.pow(level_in, exponent_in).mul_(torch.pow(level_out, exponent_out)))
    return output


def mix_rms_realtime(
    source: Tensor,
    output: Tensor,
    frame_length: int,
    hop_length: int,
    rms_mix_rate: float,
    min_output_rms: float,
) -> Tensor:
    """The realtime path's rule: source (n_in >= n_out,) input at the output's rate, output
    (n_out,) -> (n_out,).

    Envelopes over the first n_out samples with short frames (the reference: 4 and 1 ten-ms
    frames), resized to n_out + 1 points with align_corners=True and the last dropped; the output
    RMS is floored at ``min_output_rms`` and the gain is (rms_in / rms_out)^(1 - rate).
    """
    if not 0.0 <= rms_mix_rate <= 1.0:
        raise ValueError(f"rms_mix_rate {rms_mix_rate} is outside [0, 1]")
    n_out = output.shape[-1]

    def envelope(samples: Tensor) -> Tensor:
        rms = rms_envelope(samples, frame_length, hop_length)
        return F.interpolate(rms[None, None], size=n_out + 1, mode="linear", align_corners=True)[0, 0, :-1]

    rms_in = envelope(source[:n_out])
    rms_out = torch.clamp(envelope(output), min=min_output_rms)
    return output * torch.pow(rms_in / rms_out, torch.tensor(1 - rms_mix_rate, dtype=output.dtype))
