"""Praat's autocorrelation pitch (parselmouth ``to_pitch_ac``) with RVC's and RIFT's settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from timbrel.features.pitch.base import PitchTrack
from timbrel.features.pitch.errors import PitchError
from timbrel.features.pitch.framing import fit_length, pad_centered

PmFraming = Literal["rvc_training", "rvc_realtime", "raw"]


@dataclass(frozen=True)
class PmConfig:
    """Settings of one to_pitch_ac call and of how its frames are laid on the hop grid.

    framing:
      rvc_training: pad the curve centred to len // hop frames (RVC extract_f0 and Pipeline.get_f0);
      rvc_realtime: pad the signal with ceil(1.5 / f0_min_hz * sample_rate) zeros on the left and
        one more on the right, then pad centred and cut to len // hop + 1 frames (RVC rtrvc);
      raw: the frames parselmouth returns (RIFT's robust f0).
    """

    sample_rate: int = 16000
    hop_length: int = 160
    f0_min_hz: float = 50.0
    f0_max_hz: float = 1100.0
    voicing_threshold: float = 0.6
    very_accurate: bool = False
    octave_jump_cost: float = 0.35  # Praat's default
    framing: PmFraming = "rvc_training"

    @classmethod
    def rvc_training(cls) -> PmConfig:
        return cls()

    @classmethod
    def rvc_realtime(cls) -> PmConfig:
        return cls(f0_min_hz=65.0, framing="rvc_realtime")

    @classmethod
    def rift(cls) -> PmConfig:
        return cls(
            sample_rate=44100,
            hop_length=512,
            f0_min_hz=40.0,
            very_accurate=True,
            octave_jump_cost=0.5,
            framing="raw",
        )


class PmExtractor:
    """f0 every hop_length samples; with RVC framing frame i is centred near sample i * hop_length."""

    name = "pm"

    def __init__(self, config: PmConfig | None = None):
        self.config = config or PmConfig()
        self.sample_rate = self.config.sample_rate
        self.hop_length = self.config.hop_length

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) float at sample_rate -> PitchTrack (frames,) float64."""
        import parselmouth

        config = self.config
        samples = np.asarray(samples)
        n_samples = len(samples)
        if config.framing == "rvc_realtime":
            margin = math.ceil(1.5 / config.f0_min_hz * config.sample_rate)
            samples = np.pad(samples, (margin, margin + 1))
        time_step_s = config.hop_length / config.sample_rate
        try:
            pitch = parselmouth.Sound(samples, config.sample_rate).to_pitch_ac(
                time_step=time_step_s,
                voicing_threshold=config.voicing_threshold,
                pitch_floor=config.f0_min_hz,
                pitch_ceiling=config.f0_max_hz,
                very_accurate=config.very_accurate,
                octave_jump_cost=config.octave_jump_cost,
            )
        except parselmouth.PraatError as error:
            praat_says = str(error).strip().splitlines()[0]  # praat's own text runs over several lines
            raise PitchError(
                f"pm cannot analyse {n_samples} samples at {config.sample_rate} Hz "
                f"(too short for a {config.f0_min_hz} Hz pitch floor?): {praat_says}"
            ) from error
        f0_hz = pitch.selected_array["frequency"]
        if config.framing == "rvc_training":
            f0_hz = pad_centered(f0_hz, n_samples // config.hop_length)
        elif config.framing == "rvc_realtime":
            n_frames = n_samples // config.hop_length + 1
            f0_hz = fit_length(pad_centered(f0_hz, n_frames), n_frames)
        return PitchTrack(f0_hz=f0_hz, sample_rate=config.sample_rate, hop_length=config.hop_length)
