"""RVC's coarse pitch code: f0 on a mel scale, 50..1100 Hz mapped onto the integers 1..255.

Training (extract_f0) and inference (Pipeline.get_f0) use the same formula. The arithmetic
keeps the input's float dtype, as numpy does in the reference, so that a float32 curve rounds
exactly where the reference's float32 curve rounds.
"""

from __future__ import annotations

import numpy as np

F0_MIN_HZ = 50.0
F0_MAX_HZ = 1100.0
N_COARSE = 256  # codes 0..255; 0 is never produced (unvoiced and low pitch map to 1)


def _mel(f0_hz):
    return 1127.0 * np.log(1.0 + f0_hz / 700.0)


_MEL_MIN = float(_mel(F0_MIN_HZ))
_MEL_MAX = float(_mel(F0_MAX_HZ))


def coarse_pitch(f0_hz: np.ndarray) -> np.ndarray:
    """f0_hz: (frames,) float, 0 where unvoiced -> (frames,) int64 in 1..255.

    0 Hz and anything at or below 50 Hz give 1, 1100 Hz and above give 255; rounding is half
    to even.
    """
    f0_hz = np.asarray(f0_hz)
    if not np.issubdtype(f0_hz.dtype, np.floating):
        f0_hz = f0_hz.astype(np.float64)
    mel = _mel(f0_hz)
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - _MEL_MIN) * (N_COARSE - 2) / (_MEL_MAX - _MEL_MIN) + 1
    mel[mel <= 1] = 1
    mel[mel > N_COARSE - 1] = N_COARSE - 1
    return np.rint(mel).astype(np.int64)
