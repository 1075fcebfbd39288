"""Speaker similarity: cosine similarity between the speaker embedding of a converted clip and
that of the target speaker, the mean of the embeddings of the reference clips (unit vectors
averaged and renormalised, as Resemblyzer's ``embed_speaker`` does). 1 is the same voice;
Resemblyzer places different speakers at about 0.5-0.8 and the same one above about 0.8.

Any encoder that maps 1-D samples at its own rate to an embedding vector fits
``SpeakerEncoder``; ``ResemblyzerEncoder`` is the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from timbrel.features import voice_encoder
from timbrel.features.voice_encoder import VoiceEncoder
from timbrel.weights.resemblyzer import load_voice_encoder


class SpeakerEncoder(Protocol):
    name: str
    sample_rate: int

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """samples: (n,) float32 at sample_rate -> (d,) embedding."""
        ...


class ResemblyzerEncoder:
    """Resemblyzer's GE2E encoder: level raised to -30 dBFS, long silences removed, then embedded."""

    name = "resemblyzer"
    sample_rate = voice_encoder.SAMPLE_RATE

    def __init__(self, network: VoiceEncoder):
        self.network = network

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> ResemblyzerEncoder:
        """From pretrained.pt at ``path``, in the cache or inside the installed resemblyzer package,
        on ``device``."""
        return cls(load_voice_encoder(path).to(device))

    def embed(self, samples: np.ndarray) -> np.ndarray:
        return voice_encoder.embed_utterance(self.network, voice_encoder.preprocess(samples))


def unit(vector: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vector)
    if norm == 0:
        raise ValueError("cannot normalise a zero embedding")
    return vector / norm


def speaker_embedding(encoder: SpeakerEncoder, clips: Sequence[np.ndarray]) -> np.ndarray:
    """clips: each (n,) at encoder.sample_rate -> (d,) unit vector, the renormalised mean."""
    if not clips:
        raise ValueError("a speaker embedding needs at least one clip")
    return unit(np.mean([unit(encoder.embed(clip)) for clip in clips], axis=0))


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """a, b: (d,) -> cosine of the angle between them, in [-1, 1]."""
    return float(np.clip(np.dot(unit(a), unit(b)), -1.0, 1.0))
