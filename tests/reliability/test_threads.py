"""Conversion output does not depend on the thread count beyond float32 rounding: the end-to-end
fixture conversion with 1 and with 2 threads (the summation order of every reduction changes)."""

from __future__ import annotations

import json

import torch

from tests import parity
from timbrel.audio import io
from timbrel.features.pitch import registry
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice
from timbrel.weights.hubert import load_hubert
from timbrel.weights.rvc import load_voice_model


def test_rvc_conversion_with_one_and_two_threads(fixtures):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    case = settings["settings"]
    voice = RVCVoice(
        load_voice_model(root / settings["model_file"]), load_hubert(root / "hubert"), registry.create
    )
    options = RVCConvertOptions(
        f0_method=case["f0_method"],
        key_shift_semitones=case["f0_up_key"],
        index_rate=0.0,
        protect=case["protect"],
        rms_mix_rate=case["rms_mix_rate"],
        speaker=case["sid"],
    )
    audio = io.load(root / settings["cases"]["short"]["input_file"], sample_rate=16000).mono
    threads = torch.get_num_threads()
    try:
        outputs = []
        for count in (1, 2):
            torch.set_num_threads(count)
            outputs.append(voice.convert_16k(audio, options))
    finally:
        torch.set_num_threads(threads)
    # both sides round through the content encoder and the synthesizer in float32
    terms = parity.network_terms(voice.content_model) + parity.network_terms(voice.synthesizer)
    parity.pcm_close(outputs[1], outputs[0], float_tolerance=parity.float32_tolerance(1.0, terms))
