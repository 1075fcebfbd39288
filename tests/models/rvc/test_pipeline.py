"""RVC's offline conversion end to end against the reference's WebUI path (fixtures/rvc/e2e)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tests import parity
from timbrel import api
from timbrel.audio import io
from timbrel.audio.filters import highpass_zero_phase
from timbrel.features.pitch import registry
from timbrel.models.rvc.pipeline import WINDOW, Chunking, RVCConvertOptions, RVCVoice, quiet_cut_points
from timbrel.weights.rvc import read_voice_model


@pytest.fixture(scope="module")
def e2e(fixtures):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    # as a user loads it: the family from the file, pitch methods by name
    voice = api.load(
        root / settings["model_file"], index=root / settings["index_file"], hubert=root / "hubert"
    )
    assert isinstance(voice, RVCVoice)
    config = settings["config"]
    chunking = Chunking(config["x_pad"], config["x_query"], config["x_center"], config["x_max"])
    given = settings["settings"]
    options = RVCConvertOptions(
        f0_method=given["f0_method"],
        key_shift_semitones=given["f0_up_key"],
        index_rate=given["index_rate"],
        protect=given["protect"],
        rms_mix_rate=given["rms_mix_rate"],
        filter_radius=given["filter_radius"],  # pm: the reference ignores it, and so must we
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
    parity.pcm_close(converted, expected, float_tolerance=e2e_float_tolerance(voice), what=case_name)


def e2e_version(root: Path) -> str:
    """The end-to-end voice model's version, which decides the content features (v1: HuBERT layer 9
    through final_proj, 256-d; v2: the last layer, 768-d)."""
    settings = json.loads((root / "settings.json").read_text())
    return read_voice_model(root / settings["model_file"]).version


def e2e_piece_s(settings: dict) -> float:
    """The piece length the e2e index's training audio was cut to (train/preprocess.py's per); the
    public set's settings do not record it, its README does: 3.0 s."""
    return settings["index_build"].get("preprocess_per", 3.0)


def e2e_float_tolerance(voice: RVCVoice) -> float:
    """The conversion's float32 rounding on the ±1 scale: HuBERT's chain of products and the
    synthesizer's, plus the retrieval (parity.float32_close's rule)."""
    terms = parity.network_terms(voice.content_model) + parity.network_terms(voice.synthesizer)
    return parity.float32_tolerance(1.0, terms)


def _converted(voice, options, case="short"):
    root = voice[0]
    audio = io.load(root / f"input_{case}.wav", sample_rate=16000).mono
    return voice[2].convert_16k(audio, options).astype(np.float64) / 32768.0


def _median_f0_hz(samples: np.ndarray, sample_rate: int) -> float:
    from timbrel.audio.resample import resample

    f0 = registry.create("pm").extract(resample(samples.astype(np.float32), sample_rate, 16000)).f0_hz
    return float(np.median(f0[f0 > 0]))


def _log_spectrum(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import welch

    freqs, power = welch(samples, sample_rate, nperseg=512)
    return freqs, np.log(power)


def test_formant_shift_moves_the_envelope_and_keeps_f0(e2e, monkeypatch):
    """The fixture voice's random decoder has no pitch of its own, so f0 is checked on the
    excitation it is driven with, stretched and brought back exactly as its output is."""
    import dataclasses

    from torch.nn import functional as F

    _, _, voice, options = e2e
    calls = []
    infer = voice.synthesizer.infer

    def recording_infer(*args, **kwargs):
        trace = infer(*args, **kwargs)
        calls.append((trace.har_source, kwargs.get("return_length2")))
        return trace

    monkeypatch.setattr(voice.synthesizer, "infer", recording_infer)
    plain = _converted(e2e, options)
    assert np.array_equal(plain, _converted(e2e, dataclasses.replace(options, formant_shift_semitones=0.0)))
    shift = 4.0
    shifted = _converted(e2e, dataclasses.replace(options, formant_shift_semitones=shift))
    assert shifted.shape == plain.shape
    rate = voice.sample_rate
    # The shifted spectrum is the plain one stretched along frequency by the formant factor.
    freqs, plain_db = _log_spectrum(plain, rate)
    _, shifted_db = _log_spectrum(shifted, rate)
    band = (freqs > 100) & (freqs < 0.45 * rate)
    stretched_db = np.interp(freqs[band] / 2 ** (shift / 12), freqs, plain_db)
    moved = np.mean(np.abs(shifted_db[band] - stretched_db))
    assert moved < 0.5 * np.mean(np.abs(shifted_db[band] - plain_db[band]))
    (plain_source, none), _, (source, stretched) = calls
    assert none is None and stretched > source.shape[-1] // voice.synthesizer.config.upsample_factor
    upp = voice.synthesizer.config.upsample_factor
    heard = F.interpolate(source, size=stretched * upp, mode="linear")[0, 0].numpy()
    heard = voice._unstretch(heard, shift, source.shape[-1] // upp)
    assert _median_f0_hz(heard, rate) == pytest.approx(
        _median_f0_hz(plain_source[0, 0].numpy(), rate), rel=0.02
    )


def test_auto_key_needs_statistics_and_shifts_to_the_model_median(e2e, monkeypatch):
    import dataclasses

    from timbrel.features.pitch.f0_stats import F0Stats

    _, _, voice, options = e2e
    f0_seen = []
    infer = voice.synthesizer.infer

    def recording_infer(content, lengths, pitch, f0_hz, *args, **kwargs):
        f0_seen.append(f0_hz[0].numpy())
        return infer(content, lengths, pitch, f0_hz, *args, **kwargs)

    monkeypatch.setattr(voice.synthesizer, "infer", recording_infer)
    auto = dataclasses.replace(options, auto_key=True, key_shift_semitones=0.0)
    with pytest.raises(ValueError, match="auto_key"):
        _converted(e2e, auto)
    _converted(e2e, dataclasses.replace(options, key_shift_semitones=0.0))
    plain_f0 = f0_seen.pop()
    median = float(np.median(plain_f0[plain_f0 > 0]))
    monkeypatch.setattr(voice, "f0_stats", F0Stats.from_f0([np.full(4, median * 2 ** (7 / 12))]))
    _converted(e2e, auto)
    assert np.allclose(f0_seen.pop(), plain_f0 * 2 ** (7 / 12), rtol=1e-5)


def test_bf16_synthesis_is_close_to_fp32(e2e):
    import dataclasses

    _, _, _, options = e2e
    reference = _converted(e2e, options)
    bf16 = _converted(e2e, dataclasses.replace(options, precision="bf16"))
    assert bf16.shape == reference.shape
    error = np.sqrt(np.mean((bf16 - reference) ** 2)) / np.sqrt(np.mean(reference**2))
    assert error < 0.1
