from __future__ import annotations

import os
import time

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


def wav_with_header_rate(path, rate: int) -> None:
    """A real 16-bit WAV of 22,000 samples whose fmt chunk then claims ``rate``."""
    soundfile.write(str(path), sine(16000, 1.375)[0], 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"fmt "
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (rate * 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("rate", [1, io.MIN_SAMPLE_RATE_HZ - 1, io.MAX_SAMPLE_RATE_HZ + 1])
def test_implausible_header_rates_are_refused_before_decoding(tmp_path, rate):
    path = tmp_path / "odd rate.wav"
    wav_with_header_rate(path, rate)
    for read in (io.decode, io.info):
        with pytest.raises(BadInputError, match=f"implausible sample rate {rate} Hz") as error:
            read(path)
        assert str(path) in str(error.value)


def test_the_plausible_rate_bounds_are_accepted(tmp_path):
    path = tmp_path / "low.wav"
    wav_with_header_rate(path, io.MIN_SAMPLE_RATE_HZ)
    assert io.decode(path).sample_rate == io.MIN_SAMPLE_RATE_HZ


def test_a_header_claiming_more_samples_than_the_limit_is_refused(tmp_path):
    path = tmp_path / "long.flac"
    soundfile.write(str(path), sine(16000, 0.5)[0], 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    # STREAMINFO: 4-byte "fLaC", 4-byte block header; total samples are the low 36 bits of bytes 21..25
    claimed = io.MAX_DECODED_SAMPLES + 1
    data[21] = (data[21] & 0xF0) | (claimed >> 32)
    data[22:26] = (claimed & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert soundfile.info(str(path)).frames == claimed  # libsndfile believes the header
    with pytest.raises(BadInputError, match="the header claims") as error:
        io.decode(path)
    assert str(path) in str(error.value)


def make_fifo(path):
    os.mkfifo(path)


def make_loop(path):
    path.symlink_to(path.with_name("loop b.wav"))
    path.with_name("loop b.wav").symlink_to(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (make_fifo, "is a named pipe (FIFO), not a regular audio file"),
        (make_loop, "symbolic link loop"),
        (lambda p: p.symlink_to(p.with_name("gone.wav")), "broken symbolic link"),
        (lambda p: p.write_text("lyrics, not audio\n"), "cannot decode: it is a text file, not audio"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)), "cannot decode: it is a PNG image"),
        (lambda p: p.write_bytes(bytes(range(256)) * 4), "cannot decode: not in any audio format"),
        (
            lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(30)),
            "cannot decode: damaged or cut-short WAV data",
        ),
    ],
)
def test_odd_entries_get_one_plain_sentence(tmp_path, make, reason):
    path = tmp_path / "odd entry.wav"
    make(path)
    with pytest.raises(BadInputError) as error:
        io.decode(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and reason in message
    assert "\n" not in message and "Errno" not in message and "Invalid data" not in message


def test_float_wavs_are_byte_identical_across_writes(tmp_path):
    audio = Audio(sine(16000, 0.25, channels=2), 16000)
    io.save(tmp_path / "a.wav", audio, subtype="FLOAT")
    first = (tmp_path / "a.wav").read_bytes()
    os.utime(tmp_path / "a.wav", (0, 0))
    time.sleep(1.1)  # the PEAK chunk's timestamp counts seconds
    io.save(tmp_path / "a.wav", audio, subtype="FLOAT")
    assert (tmp_path / "a.wav").read_bytes() == first
    assert b"PEAK" not in first
    np.testing.assert_array_equal(io.decode(tmp_path / "a.wav").samples, audio.samples)


def test_eight_channels_through_ffmpeg_decode_without_a_crash(tmp_path):
    # PyAV's to_ndarray reads a ninth plane of an eight-channel frame (a segmentation fault)
    x = sine(16000, 0.5, channels=8) * 0.5
    path = tmp_path / "eight.mka"  # a name libsndfile does not take: the ffmpeg path decodes it
    soundfile.write(str(path), x.T, 16000, subtype="PCM_16", format="FLAC")
    audio = io.decode(path)
    assert audio.num_channels == 8
    np.testing.assert_allclose(audio.samples, x, atol=2**-15)
