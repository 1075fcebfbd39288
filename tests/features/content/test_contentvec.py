"""RIFT-SVC's ContentVec steps: two-pass interleave (training) and alignment to mel frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from tests import parity
from timbrel.audio.resample import resample
from timbrel.features.content.contentvec import (
    HALF_FRAME_SAMPLES,
    align_to_frames,
    contentvec_content,
    contentvec_train_content,
    interleave_passes,
    shift_left,
)
from timbrel.features.mel import LogMelSpectrogram
from timbrel.features.rms import frame_rms
from timbrel.weights.hubert import load_contentvec


@pytest.fixture(scope="module")
def align(fixtures):
    return torch.load(fixtures / "rift" / "features" / "cvec_align.pt", weights_only=True)


def aligned_to_mel(align, prefix: str) -> torch.Tensor:
    (key,) = [key for key in align if key.startswith(prefix)]
    return align[key]


def test_linear_alignment(align):
    target = aligned_to_mel(align, "linear_interp_to_")
    out = align_to_frames(align["cvec_in"], target.shape[0])
    parity.float32_close(out, target, terms=2, what="linear interpolation")  # two products and a sum
    batched = align_to_frames(align["cvec_in"].unsqueeze(0), target.shape[0])
    torch.testing.assert_close(batched[0], out)


def test_interleave_then_align(align):
    interleaved = interleave_passes(align["prep_pass_plain"], align["prep_pass_shifted"])
    torch.testing.assert_close(interleaved, align["prep_interleaved"], atol=0, rtol=0)
    target = aligned_to_mel(align, "prep_interleaved_then_interp_to_")
    parity.float32_close(align_to_frames(interleaved, target.shape[0]), target, terms=2, what="aligned")


def test_shift_left(align):
    key = next(k for k in align if k.startswith("roll_pad_minus"))
    shift = int(key.removeprefix("roll_pad_minus"))
    torch.testing.assert_close(shift_left(align["roll_pad_in"], shift), align[key], atol=0, rtol=0)


@pytest.fixture(scope="module")
def contentvec(fixtures):
    return load_contentvec(fixtures / "rift" / "e2e" / "pretrained" / "content-vec-best")


@pytest.fixture(scope="module")
def samples_16k(fixtures):
    data = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    return data["to16k_torchaudio_default_lpfw6"][0]


def test_train_content_is_one_batch_of_two_passes(contentvec, samples_16k):
    with torch.inference_mode():
        content = contentvec_train_content(contentvec, samples_16k)
        plain = contentvec_content(contentvec, samples_16k.unsqueeze(0))[0]
        shifted = contentvec_content(contentvec, shift_left(samples_16k, HALF_FRAME_SAMPLES).unsqueeze(0))[0]
    frames = contentvec.config.frame_count(samples_16k.shape[0])
    assert content.shape == (2 * frames, contentvec.config.hidden_size)
    terms = parity.network_terms(contentvec)  # the same network, the two passes batched
    parity.float32_close(content[0::2], plain, terms=terms, what="plain pass")
    parity.float32_close(content[1::2], shifted, terms=terms, what="shifted pass")


def test_inference_content_aligns_to_mel_frames(fixtures, contentvec):
    data = torch.load(fixtures / "rift" / "features" / "mel_rms_resample.pt", weights_only=True)
    samples = data["to16k_librosa_default_soxr_hq"].unsqueeze(0)
    with torch.inference_mode():
        content = contentvec_content(contentvec, samples)
    assert content.shape[1] == contentvec.config.frame_count(samples.shape[-1])
    aligned = align_to_frames(content, data["mel"].shape[-1])
    assert aligned.shape == (1, data["mel"].shape[-1], contentvec.config.hidden_size)
    torch.testing.assert_close(aligned[:, 0], content[:, 0])
    torch.testing.assert_close(aligned[:, -1], content[:, -1])


def test_train_content_needs_one_waveform(contentvec):
    with pytest.raises(ValueError, match=r"\(n,\)"):
        contentvec_train_content(contentvec, torch.zeros(2, 4000))


def test_end_to_end_segment_features(fixtures, contentvec):
    """infer.py's per-segment features: mel, RMS and aligned ContentVec of each loudness-normalised
    slice (gain from the recorded loudness, applied in float64 as the reference does)."""
    e2e = fixtures / "rift" / "e2e"
    intermediates = torch.load(e2e / "intermediates.pt", weights_only=True)
    target_lufs = json.loads((e2e / "settings.json").read_text())["settings"]["target_loudness"]
    audio, sample_rate = soundfile.read(e2e / "input.wav", dtype="int16")
    audio = audio.astype(np.float32) / 32768
    mel = LogMelSpectrogram()
    segments = intermediates["segments_start_and_length"].tolist()
    for index, features in zip(
        intermediates["processing_order"], intermediates["extract_features_in_call_order"], strict=True
    ):
        start, length = segments[index]
        gain = 10.0 ** ((target_lufs - features["original_loudness"]) / 20.0)
        normalised = audio[start : start + length].astype(np.float64) * gain
        assert np.abs(normalised).max() <= 1.0
        samples = torch.from_numpy(normalised).float().unsqueeze(0)
        log_mel = mel(samples)
        mel_terms = mel.config.n_fft + mel.config.n_fft // 2 + 1  # the DFT, then the filterbank
        parity.log_close(log_mel.transpose(1, 2), features["mel"], terms=mel_terms, what="segment mel")
        parity.float32_close(
            frame_rms(samples), features["rms"], terms=mel.config.win_length, what="segment rms"
        )
        samples_16k = torch.from_numpy(resample(normalised.astype(np.float32), sample_rate, 16000))
        with torch.inference_mode():
            content = contentvec_content(contentvec, samples_16k.unsqueeze(0))
        aligned = align_to_frames(content, log_mel.shape[-1])
        parity.float32_close(aligned, features["cvec"], terms=parity.network_terms(contentvec), what="cvec")
