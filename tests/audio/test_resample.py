"""RIFT's 16 kHz versions of one 44.1 kHz tone through timbrel's soxr resampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrel.audio.resample import resample


@pytest.fixture(scope="module")
def tone(fixtures):
    return torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)


def test_librosa_soxr_hq_path_is_reproduced_exactly(tone):
    expected = tone["to16k_librosa_default_soxr_hq"].numpy()
    out = resample(tone["wave"].numpy(), tone["sr"], 16000)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)  # measured max |error| = 0


@pytest.mark.parametrize("key", ["to16k_torchaudio_default_lpfw6", "to16k_torchaudio_lpfw128"])
def test_torchaudio_sinc_paths_are_close(tone, key):
    expected = tone[key].numpy().reshape(-1)
    out = resample(tone["wave"].numpy(), tone["sr"], 16000)
    assert out.shape == expected.shape
    # a different windowed-sinc design: measured max |error| 2.7e-4 (lpfw 6) and 1.3e-4 (lpfw 128)
    # on a signal peaking near 0.3; 1e-3 is well below what a listener or ContentVec resolves
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-3)
