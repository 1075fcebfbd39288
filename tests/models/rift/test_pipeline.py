"""RIFT conversion: the reference infer.py run of fixtures/rift/e2e (fp32, recorded noise), and the
pipeline's own contracts on tiny random models."""

import json

import numpy as np
import pytest
import soundfile
import torch

from tests import parity
from timbrel import api
from timbrel.audio import io
from timbrel.audio.slicing import SlicerConfig, slice_spans
from timbrel.core.audio import Audio
from timbrel.core.errors import ConfigError
from timbrel.features.content.hubert import HubertConfig, HubertModel
from timbrel.features.pitch.rmvpe import RmvpeConfig, RmvpeExtractor
from timbrel.features.pitch.rmvpe_network import E2E, E2EConfig
from timbrel.models.base import VoiceModel
from timbrel.models.rift.dit import DiT, DiTConfig
from timbrel.models.rift.pipeline import (
    RIFTConvertOptions,
    RIFTNoise,
    RIFTVoice,
    processing_batches,
    to_model_rate,
)
from timbrel.vocoders.nsf_hifigan import NsfHifiGan, NsfHifiGanConfig


def options_from_settings(speaker: str, s: dict) -> RIFTConvertOptions:
    """infer.py's keyword arguments -> options."""
    return RIFTConvertOptions(
        speaker=speaker,
        key_shift_semitones=s["key_shift"],
        infer_steps=s["infer_steps"],
        ds_cfg_strength=s["ds_cfg_strength"],
        spk_cfg_strength=s["spk_cfg_strength"],
        skip_cfg_strength=s["skip_cfg_strength"],
        cfg_skip_layers=s["cfg_skip_layers"],
        cfg_rescale=s["cfg_rescale"],
        cvec_downsample_rate=s["cvec_downsample_rate"],
        robust_f0=s["robust_f0"],
        batch_size=s["batch_size"],
        precision=("bf16" if s["device"] == "cpu" else "fp16") if s["use_fp16"] else "fp32",
        fade_ms=s["fade_duration"],
        target_lufs=s["target_loudness"],
        restore_loudness=s["restore_loudness"],
        slicer=SlicerConfig(
            s["slicer_threshold"],
            s["slicer_min_length"],
            s["slicer_min_interval"],
            s["slicer_hop_size"],
            s["slicer_max_sil_kept"],
        ),
    )


