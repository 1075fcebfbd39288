"""The framing and STFT magnitude shared by every spectrogram in Timbrel.

RVC's training spectrogram and RIFT's log-mel (and its RMS) use one framing: reflect-pad
(n_fft - hop_length) // 2 samples on both sides, then frames of n_fft every hop_length with
no centring, so frame i covers the hop_length samples around i * hop_length + hop_length / 2 and
a signal of n samples gives n // hop_length frames (when n_fft - hop_length is even).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def frame_padding(n_fft: int, hop_length: int) -> int:
    """Samples of reflect padding on each side."""
    return (n_fft - hop_length) // 2


def frame_count(n_samples: int, n_fft: int, hop_length: int) -> int:
    """Frames the padded framing yields for n_samples (n_samples // hop_length for the usual sizes)."""
    padded = n_samples + 2 * frame_padding(n_fft, hop_length)
    return (padded - n_fft) // hop_length + 1


def reflect_pad_for_frames(samples: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """samples: (b, n) -> (b, n + 2 * pad). Reflect padding needs n > pad."""
    if samples.dim() != 2:
        raise ValueError(f"expected samples of shape (batch, n), got {tuple(samples.shape)}")
    pad = frame_padding(n_fft, hop_length)
    if samples.shape[-1] <= pad:
        raise ValueError(
            f"signal of {samples.shape[-1]} samples is too short: reflect padding by {pad} "
            f"needs more than {pad} samples"
        )
    return F.pad(samples.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)


def stft_magnitude(
    samples: torch.Tensor,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    magnitude_eps: float,
) -> torch.Tensor:
    """samples: (b, n) -> magnitude (b, n_fft // 2 + 1, frames) = sqrt(re² + im² + magnitude_eps).

    window: (win_length,); shorter windows are zero-padded to n_fft in the middle, as torch.stft does.
    """
    padded = reflect_pad_for_frames(samples, n_fft, hop_length)
    spectrum = torch.stft(
        padded,
        n_fft,
        hop_length=hop_length,
        win_length=window.shape[0],
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    power = spectrum.real.square() + spectrum.imag.square()
    return torch.sqrt(power + magnitude_eps)


def log_mel(magnitude: torch.Tensor, mel_basis: torch.Tensor, log_floor: float) -> torch.Tensor:
    """magnitude: (b, n_freq, t), mel_basis: (n_mels, n_freq) -> ln(max(mel, log_floor)) (b, n_mels, t)."""
    return torch.log(torch.clamp(torch.matmul(mel_basis, magnitude), min=log_floor))
