"""The conditioning of one slice of the input at conversion time (infer.py's extract_features).

The slice is normalised to the target loudness (0.1 s blocks, then the 0.99 peak guard), and from
the normalised 44.1 kHz audio come the log-mel (which only shapes the batch and fills padding), the
ContentVec content run once on a soxr-resampled 16 kHz copy and stretched to the mel frames, the
RMVPE f0 on the mel grid (optionally patched by the robust-f0 ensembles) shifted by the key, the
frame RMS and, for content guidance, the negative ("downsampled") content built from the
content already stretched to the mel frames (as infer.py does; the e2e fixture confirms it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from timbrel.audio.loudness import apply_gain_to_lufs, limit_peak, measure_loudness
from timbrel.audio.resample import resample
from timbrel.features.content.contentvec import align_to_frames, contentvec_content
from timbrel.features.content.hubert import HubertModel
from timbrel.features.mel import LogMelSpectrogram
from timbrel.features.pitch.key_shift import shift_key
from timbrel.features.pitch.rift import rift_inference_f0
from timbrel.features.pitch.rmvpe import RmvpeExtractor
from timbrel.features.rms import frame_rms
from timbrel.models.rift.guidance import downsampled_content

SAMPLE_RATE = 44100
CONTENT_SAMPLE_RATE = 16000
LOUDNESS_BLOCK_S = 0.1
PEAK_HEADROOM = 0.99


@dataclass(frozen=True)
class SegmentFeatures:
    """One slice's conditioning, all on its n mel frames (float32, CPU).

    mel: (n, n_mels) natural-log mel; content: (n, content_dim); bad_content: (n, content_dim) or None
    when content guidance is off; f0_hz: (n,) after the key shift, 0 = unvoiced; rms: (n,) linear;
    original_lufs: the slice's loudness before normalisation, or None when it could not be measured
    (then the slice was not normalised); n_samples: the slice's length at 44.1 kHz.
    """

    mel: Tensor
    content: Tensor
    bad_content: Tensor | None
    f0_hz: Tensor
    rms: Tensor
    original_lufs: float | None
    n_samples: int

    @property
    def n_frames(self) -> int:
        return self.mel.shape[0]


def normalize_segment(samples: np.ndarray, target_lufs: float) -> tuple[np.ndarray, float | None]:
    """samples: (n,) float32 44.1 kHz -> (float64 samples at target_lufs with the peak guard, the
    measured loudness). A slice shorter than one loudness block or below the loudness gate cannot
    be measured: it is returned unchanged with None."""
    if len(samples) < LOUDNESS_BLOCK_S * SAMPLE_RATE:
        return np.asarray(samples, dtype=np.float64), None
    measured = measure_loudness(samples, SAMPLE_RATE, LOUDNESS_BLOCK_S)
    if not np.isfinite(measured):
        return np.asarray(samples, dtype=np.float64), None
    normalized, _ = limit_peak(apply_gain_to_lufs(samples, measured, target_lufs), PEAK_HEADROOM)
    return normalized, measured


def restore_segment_loudness(samples: np.ndarray, original_lufs: float | None) -> np.ndarray:
    """samples: (n,) converted slice -> (n,) float64 brought back to the slice's original loudness,
    then the peak guard. Unchanged when either loudness cannot be measured."""
    if original_lufs is None or len(samples) < LOUDNESS_BLOCK_S * SAMPLE_RATE:
        return np.asarray(samples, dtype=np.float64)
    measured = measure_loudness(samples, SAMPLE_RATE, LOUDNESS_BLOCK_S)
    if not np.isfinite(measured):
        return np.asarray(samples, dtype=np.float64)
    restored, _ = limit_peak(apply_gain_to_lufs(samples, measured, original_lufs), PEAK_HEADROOM)
    return restored


class SegmentFeatureExtractor:
    """Builds `SegmentFeatures` with the models a voice holds; the models stay where the caller put them."""

    def __init__(self, content_model: HubertModel, rmvpe: RmvpeExtractor):
        self.content_model = content_model
        self.rmvpe = rmvpe
        self.mel = LogMelSpectrogram()

    @torch.inference_mode()
    def __call__(
        self,
        samples: np.ndarray,
        *,
        target_lufs: float,
        key_shift_semitones: float,
        robust_f0: int,
        downsample_rate: int | None,
    ) -> SegmentFeatures:
        """samples: (n,) float32 44.1 kHz slice; downsample_rate: the negative content's rate, None for
        no negative content."""
        normalized, original_lufs = normalize_segment(samples, target_lufs)
        audio = torch.from_numpy(normalized).float().unsqueeze(0)
        mel = self.mel(audio)[0].T
        n_frames = mel.shape[0]
        rms = frame_rms(audio)[0]
        raw_content = self._content(normalized.astype(np.float32))
        content = align_to_frames(raw_content, n_frames)
        bad = None if downsample_rate is None else downsampled_content(content, downsample_rate)
        f0_hz = rift_inference_f0(self.rmvpe, normalized, n_frames, robust_f0, rms.numpy())
        f0_hz = torch.from_numpy(shift_key(f0_hz, key_shift_semitones)).float()
        return SegmentFeatures(mel, content, bad, f0_hz, rms, original_lufs, len(samples))

    @torch.inference_mode()
    def f0(self, samples: np.ndarray, *, target_lufs: float, robust_f0: int) -> np.ndarray:
        """The f0 (Hz, 0 = unvoiced) that `__call__` gives the slice before any key shift."""
        normalized, _ = normalize_segment(samples, target_lufs)
        audio = torch.from_numpy(normalized).float().unsqueeze(0)
        n_frames = self.mel(audio).shape[-1]
        return rift_inference_f0(self.rmvpe, normalized, n_frames, robust_f0, frame_rms(audio)[0].numpy())

    def _content(self, samples: np.ndarray) -> Tensor:
        """(n,) float32 44.1 kHz -> (frames, content_dim) float32 on the CPU, at the encoder's 50 Hz."""
        parameter = next(self.content_model.parameters())
        samples_16k = torch.from_numpy(resample(samples, SAMPLE_RATE, CONTENT_SAMPLE_RATE))
        samples_16k = samples_16k.to(device=parameter.device, dtype=parameter.dtype).unsqueeze(0)
        return contentvec_content(self.content_model, samples_16k)[0].float().cpu()
