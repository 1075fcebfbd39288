"""The streaming engine: settings, latency, split invariance, and agreement with offline conversion."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from timbrel.audio.filters import highpass_zero_phase
from timbrel.audio.sinc_resample import sinc_resample
from timbrel.core.errors import ConfigError
from timbrel.features.pitch import registry
from timbrel.features.pitch.base import PitchTrack
from timbrel.features.pitch.pm import PmConfig
from timbrel.infer.streaming import (
    HOP_16K,
    RANGES,
    StreamGeometry,
    StreamingConverter,
    StreamSettings,
    realtime_f0,
)
from timbrel.models.rvc.pipeline import RVCConvertOptions, RVCVoice

from .stand_ins import LocalContent, identity_voice, local_synthesizer

LSB = 1 / 32768  # the offline pipeline returns int16


def _vibrato(seconds: float, sample_rate: int, f0_hz: float = 220.0, amplitude: float = 0.5) -> np.ndarray:
    """A tone whose f0 swings ±0.5 semitone at 5 Hz: consecutive 10 ms frames differ by up to ~16 cents."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = f0_hz * 2 ** (0.5 / 12 * np.sin(2 * np.pi * 5 * t))
    return (amplitude * np.sin(2 * np.pi * np.cumsum(f0) / sample_rate)).astype(np.float32)


def _pm_realtime(method: str):
    return registry.create("pm", config=PmConfig.rvc_realtime())


@pytest.fixture(scope="module")
def local_f0_voice():
    return RVCVoice(local_synthesizer(use_f0=True), LocalContent(), _pm_realtime)


def test_default_geometry_and_latency():
    settings = StreamSettings()
    geometry = StreamGeometry.of(settings, 40000)
    frame = 40000 // 100
    assert geometry.frame == frame
    assert geometry.block == round(settings.block_s * 100) * frame
    assert geometry.sola_buffer == min(geometry.crossfade, 4 * frame)
    assert geometry.window == geometry.extra + geometry.crossfade + frame + geometry.block
    assert geometry.skip_head == geometry.extra // frame
    assert geometry.return_length * frame == geometry.block + geometry.sola_buffer + frame
    assert geometry.latency_s == pytest.approx(settings.block_s + settings.crossfade_s + 0.01)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"block_s": 0.005}, ["block_s", str(RANGES["block_s"][0]), str(RANGES["block_s"][1])]),
        ({"block_s": 0.05, "crossfade_s": 0.1}, ["crossfade_s", "block_s", "longer"]),
        ({"sample_rate": 22050}, ["22050", "multiple of 100"]),
        ({"sample_rate": 400}, ["400", "8000"]),
        ({"f0_method": "crepe-full"}, ["f0_method", "rmvpe"]),
        ({"key_shift_semitones": 20}, ["key_shift_semitones", "-16.0, 16.0"]),
        ({"index_rate": 1.5}, ["index_rate", "[0.0, 1.0]"]),
    ],
)
def test_bad_settings_name_the_allowed_range(values, words):
    with pytest.raises(ConfigError) as error:
        StreamSettings(**values)
    for word in words:
        assert word in str(error.value)


def test_converter_refuses_what_the_voice_lacks(local_f0_voice):
    with pytest.raises(ConfigError, match="needs a retrieval index"):
        StreamingConverter(local_f0_voice, StreamSettings(index_rate=0.5, f0_method="pm"))
    with pytest.raises(ConfigError, match=r"speaker 5 is out of range.*0\.\.2"):
        StreamingConverter(local_f0_voice, StreamSettings(speaker=5, f0_method="pm"))
    converter = StreamingConverter(local_f0_voice, StreamSettings(f0_method="pm", sample_rate=16000))
    with pytest.raises(ValueError, match="a block holds 4000 samples"):
        converter.process_block(np.zeros(100, dtype=np.float32))


