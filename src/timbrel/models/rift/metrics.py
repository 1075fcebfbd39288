"""RIFT-SVC's validation metrics (spec 5.4), per item, on log-mels clipped to [MEL_MIN, MEL_MAX].

They compare the log-mel of the vocoded generated mel (estimate) with the log-mel of the vocoded
ground-truth mel (target). Each takes est, tgt: (n, n_mels) or any equal shapes of one item -> a
float64 scalar tensor; the validation averages them over items.
"""

from __future__ import annotations

import torch
from torch import Tensor

_EPS = float(torch.finfo(torch.float32).eps)
_LOG_FLOOR = 1e-8


def mel_cepstral_distortion(est: Tensor, tgt: Tensor) -> Tensor:
    """Mean over frames of sqrt(2·Σ_bins (log10 a − log10 b)²), applied to the log-mel values as the
    reference does (values below 1e-8, i.e. every negative log-mel, clamp to 1e-8). est, tgt: (n, m)."""
    a = torch.log10(est.double().clamp(min=_LOG_FLOOR))
    b = torch.log10(tgt.double().clamp(min=_LOG_FLOOR))
    return torch.sqrt(2 * (a - b).square().sum(-1)).mean()


def mean_squared_error(est: Tensor, tgt: Tensor) -> Tensor:
    return (est.double() - tgt.double()).square().mean()


def peak_signal_to_noise_ratio(est: Tensor, tgt: Tensor) -> Tensor:
    """20·log10(peak + eps) − 10·log10(mse + eps), peak = the larger of both arrays' max |value|."""
    peak = torch.maximum(tgt.double().abs().max(), est.double().abs().max())
    return 20 * torch.log10(peak + _EPS) - 10 * torch.log10(mean_squared_error(est, tgt) + _EPS)


def scale_invariant_snr(est: Tensor, tgt: Tensor) -> Tensor:
    """SI-SNR in dB of the flattened, zero-mean arrays."""
    e = est.double().flatten()
    t = tgt.double().flatten()
    e = e - e.mean()
    t = t - t.mean()
    projection = (e @ t) / (t @ t + _EPS) * t
    noise = e - projection
    return 10 * torch.log10((projection @ projection + _EPS) / (noise @ noise + _EPS))


METRICS = {
    "mcd": mel_cepstral_distortion,
    "psnr": peak_signal_to_noise_ratio,
    "si_snr": scale_invariant_snr,
    "mse": mean_squared_error,
}
"""name (logged as val/<name>) -> metric; lower is better for mcd and mse, higher for psnr and si_snr."""
