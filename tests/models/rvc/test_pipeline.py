"""RVC's offline conversion end to end against the reference's WebUI path (fixtures/rvc/e2e)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from timbrel.audio import io
from timbrel.audio.filters import highpass_zero_phase
from timbrel.features.pitch import registry
from timbrel.models.rvc.pipeline import WINDOW, Chunking, RVCConvertOptions, RVCVoice, quiet_cut_points
from timbrel.weights.hubert import load_hubert
from timbrel.weights.rvc import load_voice_model
from timbrel.weights.rvc_index import read_index


@pytest.fixture(scope="module")
def e2e(fixtures):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    voice = RVCVoice(
        load_voice_model(root / settings["model_file"]),
        load_hubert(root / "hubert"),
        registry.create,
        read_index(root / settings["index_file"]),
    )
    config = settings["config"]
    chunking = Chunking(config["x_pad"], config["x_query"], config["x_center"], config["x_max"])
    given = settings["settings"]
    options = RVCConvertOptions(
        f0_method=given["f0_method"],
        key_shift_semitones=given["f0_up_key"],
        index_rate=given["index_rate"],
        protect=given["protect"],
        rms_mix_rate=given["rms_mix_rate"],
        speaker=given["sid"],
        output_sample_rate=given["resample_sr"] or None,
        chunking=chunking,
    )
    return root, settings, voice, options


def test_cut_points_of_long_input(e2e):
    root, settings, _, options = e2e
    case = settings["cases"]["long"]
    audio = io.load(root / case["input_file"], sample_rate=16000).mono
    audio = highpass_zero_phase(audio / max(1.0, np.abs(audio).max() / 0.95), 16000)
    cuts = [t // WINDOW * WINDOW for t in quiet_cut_points(audio, options.chunking)]
    assert cuts == case["cut_points_t"]


@pytest.mark.parametrize("case_name", ["short", "long"])
def test_conversion_matches_reference_output(e2e, case_name):
    root, settings, voice, options = e2e
    case = settings["cases"][case_name]
    intermediates = torch.load(root / f"intermediates_{case_name}.pt", weights_only=True)
    if "audio_16k_loaded" in intermediates:
        audio_16k = intermediates["audio_16k_loaded"].numpy()
    else:
        audio_16k = io.load(root / case["input_file"], sample_rate=16000).mono
    converted = voice.convert_16k(audio_16k, options)
    expected, rate = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert rate == case["tgt_sr"]
    assert converted.shape == expected.shape == (case["output_samples"],)
    difference = np.abs(converted.astype(np.int32) - expected.astype(np.int32))
    assert difference.max() <= 4, difference.max()
