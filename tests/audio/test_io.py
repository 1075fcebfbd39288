from __future__ import annotations

import numpy as np
import pytest
import soundfile

from tests.conftest import require_module
from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.core.errors import BadInputError


def sine(rate: int, seconds: float, hz: float = 220.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.5 * np.sin(2 * np.pi * hz * (c + 1) * t) for c in range(channels)]).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_wav_round_trip_scales_integers_like_the_references(tmp_path, subtype):
    x = sine(16000, 0.5)
    path = tmp_path / f"a {subtype} é.wav"
    io.save(path, Audio(x, 16000), subtype=subtype)
    audio = io.load(path)
    assert audio.sample_rate == 16000
    step = {"PCM_16": 2**-15, "PCM_24": 2**-23, "PCM_32": 2**-31, "FLOAT": 0.0}[subtype]
    np.testing.assert_allclose(audio.samples, x, atol=step)


def test_downmix_is_channel_mean_and_resample_hits_rate(tmp_path):
    x = sine(48000, 1.0, channels=6)
    path = tmp_path / "six.flac"
    io.save(path, Audio(x, 48000), subtype="PCM_24")
    audio = io.load(path, sample_rate=16000)
    assert audio.num_channels == 1
    assert audio.sample_rate == 16000
    assert audio.num_samples == 16000
    both = io.load(path, mono=False)
    assert both.num_channels == 6
    np.testing.assert_allclose(io.load(path).samples[0], both.samples.mean(axis=0), atol=1e-6)


def test_ffmpeg_formats_decode_through_pyav(tmp_path):
    av = require_module("av", "decoding compressed audio needs PyAV")
    path = tmp_path / "tone.m4a"
    rate = 44100
    x = sine(rate, 1.0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    audio = io.load(path)
    assert audio.sample_rate == rate
    assert abs(audio.num_samples - rate) < 4096  # encoder priming and padding
    assert 0.3 < np.abs(audio.samples).max() < 0.7


def test_wrong_extension_is_probed_by_content(tmp_path):
    path = tmp_path / "really_wav.mp3"
    soundfile.write(str(path), sine(8000, 0.25)[0], 8000, format="WAV")
    assert io.load(path).sample_rate == 8000


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00garbage" * 10), "cannot decode"),
        (
            lambda p: soundfile.write(str(p), np.array([np.nan, 0.1], np.float32), 8000, subtype="FLOAT"),
            "NaN",
        ),
        (lambda p: soundfile.write(str(p), np.zeros(0, np.float32), 8000, subtype="FLOAT"), "zero samples"),
    ],
)
def test_bad_files_raise_with_the_path_and_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(BadInputError, match=reason) as error:
        io.load(path)
    assert str(path) in str(error.value)


def test_missing_and_unwritable_paths(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        io.load(tmp_path / "nope.wav")
    with pytest.raises(BadInputError, match="cannot write"):
        io.save(tmp_path / "x.mp3", Audio.from_mono(np.zeros(4), 8000))
