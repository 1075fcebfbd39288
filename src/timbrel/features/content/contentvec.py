"""ContentVec as RIFT-SVC uses it: the last hidden state (768-d, 50 frames/s, final_proj unused),
linearly aligned to the 44.1 kHz mel frames.

Training features (prepare_cvec) run the model on the waveform and on the waveform advanced by
half a frame (160 samples), and interleave the two to 100 frames/s; inference runs it once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from timbrel.features.content.hubert import HubertModel

HALF_FRAME_SAMPLES = 160


def shift_left(samples: torch.Tensor, shift: int) -> torch.Tensor:
    """samples: (..., n) -> (..., n) moved `shift` samples earlier, the last `shift` samples zero."""
    shifted = torch.zeros_like(samples)
    shifted[..., : samples.shape[-1] - shift] = samples[..., shift:]
    return shifted


def interleave_passes(plain: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    """plain, shifted: (..., frames, d) -> (..., 2 * frames, d) ordered p0, s0, p1, s1, ..."""
    return torch.stack((plain, shifted), dim=-2).flatten(-3, -2)


def contentvec_content(model: HubertModel, samples_16k: torch.Tensor) -> torch.Tensor:
    """Inference features. samples_16k: (b, n) -> (b, frames, hidden) at 50 frames/s."""
    return model(samples_16k)


def contentvec_train_content(model: HubertModel, samples_16k: torch.Tensor) -> torch.Tensor:
    """Training features (the .cvec.pt content). samples_16k: (n,) -> (2 * frames, hidden) at 100 frames/s.

    The plain and shifted passes run as one batch of two.
    """
    if samples_16k.dim() != 1:
        raise ValueError(f"expected one waveform of shape (n,), got {tuple(samples_16k.shape)}")
    batch = torch.stack((samples_16k, shift_left(samples_16k, HALF_FRAME_SAMPLES)))
    plain, shifted = model(batch)
    return interleave_passes(plain, shifted)


def align_to_frames(content: torch.Tensor, n_frames: int) -> torch.Tensor:
    """content: (frames, d) or (b, frames, d) -> (n_frames, d) or (b, n_frames, d), linear interpolation
    in time with the first and last frames kept at the ends (align_corners=True)."""
    batched = content if content.dim() == 3 else content.unsqueeze(0)
    aligned = F.interpolate(batched.transpose(1, 2), size=n_frames, mode="linear", align_corners=True)
    aligned = aligned.transpose(1, 2)
    return aligned if content.dim() == 3 else aligned.squeeze(0)
