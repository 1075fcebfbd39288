"""RVC's content features: HuBERT layer 9 through final_proj (v1, 256-d) or the last layer (v2,
768-d), at 50 frames/s, then every frame repeated twice for the synthesizer's 100 frames/s.

Retrieval blending happens between the two steps (at 50 frames/s), so they are separate functions.
"""

from __future__ import annotations

from typing import Literal

import torch

from timbrel.features.content.hubert import HubertModel

RVCVersion = Literal["v1", "v2"]

V1_LAYER = 9


def rvc_content(model: HubertModel, samples_16k: torch.Tensor, version: RVCVersion) -> torch.Tensor:
    """samples_16k: (b, n) -> content (b, frames, 256 | 768) at 50 frames/s.

    frames = model.config.frame_count(n). v1 runs only the first 9 layers; v2 runs them all (a model
    without layers gives the encoder input).
    """
    if version == "v1":
        return model.project(model(samples_16k, output_layer=V1_LAYER))
    if version == "v2":
        return model(samples_16k)
    raise ValueError(f"unknown RVC version {version!r}; expected 'v1' or 'v2'")


def repeat_to_synth_rate(content: torch.Tensor) -> torch.Tensor:
    """content: (b, frames, d) at 50 frames/s -> (b, 2 * frames, d) at 100 frames/s (nearest ×2)."""
    return content.repeat_interleave(2, dim=1)
