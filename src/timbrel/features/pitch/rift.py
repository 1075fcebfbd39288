"""RIFT-SVC's f0: RMVPE at 10 ms mapped onto the 44.1 kHz / hop 512 mel grid, and the robust-f0
ensembles (levels 1 and 2) that patch it with WORLD dio and Praat pitch.

Level 0 is RMVPE alone. Level 1 fills RMVPE's unvoiced frames where the others hear a pitch and
the frame is loud enough; level 2 takes a per-frame median of all three and repairs outliers.
Every curve here is float64 with NaN for "no estimate", 0 Hz only in the final outputs.
"""

from __future__ import annotations

import numpy as np
import torch

from timbrel.audio.sinc_resample import sinc_resample
from timbrel.features.pitch.errors import PitchError
from timbrel.features.pitch.median import nanmedian_rows, sliding_nanmedian
from timbrel.features.pitch.pm import PmConfig, PmExtractor
from timbrel.features.pitch.rmvpe import RmvpeExtractor
from timbrel.features.pitch.rmvpe_mel import SAMPLE_RATE as RMVPE_SAMPLE_RATE
from timbrel.features.pitch.world import WorldConfig, WorldExtractor

SAMPLE_RATE = 44100
HOP_LENGTH = 512
RMVPE_FRAME_PERIOD_S = 0.01
LIGHT_MIN_RMS = 0.05  # level 1 repairs only frames louder than this (linear RMS)
OUTLIER_WINDOW = 41  # level 2: frames in the smoothing median
OUTLIER_HZ = 96.0  # level 2: a median this far from the smoothed curve is replaced by it
SMOOTHING_WINDOW = 3


def align_to_mel_frames(
    f0_hz: np.ndarray,
    n_frames: int,
    cut_last: bool,
    sample_rate: int = SAMPLE_RATE,
    hop_length: int = HOP_LENGTH,
    frame_period_s: float = RMVPE_FRAME_PERIOD_S,
) -> np.ndarray:
    """f0_hz: (frames,) every frame_period_s, 0 = unvoiced -> (n_frames - cut_last,) float64 on
    the mel grid (frame j at j * hop_length / sample_rate seconds).

    Unvoiced gaps are first filled linearly, stored in the curve's own precision as the reference
    stores them in its array (RMVPE's float32 f0 rounds the filled values to float32), the curve
    and its voicing are then resampled linearly in time (ends held), and frames whose resampled
    voicing is below one half are set back to 0. Training passes n_frames = len // hop + 1 with
    cut_last; inference passes the mel frame count without it.
    """
    f0_hz = np.asarray(f0_hz)
    if not np.issubdtype(f0_hz.dtype, np.floating):
        f0_hz = f0_hz.astype(np.float64)
    unvoiced = f0_hz == 0
    if (~unvoiced).any() and unvoiced.any():
        frames = np.arange(len(f0_hz))
        f0_hz = f0_hz.copy()
        f0_hz[unvoiced] = np.interp(frames[unvoiced], frames[~unvoiced], f0_hz[~unvoiced])
    source_s = frame_period_s * np.arange(len(f0_hz))
    target_s = hop_length / sample_rate * np.arange(n_frames)
    aligned = np.interp(target_s, source_s, f0_hz)
    aligned[np.interp(target_s, source_s, unvoiced.astype(np.float64)) > 0.5] = 0
    return aligned[:-1] if cut_last else aligned


def _nan_for_zero(f0_hz: np.ndarray) -> np.ndarray:
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    return np.where(f0_hz == 0, np.nan, f0_hz)