def test_end_to_end_matches_reference(fixtures, monkeypatch):
    """Segments, batch order and frame lengths exactly; every segment's features, every batch's sampled
    mel and the output waveform at the README's tolerances."""
    folder = fixtures / "rift" / "e2e"
    info = json.loads((folder / "settings.json").read_text())
    reference = torch.load(folder / "intermediates.pt", weights_only=True)
    pretrained = folder / "pretrained"
    voice = api.load(  # as a user loads it: the family from the file
        folder / "model-step=2.ckpt",
        contentvec=pretrained / "content-vec-best",
        rmvpe=pretrained / "rmvpe" / "model.pt",
        vocoder=pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
    )
    assert isinstance(voice, RIFTVoice)
    assert voice.speakers == tuple(sorted(info["spk2idx"], key=info["spk2idx"].get))
    options = options_from_settings(info["speaker"], info["settings"])
    audio = io.load(folder / "input.wav")

    spans = slice_spans(to_model_rate(audio), voice.sample_rate, options.slicer)
    assert [[a, b - a] for a, b in spans] == reference["segments_start_and_length"].tolist()

    recorded = []
    iter_batches = voice.iter_batches

    def recording(*args, **kwargs):
        for batch in iter_batches(*args, **kwargs):
            recorded.append(batch)
            yield batch

    monkeypatch.setattr(voice, "iter_batches", recording)
    noise = RIFTNoise(initial_noise=reference["initial_noise_in_call_order"], vocoder_source="zeros")
    output = voice.convert(audio, options, noise)

    assert [list(b.segments) for b in recorded] == [b["segment_indices"] for b in info["batches"]]
    assert [i for b in recorded for i in b.segments] == list(reference["processing_order"])
    features = [item for batch in recorded for item in batch.features]
    mel_config = voice.features.mel.config
    mel_terms = mel_config.n_fft + mel_config.n_fft // 2 + 1  # the DFT, then the filterbank
    content_terms = parity.network_terms(voice.features.content_model)
    for ours, theirs in zip(features, reference["extract_features_in_call_order"], strict=True):
        assert ours.n_samples == theirs["audio_segment_len"]
        assert ours.original_lufs == pytest.approx(theirs["original_loudness"], abs=1e-9)
        parity.log_close(ours.mel, theirs["mel"][0], terms=mel_terms, what="segment mel")
        parity.float32_close(ours.rms, theirs["rms"][0], terms=mel_config.win_length, what="segment rms")
        for name, key in (("content", "cvec"), ("bad_content", "cvec_ds")):
            parity.float32_close(getattr(ours, name), theirs[key][0], terms=content_terms, what=name)
        torch.testing.assert_close(ours.f0_hz, theirs["f0"][0], atol=1e-3, rtol=0)
    sampling_terms = parity.network_terms(voice.dit) * 4 * options.infer_steps  # up to 4 passes a step
    for ours, theirs in zip(recorded, reference["batches"], strict=True):
        assert [item.n_frames for item in ours.features] == theirs["frame_lengths"].tolist()
        parity.float32_close(ours.sampled.mel, theirs["mel_out"], terms=sampling_terms, what="sampled mel")

    expected, rate = soundfile.read(folder / "output.wav", dtype="float32")
    assert output.sample_rate == rate and output.samples.shape == (1, len(expected))
    # the vocoder's own chain after the sampled mel's rounding (relative to its magnitude ~10)
    terms = parity.network_terms(voice.vocoder) + sampling_terms * 10**2
    parity.float32_close(output.samples[0], expected, terms=terms, what="output waveform")


# Tiny random models --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_voice():
    torch.manual_seed(0)
    dit = DiT(DiTConfig.tiny(num_speakers=2))
    vocoder = NsfHifiGan(NsfHifiGanConfig(upsample_initial_channel=32))
    content = HubertModel(HubertConfig.tiny())
    rmvpe = RmvpeExtractor(E2E(E2EConfig.tiny()), RmvpeConfig.rift())
    return RIFTVoice(dit, {"alto": 0, "bass": 1}, vocoder, content, rmvpe)


def tone(seconds: float, sample_rate: int = 44100, channels: int = 1) -> Audio:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.2 * np.sin(2 * np.pi * 3 * t))
    return Audio(np.tile(wave.astype(np.float32), (channels, 1)), sample_rate)


def test_is_a_voice_model(tiny_voice):
    assert isinstance(tiny_voice, VoiceModel)
    assert (tiny_voice.family, tiny_voice.sample_rate, tiny_voice.speakers) == (
        "rift",
        44100,
        ("alto", "bass"),
    )


def test_speaker_by_name_or_index(tiny_voice):
    assert tiny_voice.speaker_id("bass") == tiny_voice.speaker_id(1) == 1
    with pytest.raises(ConfigError, match=r"'tenor'.*\['alto', 'bass'\]"):
        tiny_voice.speaker_id("tenor")
    with pytest.raises(ConfigError, match=r"0\.\.1"):
        tiny_voice.speaker_id(2)


def test_output_has_the_input_duration_at_44k(tiny_voice):
    options = RIFTConvertOptions(infer_steps=2, skip_cfg_strength=0.3, cfg_skip_layers=1)
    out = tiny_voice.convert(tone(0.6, 48000, channels=2), options, RIFTNoise(generator=torch.Generator()))
    assert out.sample_rate == 44100 and out.samples.shape == (1, int(0.6 * 44100))
    assert out.samples.dtype == np.float32 and np.isfinite(out.samples).all() and out.samples.any()


