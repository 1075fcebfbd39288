"""RMVPE as a PitchExtractor: log-mel, the E2E network, then the RVC or RIFT decoder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from timbrel.features.pitch.base import PitchTrack
from timbrel.features.pitch.rmvpe_decode import THRESHOLD, decode_rift, decode_rvc
from timbrel.features.pitch.rmvpe_mel import HOP_LENGTH, SAMPLE_RATE, rmvpe_log_mel
from timbrel.features.pitch.rmvpe_network import E2E

# Both references pad RMVPE's frames to a multiple of 32 whatever the U-Net's depth.
REFERENCE_FRAME_MULTIPLE = 32


@dataclass(frozen=True)
class RmvpeConfig:
    """decoder: "rvc" (float64 f0, peak <= threshold unvoiced) or "rift" (float32, peak < threshold)."""

    threshold: float = THRESHOLD
    decoder: Literal["rvc", "rift"] = "rvc"

    @classmethod
    def rvc(cls) -> RmvpeConfig:
        return cls()

    @classmethod
    def rift(cls) -> RmvpeConfig:
        return cls(decoder="rift")


def rmvpe_salience(network: E2E, log_mel: Tensor) -> Tensor:
    """log_mel: (b, 128, t) -> salience (b, t, 360).

    The time axis is padded with 0 and the output cut back, as both references do; frames near
    the end therefore see that padding, through the bidirectional GRU as far back as it reaches.
    The references pad to a multiple of 32 whatever the U-Net's depth, so a shallower U-Net
    (multiple 16) still gets the 32-frame padding, or its last frames would differ.
    """
    n_frames = log_mel.shape[-1]
    pad = -n_frames % math.lcm(REFERENCE_FRAME_MULTIPLE, network.config.time_multiple)
    return network(F.pad(log_mel, (0, pad)))[:, :n_frames]


class RmvpeExtractor:
    """16 kHz, hop 160, n // 160 + 1 frames; frame i is centred on sample i * 160."""

    name = "rmvpe"
    sample_rate = SAMPLE_RATE
    hop_length = HOP_LENGTH

    def __init__(self, network: E2E, config: RmvpeConfig | None = None):
        self.network = network.eval()
        self.config = config or RmvpeConfig()

    def salience(self, samples: Tensor) -> Tensor:
        """samples: (b, n) float32 16 kHz -> (b, n // 160 + 1, 360)."""
        weight = self.network.unet.encoder.bn.weight
        samples = samples.to(device=weight.device, dtype=self.network.dtype)
        with torch.inference_mode():
            return rmvpe_salience(self.network, rmvpe_log_mel(samples))

    def decode(self, salience: Tensor) -> np.ndarray:
        """salience: (frames, 360) -> f0_hz (frames,)."""
        if self.config.decoder == "rift":
            return decode_rift(salience.float().cpu(), self.config.threshold).numpy()
        return decode_rvc(salience.float().cpu().numpy(), self.config.threshold)

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) float 16 kHz -> PitchTrack with the peak salience as periodicity."""
        return self.extract_batch(np.asarray(samples)[None])[0]

    def extract_batch(self, samples: np.ndarray) -> list[PitchTrack]:
        """samples: (b, n) equal-length signals at 16 kHz -> b tracks, in one network call.

        Only equal lengths batch without changing the numbers: the end padding to the U-Net's
        multiple and the backward GRU both depend on where a signal ends.
        """
        salience = self.salience(torch.as_tensor(np.asarray(samples, dtype=np.float32)))
        periodicity = salience.max(dim=2).values.float().cpu().numpy()
        return [
            PitchTrack(
                f0_hz=self.decode(item),
                sample_rate=self.sample_rate,
                hop_length=self.hop_length,
                periodicity=item_periodicity,
            )
            for item, item_periodicity in zip(salience, periodicity, strict=True)
        ]
