from __future__ import annotations

import numpy as np
import pytest

from tests.eval.signals import add_noise, vowel
from timbrel.eval.dnsmos import SAMPLE_RATE, dnsmos, dnsmos_windows
from timbrel.weights.cache import MissingWeightError
from timbrel.weights.dnsmos import INPUT_SAMPLES, find_dnsmos_model


def test_scores_match_speechmos(dnsmos_session, reference_data):
    """SIG/BAK/OVRL of the stored clip, once and repeated, equal the real package's.

    speechmos imports librosa, which the tests must not, so its scores were computed once:
    scripts/make_eval_reference.py ran speechmos 0.0.1.1 ``dnsmos.run(clip, 16000)`` (onnxruntime
    1.31) on the clip stored beside them in tests/eval/data/eval_reference.npz.
    """
    samples = reference_data["samples_int16"].astype(np.float32) / 32768
    for repeats, expected in zip(
        reference_data["dnsmos_clip_repeats"], reference_data["dnsmos_sig_bak_ovrl"], strict=True
    ):
        scores = dnsmos(np.tile(samples, repeats), dnsmos_session)
        np.testing.assert_allclose([scores.sig, scores.bak, scores.ovrl], expected, atol=1e-5)


def test_noise_lowers_background_and_overall_scores(dnsmos_session):
    clean = vowel(4.6, SAMPLE_RATE)
    clean_scores = dnsmos(clean, dnsmos_session)
    noisy_scores = dnsmos(add_noise(clean, 10.0), dnsmos_session)
    assert noisy_scores.bak < clean_scores.bak - 0.3
    assert noisy_scores.ovrl < clean_scores.ovrl - 0.2


def test_windows_tile_short_clips_and_skip_the_references_short_windows():
    short = np.arange(5 * SAMPLE_RATE, dtype=np.float32)
    windows = dnsmos_windows(short)
    assert windows.shape == (1, INPUT_SAMPLES)
    np.testing.assert_array_equal(windows[0, : 5 * SAMPLE_RATE], short)
    np.testing.assert_array_equal(windows[0, 5 * SAMPLE_RATE :], short[: INPUT_SAMPLES - 5 * SAMPLE_RATE])
    # 40 s gives 31 one-second hops; the reference's float arithmetic cuts windows 7..23 one
    # sample short and drops them.
    long = np.zeros(40 * SAMPLE_RATE, dtype=np.float32)
    assert len(dnsmos_windows(long)) == 31 - 17
    with pytest.raises(ValueError, match="at least one sample"):
        dnsmos_windows(np.zeros(0, dtype=np.float32))


def test_missing_model_is_named(tmp_path):
    with pytest.raises(MissingWeightError, match=r"nothing\.onnx"):
        find_dnsmos_model(tmp_path / "nothing.onnx")
