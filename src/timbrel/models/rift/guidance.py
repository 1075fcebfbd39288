"""Classifier-free guidance for RIFT (spec 4.5, 4.6): downsampled-content, speaker and skip-layer guidance
with std rescaling, combined in the reference order.

Two interchangeable velocity functions, both built once per segment (conditioning precomputed):
`GuidedVelocity` runs the conditional, downsampled-content and null-speaker branches as one batched
forward and starts the skip-layer branch from the conditional branch's hidden state before the first
skipped block (those blocks see the same input); `SequentialGuidedVelocity` runs one forward per
branch, as the reference's skip branch does, with the least memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from timbrel.core.errors import ConfigError
from timbrel.models.rift.dit import DiT, skip_set

ACTIVE = 1e-5  # strengths at or below this are off


@dataclass(frozen=True)
class Guidance:
    """Guidance strengths. ds: push away from the downsampled-content prediction; speaker: away from the
    null speaker; skip: away from the prediction with `skip_layers` left out; rescale: blend towards the
    conditional prediction's std (only when some guidance is on)."""

    ds_strength: float = 0.0
    speaker_strength: float = 0.0
    skip_strength: float = 0.0
    skip_layers: tuple[int, ...] = ()
    rescale: float = 0.7

    def __post_init__(self) -> None:
        if self.skip_on and not self.skip_layers:
            raise ConfigError("skip-layer guidance is on (skip_strength > 0) but skip_layers is empty")

    @property
    def ds_on(self) -> bool:
        return self.ds_strength > ACTIVE

    @property
    def speaker_on(self) -> bool:
        return self.speaker_strength > ACTIVE

    @property
    def skip_on(self) -> bool:
        return self.skip_strength > ACTIVE

    @property
    def any_on(self) -> bool:
        return self.ds_on or self.speaker_on or self.skip_on

    @property
    def rescale_on(self) -> bool:
        return self.rescale > ACTIVE and self.any_on


def combine(
    guidance: Guidance,
    p_cond: Tensor,
    p_ds: Tensor | None = None,
    p_null: Tensor | None = None,
    p_skip: Tensor | None = None,
) -> Tensor:
    """Apply the active guidance terms in the reference order, each to the already-updated p, then rescale.
    All predictions (b, n, n_mels) -> (b, n, n_mels). The std is global over the batch, padding included."""
    p = p_cond
    if guidance.ds_on:
        p = p + guidance.ds_strength * (p - p_ds)
    if guidance.speaker_on:
        p = p + guidance.speaker_strength * (p - p_null)
    if guidance.skip_on:
        p = p + guidance.skip_strength * (p - p_skip)
    if guidance.rescale_on:
        r = guidance.rescale
        p = r * (p * (p_cond.std() / p.std())) + (1 - r) * p
    return p


