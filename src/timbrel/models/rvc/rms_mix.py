"""The output loudness envelope mix of RVC conversion (the reference's ``change_rms``, rms_mix_rate).

rate 1 keeps the synthesized loudness, rate 0 imposes the input's RMS envelope on the output.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

MIN_OUTPUT_RMS = 1e-6


def rms_envelope(samples: Tensor, frame_length: int, hop_length: int) -> Tensor:
    """samples: (n,) -> RMS per frame, (1 + n // hop_length,) for an even frame_length.

    Frames are centred on k·hop_length, with zeros beyond the ends, as in
    ``librosa.feature.rms(center=True, pad_mode="constant")``.
    """
    padded = F.pad(samples, (frame_length // 2, frame_length // 2))
    frames = padded.unfold(0, frame_length, hop_length)
    return torch.sqrt(torch.mean(frames * frames, dim=-1))


def mix_rms(
    source: Tensor, source_rate: int, output: Tensor, output_rate: int, rms_mix_rate: float
) -> Tensor:
    """source: (n_in,) input audio at source_rate, output: (n_out,) converted audio -> (n_out,).

    Both envelopes use half-second frames (frame sr//2·2, hop sr//2), are resized linearly to
    n_out samples, and the output is scaled by rms_in^(1 - rate) · rms_out^(rate - 1), with the
    output RMS floored at 1e-6.
    """
    if not 0.0 <= rms_mix_rate <= 1.0:
        raise ValueError(f"rms_mix_rate {rms_mix_rate} is outside [0, 1]")
    n_out = output.shape[-1]

    def envelope(samples: Tensor, sample_rate: int) -> Tensor:
        rms = rms_envelope(samples, sample_rate // 2 * 2, sample_rate // 2)
        return F.interpolate(rms[None, None], size=n_out, mode="linear")[0, 0]

    rms_in = envelope(source, source_rate)
    rms_out = torch.clamp(envelope(output, output_rate), min=MIN_OUTPUT_RMS)
    exponent = torch.tensor(1 - rms_mix_rate, dtype=output.dtype)
    gain = torch.pow(rms_in, exponent) * torch.pow(
        rms_out, torch.tensor(rms_mix_rate - 1, dtype=output.dtype)
    )
    return output * gain


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
