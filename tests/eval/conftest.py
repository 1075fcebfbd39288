"""Fixtures for the eval tests: a minimal Praat pitch extractor and the shipped weight files.

The shared pm extractor lives on another branch (features/pitch/pm.py); this one only serves
these tests and implements the same PitchExtractor protocol.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require, require_module
from timbrel.features.pitch.base import PitchTrack
from timbrel.weights.cache import MissingWeightError


class PraatPitch:
    """parselmouth to_pitch_ac at 16 kHz, one frame every 160 samples, 0 where unvoiced."""

    name = "praat-test"
    sample_rate = 16000
    hop_length = 160

    def extract(self, samples: np.ndarray) -> PitchTrack:
        import parselmouth

        pitch = parselmouth.Sound(samples.astype(np.float64), self.sample_rate).to_pitch_ac(
            time_step=self.hop_length / self.sample_rate, pitch_floor=50.0, pitch_ceiling=1100.0
        )
        f0_hz = np.nan_to_num(pitch.selected_array["frequency"])
        frames = len(samples) // self.hop_length
        offset = max(0, (frames - len(f0_hz) + 1) // 2)
        f0_hz = np.pad(f0_hz, (offset, max(0, frames - len(f0_hz) - offset)))[:frames]
        return PitchTrack(f0_hz, self.sample_rate, self.hop_length)


@pytest.fixture(scope="session")
def praat_pitch() -> PraatPitch:
    return PraatPitch()


@pytest.fixture(scope="session")
def reference_data() -> dict[str, np.ndarray]:
    """Outputs of the real Resemblyzer and speechmos; see scripts/make_eval_reference.py."""
    with np.load(Path(__file__).parent / "data" / "eval_reference.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def voice_encoder():
    from timbrel.eval.speaker import ResemblyzerEncoder

    try:
        return ResemblyzerEncoder.load()
    except MissingWeightError as error:
        require(False, str(error))


@pytest.fixture(scope="session")
def dnsmos_session():
    require_module("onnxruntime", "DNSMOS needs the [eval] extra")
    from timbrel.weights.dnsmos import load_dnsmos

    try:
        return load_dnsmos(threads=1)
    except MissingWeightError as error:
        require(False, str(error))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The small LSTM gains nothing from a second thread, and on a loaded 2-core machine torch's
    thread pool spins: one thread runs these tests about 50x faster there."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
