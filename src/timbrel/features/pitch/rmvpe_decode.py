"""From RMVPE's 360 saliences per frame to f0: the local weighted average of cents around the peak.

Bin b is 20·b + 1997.379… cents above 10 Hz (31.7 Hz .. 2005.5 Hz), the grid CREPE also uses.
The two references differ in small ways, so each has its own decoder:
RVC (numpy) sums the weights in float32 but the weighted cents in float64 and calls a frame
unvoiced when its peak salience is <= threshold; RIFT (torch) works in float32 throughout and
calls a frame unvoiced only when its peak is < threshold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

N_BINS = 360
CENTS_PER_BIN = 20
CENTS_OFFSET = 1997.3794084376191
WINDOW_HALF_WIDTH = 4  # bins each side of the peak
THRESHOLD = 0.03  # both references' default


def bin_cents(n_bins: int = N_BINS) -> np.ndarray:
    """(n_bins,) float64 cents above 10 Hz."""
    return CENTS_PER_BIN * np.arange(n_bins) + CENTS_OFFSET


def _peak_window(salience: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """salience: (frames, n_bins) -> weights (frames, 9) (0 outside the grid) and their bins."""
    n_bins = salience.shape[1]
    peak = np.argmax(salience, axis=1)
    bins = peak[:, None] + np.arange(-WINDOW_HALF_WIDTH, WINDOW_HALF_WIDTH + 1)[None, :]
    inside = (bins >= 0) & (bins < n_bins)
    bins = np.clip(bins, 0, n_bins - 1)
    weights = np.where(inside, np.take_along_axis(salience, bins, axis=1), 0).astype(salience.dtype)
    return weights, bins


def cents_to_hz(cents: np.ndarray) -> np.ndarray:
    return 10 * 2 ** (cents / 1200)


def decode_rvc(salience: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """salience: (frames, n_bins) float32 -> f0_hz (frames,) float64, 0 where peak <= threshold."""
    salience = np.asarray(salience, dtype=np.float32)
    weights, bins = _peak_window(salience)
    cents = (weights * bin_cents(salience.shape[1])[bins]).sum(axis=1) / weights.sum(axis=1)
    cents[salience.max(axis=1) <= threshold] = 0
    f0_hz = cents_to_hz(cents)
    f0_hz[f0_hz == 10] = 0
    return f0_hz


def decode_rift(salience: Tensor, threshold: float = THRESHOLD) -> Tensor:
    """salience: (frames, n_bins) float32 tensor -> f0_hz (frames,) float32, 0 where peak < threshold.

    In torch, because float32 sums in another order land a cent's ulp (1e-3 Hz near 2 kHz) away.
    A window whose weights sum to 0 divides by 1.
    """
    n_bins = salience.shape[1]
    peak_salience, peak = salience.max(dim=1)
    bins = peak[:, None] + torch.arange(-WINDOW_HALF_WIDTH, WINDOW_HALF_WIDTH + 1, device=salience.device)
    inside = (bins >= 0) & (bins < n_bins)
    bins = bins.clamp(0, n_bins - 1)
    weights = torch.where(inside, salience.gather(1, bins), torch.zeros((), dtype=salience.dtype))
    # built in the salience's dtype, as RIFT does: the float64 table rounded to float32 differs
    table = CENTS_PER_BIN * torch.arange(n_bins, device=salience.device, dtype=salience.dtype) + CENTS_OFFSET
    weight_sum = weights.sum(dim=1)
    cents = (weights * table[bins]).sum(dim=1) / torch.where(weight_sum == 0, 1.0, weight_sum)
    f0_hz = 10 * 2 ** (cents / 1200)
    return torch.where(peak_salience < threshold, 0.0, f0_hz)