def test_seeded_runs_repeat_and_every_slice_keeps_its_length(tiny_voice):
    segments = [tone(0.3).mono, tone(0.5).mono, tone(0.2).mono]
    lengths = [len(s) // 512 for s in segments]

    def run(batch_size):
        options = RIFTConvertOptions(infer_steps=2, batch_size=batch_size, restore_loudness=False)
        order = processing_batches([len(s) for s in segments], batch_size)
        noise = [
            torch.randn(len(b), max(lengths[i] for i in b), 128, generator=torch.Generator().manual_seed(1))
            for b in order
        ]
        batches = tiny_voice.iter_batches(segments, 0, options, RIFTNoise(noise, vocoder_source="zeros"))
        return {i: w for b in batches for i, w in zip(b.segments, b.waves, strict=True)}

    first, again = run(3), run(3)
    assert sorted(first) == [0, 1, 2]
    for index, wave in first.items():
        assert len(wave) == len(segments[index])
        np.testing.assert_array_equal(wave, again[index])


def test_silent_input_gives_silence(tiny_voice):
    out = tiny_voice.convert(Audio.from_mono(np.zeros(44100 * 4, np.float32), 44100), RIFTConvertOptions())
    assert out.samples.shape == (1, 44100 * 4) and not out.samples.any()


def test_batches_sort_by_length():
    assert processing_batches([5, 2, 9, 2], 3) == [[1, 3, 0], [2]]
    assert processing_batches([5, 2], 1) == [[1], [0]]


def test_wrong_initial_noise_is_refused(tiny_voice):
    noise = RIFTNoise(initial_noise=[torch.zeros(1, 3, 128)])
    with pytest.raises(ConfigError, match="initial noise of shape"):
        list(tiny_voice.iter_batches([tone(0.3).mono], 0, RIFTConvertOptions(infer_steps=2), noise))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"infer_steps": 1}, "infer_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"robust_f0": 3}, "robust_f0"),
        ({"precision": "int8"}, "precision"),
        ({"cvec_downsample_rate": 0}, "cvec_downsample_rate"),
        ({"skip_cfg_strength": 0.5}, "cfg_skip_layers"),
        ({"solver": "rk4"}, "solver"),
        ({"fade_ms": -1.0}, "fade_ms"),
    ],
)
def test_bad_options(override, message):
    with pytest.raises(ConfigError, match=message):
        RIFTConvertOptions(**override)


def test_batched_guidance_equals_sequential_and_bf16_stays_close(tiny_voice):
    segment = tone(0.5).mono

    def sampled(**override):
        options = RIFTConvertOptions(infer_steps=3, skip_cfg_strength=0.2, cfg_skip_layers=1, **override)
        noise = RIFTNoise(generator=torch.Generator().manual_seed(0), vocoder_source="zeros")
        (batch,) = tiny_voice.iter_batches([segment], 1, options, noise)
        return batch.sampled.mel

    reference = sampled()
    torch.testing.assert_close(sampled(batched_guidance=False), reference, atol=1e-4, rtol=0)
    low = sampled(precision="bf16")
    assert low.dtype == torch.float32 and not torch.equal(low, reference)
    torch.testing.assert_close(low, reference, atol=1.0, rtol=0)


def test_the_float32_output_is_the_float64_one_rounded_once(tiny_voice):
    """convert() cross-fades onto a float32 buffer: the slices are disjoint, so each sample is one
    slice's float64 value, rounded once as convert_44k's float64 output would be."""
    phrase, rest = tone(3.5).mono, np.zeros(22050, np.float32)
    samples = np.concatenate([phrase, rest, phrase * 0.5, rest, phrase])
    spans = slice_spans(samples, 44100, RIFTConvertOptions().slicer)
    assert len(spans) == 3
    options = RIFTConvertOptions(infer_steps=2)

    def run(dtype):
        noise = RIFTNoise(generator=torch.Generator().manual_seed(0), vocoder_source="zeros")
        return tiny_voice.convert_44k(samples, options, noise, dtype)

    wide, narrow = run(np.float64), run(np.float32)
    assert narrow.dtype == np.float32 and np.array_equal(narrow, wide.astype(np.float32))