def dio_f0(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) 44.1 kHz -> (n // 512 + 1,) float64: dio + stonemask every 512 samples
    (40..1100 Hz), NaN where unvoiced, then a 3-frame NaN median (RIFT's ``get_f0_pw``)."""
    track = WorldExtractor(WorldConfig.rift_dio()).extract(samples)
    return sliding_nanmedian(_nan_for_zero(track.f0_hz), SMOOTHING_WINDOW)


def praat_f0(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) 44.1 kHz -> float64: Praat pitch with RIFT's settings, NaN where unvoiced,
    then a 3-frame NaN median (RIFT's ``get_f0_pm``). Praat gives a few frames fewer than dio."""
    track = PmExtractor(PmConfig.rift()).extract(samples)
    return sliding_nanmedian(_nan_for_zero(track.f0_hz), SMOOTHING_WINDOW)


def _fit(f0_hz: np.ndarray, n_frames: int) -> np.ndarray:
    """Cut to n_frames, or pad with NaN."""
    f0_hz = np.asarray(f0_hz, dtype=np.float64)[:n_frames]
    return np.pad(f0_hz, (0, n_frames - len(f0_hz)), constant_values=np.nan)


def ensemble_light(
    rmvpe_f0_hz: np.ndarray, dio_f0_hz: np.ndarray, praat_f0_hz: np.ndarray, rms: np.ndarray | None
) -> np.ndarray:
    """Level 1. rmvpe_f0_hz: (frames,) aligned RMVPE (0 = unvoiced); dio/praat: NaN = unvoiced,
    cut or NaN-padded to frames; rms: (frames,) linear, or None to skip the loudness gate
    -> (frames,) float64 with 0 = unvoiced.

    An RMVPE-unvoiced frame where dio or Praat gives a positive value (and rms > 0.05) takes the
    median of the positive values among the three.
    """
    rmvpe = np.asarray(rmvpe_f0_hz, dtype=np.float64)
    n_frames = len(rmvpe)
    others = np.stack([_fit(dio_f0_hz, n_frames), _fit(praat_f0_hz, n_frames)])
    heard = (np.nan_to_num(others, nan=0.0) > 0).any(axis=0)
    repair = (rmvpe == 0) & heard
    if rms is not None:
        repair &= np.asarray(rms)[:n_frames] > LIGHT_MIN_RMS
    stacked = np.concatenate([others, rmvpe[None]])
    positive = np.where(stacked > 0, stacked, np.nan)
    result = np.where(repair, nanmedian_rows(positive), rmvpe)
    return np.nan_to_num(result, nan=0.0)


def ensemble(rmvpe_f0_hz: np.ndarray, dio_f0_hz: np.ndarray, praat_f0_hz: np.ndarray) -> np.ndarray:
    """Level 2. Same inputs as ensemble_light -> (frames,) float64 with 0 = unvoiced.

    RMVPE's zeros count as estimates here. Per frame: the median of the available estimates
    (none if two are missing); outliers over 96 Hz from a 41-frame median are replaced by it;
    where exactly one estimate is missing, the one of the other two closer to that smoothed
    curve is kept; a 3-frame median smooths the result.
    """
    rmvpe = np.asarray(rmvpe_f0_hz, dtype=np.float64)
    n_frames = len(rmvpe)
    stacked = np.stack([_fit(dio_f0_hz, n_frames), _fit(praat_f0_hz, n_frames), rmvpe])
    n_missing = np.isnan(stacked).sum(axis=0)
    median = nanmedian_rows(stacked)
    median[n_missing >= 2] = np.nan
    smoothed = sliding_nanmedian(median, OUTLIER_WINDOW)
    median = np.where(np.abs(median - smoothed) > OUTLIER_HZ, smoothed, median)
    one_missing = n_missing == 1
    low = np.nanmin(np.where(one_missing, stacked, 0), axis=0)
    high = np.nanmax(np.where(one_missing, stacked, 0), axis=0)
    closer = np.where(np.abs(low - smoothed) < np.abs(high - smoothed), low, high)
    median[one_missing] = closer[one_missing]
    median = sliding_nanmedian(median, SMOOTHING_WINDOW)
    median[n_missing >= 2] = np.nan
    return np.nan_to_num(median, nan=0.0)


RMVPE_RESAMPLER_WIDTH = 128  # RMVPE's own torchaudio Resample(44100, 16000, lowpass_filter_width=128)
ROBUST_LEVELS = (0, 1, 2)


def rmvpe_input(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """samples: (n,) at sample_rate -> (ceil(n · 16000 / sample_rate),) float32, resampled the way
    RIFT's RMVPE wrapper does it."""
    samples = torch.as_tensor(np.asarray(samples, dtype=np.float32))
    resampled = sinc_resample(
        samples, sample_rate, RMVPE_SAMPLE_RATE, RMVPE_RESAMPLER_WIDTH, precision="transform"
    )
    return resampled.numpy()


def rift_training_f0(rmvpe: RmvpeExtractor, samples: np.ndarray) -> np.ndarray:
    """samples: (n,) 44.1 kHz utterance -> (n // 512,) float64 on the mel grid (prepare_f0.py)."""
    f0_hz = rmvpe.extract(rmvpe_input(samples)).f0_hz
    return align_to_mel_frames(f0_hz, len(samples) // HOP_LENGTH + 1, cut_last=True)


def rift_inference_f0(
    rmvpe: RmvpeExtractor,
    samples: np.ndarray,
    n_mel_frames: int,
    robust_level: int = 0,
    rms: np.ndarray | None = None,
) -> np.ndarray:
    """f0 of one loudness-normalised 44.1 kHz segment, before key shift -> (n_mel_frames,) float64.

    samples: (n,) the segment; rms: (n_mel_frames,) its linear RMS, level 1's loudness gate
    (None skips the gate).
    """
    if robust_level not in ROBUST_LEVELS:
        raise PitchError(f"robust f0 level {robust_level!r} is not one of {list(ROBUST_LEVELS)}")
    f0_hz = align_to_mel_frames(rmvpe.extract(rmvpe_input(samples)).f0_hz, n_mel_frames, cut_last=False)
    if robust_level == 0:
        return f0_hz
    dio, praat = dio_f0(samples), praat_f0(samples)
    if robust_level == 1:
        return ensemble_light(f0_hz, dio, praat, rms)
    return ensemble(f0_hz, dio, praat)
