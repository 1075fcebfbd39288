from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import parity
from timbrel.audio.filters import highpass_causal
from timbrel.audio.slicing import SlicerConfig, SlicerFrames, frame_rms, silence_tags, slice_spans
from timbrel.core.config import from_dict
from timbrel.core.errors import ConfigError

# RIFT's Slicer argument names -> ours
RIFT_PARAMS = {
    "threshold": "threshold_db",
    "min_length": "min_length_ms",
    "min_interval": "min_interval_ms",
    "hop_size": "hop_ms",
    "max_sil_kept": "max_silence_kept_ms",
}
RIFT_DERIVED = {
    "threshold_linear": "threshold",
    "hop_size": "hop_length",
    "win_size": "frame_length",
    "min_length": "min_length",
    "min_interval": "min_interval",
    "max_sil_kept": "max_silence_kept",
}
RVC_DERIVED = {
    "threshold_linear": "threshold",
    "hop_size": "hop_length",
    "win_size": "frame_length",
    "min_length_frames": "min_length",
    "min_interval_frames": "min_interval",
    "max_sil_kept_frames": "max_silence_kept",
}


@pytest.fixture(scope="module")
def rvc(fixtures):
    data = torch.load(fixtures / "rvc" / "dsp" / "preprocess.pt", weights_only=True)
    meta = json.loads((fixtures / "rvc" / "dsp" / "meta.json").read_text())
    return data, meta


@pytest.fixture(scope="module")
def rift(fixtures):
    folder = fixtures / "rift" / "features"
    signal = torch.load(folder / "slicer_signal.pt", weights_only=True)
    samples = signal["signal_int16"].numpy().astype(np.float32) / 32768
    return samples, signal["sr"], json.loads((folder / "slicer_chunks.json").read_text())


def test_rvc_preset_derives_the_reference_frames(rvc):
    data, meta = rvc
    frames = SlicerFrames.from_config(SlicerConfig.rvc(), data["sr"])
    for theirs, ours in RVC_DERIVED.items():
        assert getattr(frames, ours) == meta["slicer_internal"][theirs], theirs


def test_rvc_rms_curve_matches(rvc):
    data, _ = rvc
    filtered = highpass_causal(data["input_wav"].numpy(), data["sr"])
    frames = SlicerFrames.from_config(SlicerConfig.rvc(), data["sr"])
    rms = frame_rms(filtered, frames.frame_length, frames.hop_length)
    assert rms.dtype == np.float64  # RVC's slicer gets the float64 high-passed signal
    # stored in float32 (the public set's curve was also summed in float32 over a frame)
    parity.float32_close(rms, data["slicer_rms"].numpy(), terms=frames.frame_length, what="RVC slicer RMS")


