"""A pitch method beyond the references: the per-frame median of several methods' f0.

Methods disagree in different places (pm misses breathy notes, harvest smears onsets, RMVPE
sometimes drops a high note), so the median of three or more is steadier than any one. A frame
is voiced when at least ``min_voiced`` methods hear a pitch there; only the voiced estimates
enter its median. Every method must share the sample rate and hop; the first one's frame count
is the grid (the others are cut or counted as unvoiced past their end).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from timbrel.core.errors import ConfigError
from timbrel.features.pitch.base import PitchExtractor, PitchTrack
from timbrel.features.pitch.median import nanmedian_rows

# What "hybrid" means without a list: the RVC forks' hybrid[rmvpe+fcpe] (Mangio-RVC's hybrid f0,
# as offered by Applio and its descendants), the per-frame median of RMVPE and FCPE.
DEFAULT_METHODS = ("rmvpe", "fcpe")


class HybridExtractor:
    name = "hybrid"

    def __init__(self, extractors: Sequence[PitchExtractor], min_voiced: int = 1):
        if not extractors:
            raise ConfigError("hybrid pitch needs at least one method")
        grids = {(e.sample_rate, e.hop_length) for e in extractors}
        if len(grids) != 1:
            raise ConfigError(
                f"hybrid pitch methods must share sample rate and hop, got "
                f"{ {e.name: (e.sample_rate, e.hop_length) for e in extractors} }"
            )
        if not 1 <= min_voiced <= len(extractors):
            raise ConfigError(f"hybrid min_voiced must be in 1..{len(extractors)}, got {min_voiced}")
        self.extractors = tuple(extractors)
        self.min_voiced = min_voiced
        self.sample_rate, self.hop_length = grids.pop()

    def extract(self, samples: np.ndarray) -> PitchTrack:
        """samples: (n,) at sample_rate -> PitchTrack (frames of the first method,) float64."""
        return combine_tracks([e.extract(samples) for e in self.extractors], self.min_voiced)


def combine_tracks(tracks: Sequence[PitchTrack], min_voiced: int = 1) -> PitchTrack:
    """Per-frame median of the voiced estimates; 0 where fewer than min_voiced are voiced."""
    n_frames = len(tracks[0].f0_hz)
    stacked = np.full((len(tracks), n_frames), np.nan)
    for row, track in zip(stacked, tracks, strict=True):
        f0_hz = np.asarray(track.f0_hz, dtype=np.float64)[:n_frames]
        row[: len(f0_hz)] = np.where(f0_hz > 0, f0_hz, np.nan)
    voiced = (~np.isnan(stacked)).sum(axis=0)
    f0_hz = np.where(voiced >= min_voiced, nanmedian_rows(stacked), 0.0)
    return PitchTrack(
        f0_hz=np.nan_to_num(f0_hz, nan=0.0),
        sample_rate=tracks[0].sample_rate,
        hop_length=tracks[0].hop_length,
        periodicity=voiced / len(tracks),
    )
