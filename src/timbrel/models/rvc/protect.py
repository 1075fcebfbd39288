"""Consonant protection: keep un-retrieved content features where the frame is unvoiced."""

from __future__ import annotations

import torch
from torch import Tensor


def protect_unvoiced(features: Tensor, features_unretrieved: Tensor, f0_hz: Tensor, protect: float) -> Tensor:
    """features, features_unretrieved: (b, t, dim) at the synthesizer's frame rate, f0_hz: (b, t)
    -> (b, t, dim) = features·m + features_unretrieved·(1 - m), m = protect where f0 < 1 Hz, else 1.

    The reference applies it only when protect < 0.5 (0.5 means off) and the model uses f0.
    With the interpolated f0 of this reference generation f0 is rarely below 1 Hz, so the mix
    seldom acts; with a 0-for-unvoiced f0 (the classic RVC) it softens breaths and consonants.
    """
    if not 0.0 <= protect <= 0.5:
        raise ValueError(f"protect {protect} is outside [0, 0.5]")
    if protect == 0.5:
        return features
    weight = torch.where(
        f0_hz < 1, torch.tensor(protect, dtype=features.dtype), torch.tensor(1.0, dtype=features.dtype)
    )
    weight = weight.unsqueeze(-1)
    return (features * weight + features_unretrieved * (1 - weight)).to(features_unretrieved.dtype)