def test_rms_keeps_the_samples_precision_as_get_rms_does():
    """Frames summed in float64 and in float32 differ in the last bits, and a frame at the
    threshold or a tie in a silence's minimum can then fall the other way."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20000) * 0.01
    rms64 = frame_rms(x, 1920, 480)
    rms32 = frame_rms(x.astype(np.float32), 1920, 480)
    assert rms64.dtype == np.float64 and rms32.dtype == np.float32
    padded = np.pad(x, 960)
    expected = np.sqrt([np.mean(padded[i : i + 1920] ** 2) for i in range(0, len(padded) - 1919, 480)])
    np.testing.assert_allclose(rms64, expected, rtol=1e-13)
    assert not np.array_equal(rms64.astype(np.float32), rms32)


def test_rvc_spans_match(rvc):
    data, _ = rvc
    filtered = highpass_causal(data["input_wav"].numpy(), data["sr"])
    spans = slice_spans(filtered, data["sr"], SlicerConfig.rvc())
    cases = [key for key in data if key.startswith("per_")]
    assert cases
    for per in cases:  # the piece length does not change the slicer's spans
        assert spans == [tuple(s) for s in data[per]["slicer_chunks_samples"].tolist()], per


def rift_config(case: dict) -> SlicerConfig:
    return from_dict(SlicerConfig, {RIFT_PARAMS[k]: v for k, v in case["params"].items()})


@pytest.mark.parametrize("setting", ["infer_defaults", "class_defaults", "short_min_length"])
def test_rift_chunks_match(rift, setting):
    samples, rate, chunks = rift
    case = chunks[setting]
    config = rift_config(case)
    preset = {
        "infer_defaults": SlicerConfig.rift_infer(),
        "class_defaults": SlicerConfig.rift_class_defaults(),
    }
    if setting in preset:
        assert preset[setting] == config
    frames = SlicerFrames.from_config(config, rate)
    for theirs, ours in RIFT_DERIVED.items():
        assert getattr(frames, ours) == case["derived"][theirs], theirs
    assert frame_rms(samples, frames.frame_length, frames.hop_length).shape == (case["n_rms_frames"],)
    spans = slice_spans(samples, rate, config)
    assert [[start, end - start] for start, end in spans] == case["chunks_start_sample_and_length"]


def test_signal_of_at_most_min_length_samples_is_kept_whole():
    config = SlicerConfig.rift_class_defaults()
    frames = SlicerFrames.from_config(config, 44100)
    silence = np.zeros(frames.min_length, dtype=np.float32)
    assert slice_spans(silence, 44100, config) == [(0, frames.min_length)]


def test_all_silent_signal_has_no_spans():
    assert slice_spans(np.zeros(48000, dtype=np.float32), 16000, SlicerConfig.rvc()) == []


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="min_length_ms >= min_interval_ms >= hop_ms"):
        SlicerConfig(min_length_ms=100, min_interval_ms=200)
    with pytest.raises(ConfigError, match="max_silence_kept_ms"):
        from_dict(SlicerConfig, {"hop_ms": 20, "max_silence_kept_ms": 10})
    with pytest.raises(ValueError, match="empty"):
        slice_spans(np.zeros(0), 16000, SlicerConfig.rvc())


RATE = 8000
HOP_MS = 10.0


@st.composite
def tone_and_silence(draw):
    """A signal of loud (0.5 sine) and quiet (noise at 1e-4 or zeros) stretches, and a config."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    parts = []
    loud = draw(st.booleans())
    for length_ms in draw(st.lists(st.integers(1, 1500), min_size=1, max_size=8)):
        n = length_ms * RATE // 1000 + 1
        if loud:
            parts.append(0.5 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE))
        else:
            parts.append(rng.standard_normal(n) * draw(st.sampled_from([0.0, 1e-4])))
        loud = not loud
    min_interval = draw(st.sampled_from([10.0, 30.0, 100.0]))
    config = SlicerConfig(
        threshold_db=draw(st.sampled_from([-42.0, -30.0])),
        min_length_ms=draw(st.sampled_from([100.0, 500.0, 1500.0])),
        min_interval_ms=min_interval,
        hop_ms=HOP_MS,
        max_silence_kept_ms=draw(st.sampled_from([10.0, 50.0, 200.0, 500.0])),
    )
    return np.concatenate(parts).astype(np.float32), config


@settings(derandomize=True, max_examples=60, deadline=None)
@given(tone_and_silence())
def test_spans_are_sorted_disjoint_and_drop_only_silence(case):
    samples, config = case
    n = samples.shape[0]
    spans = slice_spans(samples, RATE, config)
    for start, end in spans:
        assert 0 <= start < end <= n
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start
    frames = SlicerFrames.from_config(config, RATE)
    if n <= frames.min_length:
        assert spans == [(0, n)]
        return
    rms = frame_rms(samples, frames.frame_length, frames.hop_length)
    kept = np.zeros(n, dtype=bool)
    for start, end in spans:
        kept[start:end] = True
    centres = np.arange(rms.shape[0]) * frames.hop_length
    inside = centres < n
    # every frame centred in a removed stretch is silent, so every loud frame is kept
    assert np.all(rms[inside][~kept[centres[inside]]] < np.float32(frames.threshold))
    # the spans and the removed stretches partition the signal: the removed ones are exactly
    # the silence tags (a cut that removes nothing leaves two spans back to back)
    removed = [(a, b) for a, b in silence_tags(rms, frames) if a < b]
    hop = frames.hop_length
    assert (~kept).sum() == sum(min(n, b * hop) - min(n, a * hop) for a, b in removed)
