"""Models for testing the streaming engine's plumbing apart from what a voice model does.

Real content encoders are not local (HuBERT's first conv is normalised over the whole input and
the prior encoder attends to every frame), so their streamed output cannot equal the offline one:
these stand-ins keep the production classes where they can and make everything else local.

* ``FramingContent`` + ``IdentitySynthesizer``: content frame j is 16 kHz samples
  [320 j, 320 j + 320) and the synthesizer puts frame m's half back, so the voice "converts" by
  passing its input through at 16 kHz: the engine's buffering, resampling and joins alone decide
  where each input sample comes out.
* ``LocalContent`` + ``local_synthesizer``: a strided conv with HuBERT's framing (400-sample
  field, hop 320) and the real Synthesizer without attention layers: a model with a finite
  receptive field, so away from the window's edges streaming and offline see the same inputs.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import torch
from torch import nn

from timbrel.features.content.hubert import HubertConfig
from timbrel.models.rvc.config import SynthesizerConfig
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.models.rvc.synthesizer import SynthesisTrace, Synthesizer

HOP = 320
FIELD = HubertConfig().receptive_field


class FramingContent(nn.Module):
    """samples (b, n) -> (b, (n - 400) // 320 + 1, 320): frame j holds samples [320 j, 320 j + 320)."""

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        frames = (samples.shape[-1] - FIELD) // HOP + 1
        return samples[:, : frames * HOP].reshape(samples.shape[0], frames, HOP)


class IdentitySynthesizer(nn.Module):
    """The realtime form of a 16 kHz 'synthesizer' whose output frame m is the input's 10 ms
    frame m (both halves of a 20 ms content frame appear twice after the ×2 repeat)."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # carries the device
        self.config = SimpleNamespace(use_f0=False, version="v2", n_speakers=1, sample_rate=16000)
        self.sample_rate = 16000

    def infer(self, content, content_lengths, pitch, f0_hz, speaker, *, skip_head=0, return_length=None, **_):
        frames = torch.arange(skip_head, skip_head + return_length)
        halves = content[0, frames].reshape(return_length, 2, HOP // 2)
        audio = halves[torch.arange(return_length), frames % 2].reshape(1, 1, -1)
        return SynthesisTrace(*(None,) * 7, audio)


class LocalContent(nn.Module):
    """A random strided conv with HuBERT's framing -> (b, frames, dim); each frame sees 400 samples."""

    def __init__(self, dim: int = 768, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(1, dim, FIELD, stride=HOP)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(samples[:, None])).transpose(1, 2)


def local_synthesizer(use_f0: bool, seed: int = 0) -> Synthesizer:
    """The tiny production synthesizer without attention layers, seeded random weights, eval mode."""
    torch.manual_seed(seed)
    config = dataclasses.replace(SynthesizerConfig.tiny(use_f0=use_f0), n_layers=0)
    synthesizer = Synthesizer(config, with_posterior=False).eval()
    with torch.no_grad():  # zero biases, wide weights: an output that follows its input, not a DC level
        for name, parameter in synthesizer.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            elif not name.endswith("weight_g"):
                parameter.normal_(0, 0.5)
    return synthesizer


def identity_voice() -> RVCVoice:
    return RVCVoice(IdentitySynthesizer(), FramingContent(), None)
