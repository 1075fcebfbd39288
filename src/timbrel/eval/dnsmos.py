"""DNSMOS P.835: a non-intrusive estimate of speech quality on the 1-5 MOS scale, as
SIG (the voice itself), BAK (background noise) and OVRL (overall), computed as speechmos 0.0.1.1
and Microsoft's reference script compute it.

The clip (16 kHz mono) is repeated until it is at least 9.01 s long, then scored in 9.01 s
windows every second; the network's raw scores go through fixed cubic/quadratic calibration
polynomials and are averaged over windows. The reference computes each window's end as
``int((idx + 9.01) * 16000)``, which rounds to one sample short for some windows (idx 7 to 23),
and it skips those; so does this module, so that scores match the published ones.
DNSMOS was trained on speech: for singing treat it as a relative measure between models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
WINDOW_S = 9.01
_WINDOW = int(WINDOW_S * SAMPLE_RATE)

# Calibration polynomials (highest power first) from the reference, raw score -> MOS.
_POLYNOMIALS = {
    False: {
        "sig": (-0.08397278, 1.22083953, 0.0052439),
        "bak": (-0.13166888, 1.60915514, -0.39604546),
        "ovrl": (-0.06766283, 1.11546468, 0.04602535),
    },
    True: {
        "sig": (-0.01019296, 0.02751166, 1.19576786, -0.24348726),
        "bak": (-0.04976499, 0.44276479, -0.1644611, 0.96883132),
        "ovrl": (-0.00533021, 0.005101, 1.18058466, -0.11236046),
    },
}


@dataclass(frozen=True)
class DNSMOSScores:
    sig: float
    bak: float
    ovrl: float


def dnsmos_windows(samples: np.ndarray) -> np.ndarray:
    """samples: (n,) at 16 kHz -> (windows, 144160) float32, the reference's tiling and windowing."""
    audio = np.asarray(samples, dtype=np.float32)
    if len(audio) == 0:
        raise ValueError("DNSMOS needs at least one sample")
    while len(audio) < _WINDOW:
        audio = np.append(audio, audio)
    n_windows = int(np.floor(len(audio) / SAMPLE_RATE) - WINDOW_S) + 1
    windows = []
    for index in range(n_windows):
        window = audio[int(index * SAMPLE_RATE) : int((index + WINDOW_S) * SAMPLE_RATE)]
        if len(window) == _WINDOW:
            windows.append(window)
    return np.stack(windows)


def dnsmos(
    samples: np.ndarray, session: Any, personalized: bool = False, batch_size: int = 8
) -> DNSMOSScores:
    """samples: (n,) float32 at 16 kHz; session from ``weights.dnsmos.load_dnsmos`` -> DNSMOSScores."""
    windows = dnsmos_windows(samples)
    input_name = session.get_inputs()[0].name
    raw = np.concatenate(
        [
            session.run(None, {input_name: windows[i : i + batch_size]})[0]
            for i in range(0, len(windows), batch_size)
        ]
    ).astype(np.float64)
    scores = {}
    for column, (name, coefficients) in enumerate(_POLYNOMIALS[personalized].items()):
        scores[name] = float(np.mean(np.polyval(coefficients, raw[:, column])))
    if not all(math.isfinite(v) for v in scores.values()):
        raise ValueError(f"DNSMOS produced non-finite scores {scores}")
    return DNSMOSScores(**scores)