def downsampled_content(content: Tensor, rate: int, n_frames: int | None = None) -> Tensor:
    """The negative content vector of one segment (spec 4.6): halve, squeeze to len/rate frames, stretch to
    n_frames (default: the input length). infer.py (extract_features) and the dataset both start from the
    content already aligned to the mel frames.
    content: (n, d) valid frames only -> (n_frames, d)."""
    if not isinstance(rate, int) or rate < 1:
        raise ConfigError(f"content downsample rate must be a positive integer, got {rate!r}")
    halved = content[::2]
    squeezed = _resize(halved, halved.shape[0] // rate)
    return _resize(squeezed, content.shape[0] if n_frames is None else n_frames)


def _resize(x: Tensor, n_frames: int) -> Tensor:
    """(n, d) -> (n_frames, d), linear along time with align_corners=True."""
    if n_frames < 1:
        raise ConfigError(f"content of {x.shape[0]} frames is too short to downsample to {n_frames} frames")
    return F.interpolate(x.T.unsqueeze(0), size=n_frames, mode="linear", align_corners=True)[0].T


def _check(guidance: Guidance, bad_content: Tensor | None, depth: int) -> frozenset[int]:
    if guidance.ds_on and bad_content is None:
        raise ConfigError("ds guidance is on (ds_strength > 0) but no downsampled content was given")
    return skip_set(guidance.skip_layers, depth) if guidance.skip_on else frozenset()


class SequentialGuidedVelocity:
    """v(t, y) with one DiT forward per active branch. speaker: (b,) long, f0_hz/rms: (b, n),
    content/bad_content: (b, n, content_dim), mask: (b, n) bool or None."""

    def __init__(
        self,
        dit: DiT,
        speaker: Tensor,
        f0_hz: Tensor,
        rms: Tensor,
        content: Tensor,
        guidance: Guidance,
        mask: Tensor | None = None,
        bad_content: Tensor | None = None,
    ):
        self.dit, self.speaker, self.guidance = dit, speaker, guidance
        self.skip = _check(guidance, bad_content, dit.config.depth)
        self.cond = dit.condition(f0_hz, rms, content, mask)
        self.bad_cond = dit.condition(f0_hz, rms, bad_content, mask) if guidance.ds_on else None

    def __call__(self, t: Tensor, y: Tensor) -> Tensor:
        g, dit = self.guidance, self.dit
        p_cond = dit.velocity(y, t, self.speaker, self.cond)
        p_ds = dit.velocity(y, t, self.speaker, self.bad_cond) if g.ds_on else None
        p_null = dit.velocity(y, t, self.speaker, self.cond, drop_speaker=True) if g.speaker_on else None
        p_skip = dit.velocity(y, t, self.speaker, self.cond, skip_layers=self.skip) if g.skip_on else None
        return combine(g, p_cond, p_ds, p_null, p_skip)


class GuidedVelocity:
    """v(t, y) with the conditional, ds and null-speaker branches as one batched forward (branch-major:
    [cond; ds; null]) and the skip branch resumed from the conditional hidden state. Same arguments and
    result as `SequentialGuidedVelocity`."""

    def __init__(
        self,
        dit: DiT,
        speaker: Tensor,
        f0_hz: Tensor,
        rms: Tensor,
        content: Tensor,
        guidance: Guidance,
        mask: Tensor | None = None,
        bad_content: Tensor | None = None,
    ):
        self.dit, self.guidance = dit, guidance
        self.skip = _check(guidance, bad_content, dit.config.depth)
        self.first_skipped = min(self.skip) if self.skip else dit.config.depth
        contents: list[Tensor] = [content]
        drops = [False]
        if guidance.ds_on:
            contents.append(bad_content)
            drops.append(False)
        if guidance.speaker_on:
            contents.append(content)
            drops.append(True)
        self.branches = len(contents)
        b = speaker.shape[0]
        self.speaker = speaker.repeat(self.branches)
        self.drop_speaker = torch.tensor(drops, device=speaker.device).repeat_interleave(b)
        self.cond = dit.condition(
            f0_hz.repeat(self.branches, 1),
            rms.repeat(self.branches, 1),
            torch.cat(contents),
            None if mask is None else mask.repeat(self.branches, 1),
        )
        self.cond_single = dit.condition(f0_hz, rms, content, mask) if self.skip else None

    def __call__(self, t: Tensor, y: Tensor) -> Tensor:
        dit, b = self.dit, y.shape[0]
        c = dit.conditioning_vector(t, self.speaker, self.drop_speaker)
        h = dit.embed(y.repeat(self.branches, 1, 1), self.cond)
        h = dit.run_blocks(h, c, self.cond, stop=self.first_skipped)
        p_skip = None
        if self.skip:
            h_skip = dit.run_blocks(h[:b], c[:b], self.cond_single, start=self.first_skipped, skip=self.skip)
            p_skip = dit.head(h_skip, c[:b])
        h = dit.run_blocks(h, c, self.cond, start=self.first_skipped)
        predictions: Sequence[Tensor] = dit.head(h, c).split(b)
        p_cond = predictions[0]
        p_ds = predictions[1] if self.guidance.ds_on else None
        p_null = predictions[-1] if self.guidance.speaker_on else None
        return combine(self.guidance, p_cond, p_ds, p_null, p_skip)