def test_any_split_of_the_same_samples_gives_the_same_output(local_f0_voice):
    # every stage on: gate, formant shift, loudness mix, resampling 24 kHz <-> 16 kHz <-> 32 kHz
    settings = StreamSettings(
        f0_method="pm",
        sample_rate=24000,
        threshold_db=-30,
        formant_shift_semitones=1.0,
        rms_mix_rate=0.5,
        extra_s=0.5,
    )
    audio = _vibrato(1.6, 24000)
    audio[9000:15000] *= 0.001  # below the gate
    one_by_one = StreamingConverter(local_f0_voice, settings)
    block = one_by_one.geometry.block
    expected = np.concatenate([one_by_one.push(audio[i : i + block]) for i in range(0, len(audio), block)])
    assert len(expected) == len(audio)
    assert np.abs(expected).max() > 0.01
    whole = StreamingConverter(local_f0_voice, settings).push(audio)
    np.testing.assert_array_equal(whole, expected)
    uneven = StreamingConverter(local_f0_voice, settings)
    cuts = [0, 1, 777, 6000, 6001, 20000, len(audio)]
    pieces = [uneven.push(audio[a:b]) for a, b in itertools.pairwise(cuts)]
    assert [len(p) for p in pieces] == np.diff(cuts).tolist()
    np.testing.assert_array_equal(np.concatenate(pieces), expected)
    again = StreamingConverter(local_f0_voice, settings)
    again.push(audio)
    again.reset()
    np.testing.assert_array_equal(again.push(audio), expected)


@pytest.mark.parametrize("sample_rate", [16000, 48000])
def test_a_click_comes_out_at_the_stated_latency(sample_rate):
    """The identity voice passes its input through at 16 kHz, so where each click comes out is
    decided by the engine alone: the block it waits for, the crossfade and search samples it lags,
    and the SOLA offset (within one frame earlier)."""
    converter = StreamingConverter(identity_voice(), StreamSettings(sample_rate=sample_rate, extra_s=0.3))
    geometry = converter.geometry
    period = int(0.37 * sample_rate)  # not a multiple of the block: clicks land anywhere in one
    clicks = np.arange(period, 4 * sample_rate, period)
    audio = np.zeros(4 * sample_rate + geometry.latency_samples, dtype=np.float32)
    audio[clicks] = 0.5
    out = converter.push(audio)
    for click in clicks:
        window = out[click : click + geometry.latency_samples + geometry.frame]
        delay = int(np.argmax(np.abs(window)))
        assert np.abs(window[delay]) > 0.25, click
        assert geometry.latency_samples - geometry.frame - 1 <= delay <= geometry.latency_samples + 1, (
            click,
            delay,
        )


def test_a_sine_shows_no_jump_at_the_seams():
    """Identity voice: the output is the sine again, so no step between neighbouring samples may
    exceed the sine's steepest one (2π f A / rate), plus 2% for the two band-limited resamplings."""
    sample_rate, f0_hz, amplitude = 44100, 441.0, 0.5
    converter = StreamingConverter(identity_voice(), StreamSettings(sample_rate=sample_rate, extra_s=0.3))
    t = np.arange(3 * sample_rate) / sample_rate
    out = converter.push((amplitude * np.sin(2 * np.pi * f0_hz * t)).astype(np.float32))
    settled = out[2 * converter.geometry.latency_samples :]
    steepest = 2 * np.pi * f0_hz * amplitude / sample_rate
    assert np.abs(np.diff(settled)).max() <= 1.02 * steepest
    assert np.abs(settled).max() == pytest.approx(amplitude, rel=0.02)


def test_a_sine_through_a_voice_model_has_no_click_at_the_seams(local_f0_voice):
    """A real synthesizer (no attention layers) restarts its excitation every block: SOLA and the
    sin² cross-fade must hide that, so the largest step next to a seam is no larger than the
    largest step inside the blocks."""
    converter = StreamingConverter(local_f0_voice, StreamSettings(f0_method="pm", sample_rate=16000))
    geometry = converter.geometry
    t = np.arange(4 * 16000) / 16000
    out = converter.push((0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    steps = np.abs(np.diff(out))
    seams = np.arange(2 * geometry.block, len(out) - 1, geometry.block)  # block starts, after warm-up
    near = np.zeros(len(steps), dtype=bool)
    for seam in seams:
        near[seam - 2 : seam + 2] = True
    inside = ~near
    inside[: 2 * geometry.block] = False
    assert steps[inside].max() > 0.01
    assert steps[near].max() <= steps[inside].max()


def _flow_radius(synthesizer) -> int:
    """Frames either side of one that the flow's WaveNet convolutions reach."""
    couplings = synthesizer.flow.flows[::2]
    return sum(
        (conv.kernel_size[0] - 1) // 2 * conv.dilation[0] for c in couplings for conv in c.enc.in_layers
    )


def test_streaming_equals_offline_away_from_the_seams():
    """With a model of finite reach the streamed blocks equal the offline conversion wherever the
    decoder and the flow saw no edge of the streamed window.

    The block (1 s) is a whole number of 20 ms content frames, so the streamed window's content
    grid lines up with the offline one (with 0.25 s every other block's grid is 10 ms off, as in
    the reference), and long enough to leave samples out of reach of both window edges. The stream
    runs at 16 kHz on the high-passed input the offline pipeline makes of the same samples, so both
    models see equal 16 kHz audio. Tolerance: the offline int16 output (truncation, under 1 LSB,
    through the 32 -> 16 kHz sinc whose taps sum to under 2 in absolute value: 2 LSB) plus float32
    rounding of convolutions over windows of other lengths (1e-5 at these magnitudes, the fixture
    README's figure).
    """
    voice = RVCVoice(local_synthesizer(use_f0=False), LocalContent(), None)
    settings = StreamSettings(block_s=1.0, sample_rate=16000, rms_mix_rate=1.0, extra_s=1.0)
    converter = StreamingConverter(voice, settings)
    g = converter.geometry
    rng = np.random.default_rng(0)
    audio = (_vibrato(5.0, 16000) + 0.05 * rng.standard_normal(5 * 16000)).astype(np.float32)
    offline_int16 = voice.convert_16k(audio, RVCConvertOptions(index_rate=0.0, rms_mix_rate=1.0))
    offline = sinc_resample(
        torch.from_numpy(offline_int16.astype(np.float32) / 32768), 32000, 16000, precision="transform"
    ).numpy()
    seen = highpass_zero_phase(audio / max(1.0, np.abs(audio).max() / 0.95), 16000).astype(np.float32)
    decoder_reach = voice.synthesizer.dec.receptive_radius()
    # decoder frames whose inputs the window's end did not reach through the flow and the decoder
    exact_until = min(g.return_length, g.window // g.frame - g.skip_head - _flow_radius(voice.synthesizer))
    lag = g.crossfade + g.sola_search
    compared = 0
    for i in range(len(seen) // g.block):
        streamed = converter.process_block(seen[i * g.block : (i + 1) * g.block])
        offset = converter.last_sola_offset
        # emitted sample k is decoder output sample offset + k
        first = max(g.sola_buffer, decoder_reach * g.frame - offset)
        last = (exact_until - decoder_reach) * g.frame - offset
        start = i * g.block - lag + offset
        if start + first < g.extra:  # the first block holds the window's initial silence
            continue
        expected = offline[start + first : start + last]
        assert np.abs(expected).max() > 0.05
        np.testing.assert_allclose(streamed[first:last], expected, rtol=0, atol=2 * LSB + 1e-5)
        compared += last - first
    assert compared > 0.4 * len(seen)


def test_streamed_f0_equals_offline_f0_after_alignment(local_f0_voice):
    """The pitch cache puts each block's f0 on the frames the synthesizer reads. Against the f0 of
    the whole signal (same extractor, frame k centred on sample 160 k) it agrees within 1 cent;
    Praat's windows see the same samples, only its path search sees more. A one-frame slip on
    this vibrato costs more than 10 cents, which the last assertion confirms."""
    key = 3.0
    settings = StreamSettings(f0_method="pm", sample_rate=16000, key_shift_semitones=key, extra_s=1.0)
    converter = StreamingConverter(local_f0_voice, settings)
    g = converter.geometry
    audio = _vibrato(4.0, 16000)
    _, whole = realtime_f0(_pm_realtime("pm").extract(audio).f0_hz, key)
    window_frames = g.window_16k // HOP_16K
    errors, slipped = [], []
    for i in range(len(audio) // g.block):
        converter.process_block(audio[i * g.block : (i + 1) * g.block])
        first = ((i + 1) * g.block_16k - g.window_16k) // HOP_16K + g.skip_head
        if first < 10:  # the signal's onset
            continue
        used = converter.f0_cache[-window_frames:][g.skip_head : g.skip_head + g.return_length]
        errors.append(1200 * np.log2(used / whole[first : first + g.return_length]))
        slipped.append(1200 * np.log2(used / whole[first + 1 : first + 1 + g.return_length]))
    assert len(errors) >= 10
    assert np.abs(np.concatenate(errors)).max() < 1.0
    assert np.abs(np.concatenate(slipped)).max() > 10.0


class _RecordingExtractor:
    """Returns a constant 200 Hz track of the method's frame count and records each input length."""

    sample_rate, hop_length = 16000, 160

    def __init__(self):
        self.lengths = []

    def extract(self, samples):
        self.lengths.append(len(samples))
        return PitchTrack(np.full(len(samples) // 160 + 1, 200.0), 16000, 160)


@pytest.mark.parametrize("method", ["rmvpe", "fcpe"])
def test_f0_window_and_cache(method):
    extractor = _RecordingExtractor()
    voice = RVCVoice(local_synthesizer(use_f0=True), LocalContent(), lambda name: extractor)
    settings = StreamSettings(f0_method=method, sample_rate=16000, extra_s=1.0, key_shift_semitones=12)
    converter = StreamingConverter(voice, settings)
    g = converter.geometry
    converter.process_block(np.zeros(g.block, dtype=np.float32))
    length = g.block_16k + 800
    if method == "rmvpe":
        length = 5120 * -(-length // 5120) - 160  # RMVPE's window: whole 5120-sample units, less a hop
    assert extractor.lengths == [length]
    written = length // 160 + 1 - 4  # all frames but the first 3 and the last
    assert np.all(converter.f0_cache[-written:] == 400.0)  # +12 semitones
    assert np.all(converter.f0_cache[:-written] == 0.0)
    converter.process_block(np.zeros(g.block, dtype=np.float32))
    assert np.all(converter.f0_cache[-written - g.block_16k // 160 :] == 400.0)


class _RecordingIndex:
    def __init__(self):
        self.queries = []

    def retrieve(self, queries, k, nprobe):
        self.queries.append(len(queries))
        return np.zeros_like(queries)


def test_index_blends_only_the_frames_after_skip_head():
    index = _RecordingIndex()
    voice = RVCVoice(local_synthesizer(use_f0=False), LocalContent(), None, index)
    converter = StreamingConverter(voice, StreamSettings(sample_rate=16000, index_rate=0.5, extra_s=1.0))
    g = converter.geometry
    converter.process_block(np.zeros(g.block, dtype=np.float32))
    content_frames = (g.window_16k - 400) // 320 + 1 + 1  # HuBERT framing, plus the repeated last frame
    assert index.queries == [content_frames - g.skip_head // 2]


def test_gate_silences_quiet_frames_only():
    settings = StreamSettings(sample_rate=16000, threshold_db=-40, extra_s=0.3)
    converter = StreamingConverter(identity_voice(), settings)
    g = converter.geometry
    audio = _vibrato(3.0, 16000, amplitude=0.3)
    audio[16000:32000] *= 10 ** (-60 / 20)  # 0.3 at -60 dB: about -70 dB RMS, under -40
    out = converter.push(np.concatenate([audio, np.zeros(g.latency_samples, dtype=np.float32)]))
    delayed = out[g.latency_samples :]
    margin = 4 * g.frame + g.frame  # the gate's RMS window and the SOLA offset
    assert np.all(delayed[16000 + margin : 32000 - margin] == 0)
    for loud in (slice(8000, 16000 - margin), slice(32000 + margin, 40000)):
        assert np.abs(delayed[loud]).max() > 0.25
        assert np.count_nonzero(delayed[loud]) > 0.9 * (loud.stop - loud.start)


def test_reference_tiny_voice_streams_at_the_input_rate(fixtures):
    """The reference's tiny end-to-end voice (HuBERT, index, 32 kHz synthesizer) on its 40 kHz
    input with every default but the pitch method: one output sample per input sample, finite,
    and sound only once the first block has passed."""
    import json

    from timbrel.audio import io
    from timbrel.weights.hubert import load_hubert
    from timbrel.weights.rvc import load_voice_model
    from timbrel.weights.rvc_index import read_index

    root = fixtures / "rvc" / "e2e"
    config = json.loads((root / "settings.json").read_text())
    voice = RVCVoice(
        load_voice_model(root / config["model_file"]),
        load_hubert(root / "hubert"),
        registry.create,
        read_index(root / config["index_file"]),
    )
    audio = io.load(root / config["cases"]["short"]["input_file"])
    settings = StreamSettings(f0_method="pm", index_rate=0.5, sample_rate=audio.sample_rate)
    converter = StreamingConverter(voice, settings)
    out = converter.push(audio.mono)
    assert out.shape == audio.mono.shape
    assert np.isfinite(out).all()
    assert np.all(out[: converter.geometry.block] == 0)
    assert np.abs(out[converter.geometry.latency_samples :]).max() > 1e-3
