"""`timbrel stream` and `timbrel live` through the real entry point, on the RVC end-to-end fixture
model; the live test runs against real PortAudio devices backed by a PulseAudio server."""

from __future__ import annotations

import ctypes.util
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.signal import fftconvolve

from timbrel.audio import io
from timbrel.features.pitch import registry
from timbrel.infer.streaming import StreamingConverter, StreamSettings
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.weights.hubert import load_hubert
from timbrel.weights.rvc import load_voice_model

RATE = 16000  # the stream's rate, and the PulseAudio sinks'
BLOCK_MS = 500  # long blocks and little context: the tiny model keeps up on a busy machine
EXTRA_MS = 500


def run_cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True, env=env
    )


def model_arguments(root) -> list[str]:
    settings = json.loads((root / "settings.json").read_text())
    return ["--model", root / settings["model_file"], "--hubert", root / "hubert", "--f0-method", "pm"]


def test_stream_writes_what_the_engine_plays(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    source = root / settings["cases"]["short"]["input_file"]
    target = tmp_path / "streamed.wav"
    result = run_cli("stream", source, target, *model_arguments(root), "--block-ms", 200, "--key", 2)
    assert result.returncode == 0, result.stderr
    voice = RVCVoice(
        load_voice_model(root / settings["model_file"]), load_hubert(root / "hubert"), registry.create
    )
    converter = StreamingConverter(voice, StreamSettings(block_s=0.2, key_shift_semitones=2, f0_method="pm"))
    assert f"algorithmic latency {converter.geometry.latency_s * 1000:.0f} ms" in result.stderr
    samples = io.load(source, sample_rate=voice.sample_rate).mono
    expected = converter.push(
        np.concatenate([samples, np.zeros(converter.geometry.latency_samples, np.float32)])
    )
    streamed = io.load(target)
    assert streamed.sample_rate == voice.sample_rate
    np.testing.assert_allclose(streamed.mono, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--block-ms", 5], ["block_s", "[0.02, 1.5]"]),
        (["--sample-rate", 22050], ["22050", "multiple of 100"]),
        (["--index-rate", 0.5], ["needs a retrieval index"]),
    ],
)
def test_stream_refuses_bad_settings(fixtures, tmp_path, arguments, words):
    root = fixtures / "rvc" / "e2e"
    target = tmp_path / "o.wav"
    result = run_cli("stream", root / "input_short.wav", target, *model_arguments(root), *arguments)
    assert result.returncode == 2
    for word in words:
        assert word in result.stderr
    assert not target.exists()


PULSE_CONFIG = f"""
load-module module-native-protocol-unix
load-module module-null-sink sink_name=timbrel_mic rate={RATE} channels=1 format=float32le
load-module module-null-sink sink_name=timbrel_speaker rate={RATE} channels=1 format=float32le
set-default-source timbrel_mic.monitor
set-default-sink timbrel_speaker
"""


@pytest.fixture
def pulse(tmp_path):
    """A private PulseAudio server with two null sinks: what is played into timbrel_mic is the
    default source (its monitor), timbrel_speaker the default sink. PortAudio reaches it through
    ALSA's pulse device. -> the environment that points clients at it."""
    missing = [tool for tool in ("pulseaudio", "pactl", "paplay", "parec") if shutil.which(tool) is None]
    if ctypes.util.find_library("portaudio") is None:
        missing.append("libportaudio2")
    if importlib.util.find_spec("sounddevice") is None:
        missing.append("sounddevice (the [live] extra)")
    if missing:
        message = f"the live device test needs {', '.join(missing)} (scripts/test.sh installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    runtime = tmp_path / "pulse-runtime"
    runtime.mkdir(mode=0o700)
    config = tmp_path / "default.pa"
    config.write_text(PULSE_CONFIG)
    env = os.environ | {
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_SERVER": f"unix:{runtime}/pulse/native",
    }
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "-F",
            str(config),
            "--exit-idle-time=-1",
            "--daemonize=no",
            "--log-target=stderr",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            pytest.fail(f"PulseAudio did not start: {daemon.communicate()[1][-2000:]}")
        time.sleep(0.1)
    yield env
    daemon.terminate()
    daemon.wait(timeout=10)


def _alignment(longer: np.ndarray, shorter: np.ndarray) -> int:
    """Where ``shorter`` sits in ``longer`` (the peak of their cross-correlation)."""
    return int(np.argmax(fftconvolve(longer, shorter[::-1], mode="valid")))


def test_live_converts_between_real_devices(fixtures, tmp_path, pulse):
    """Play a file into the PulseAudio 'microphone' while `timbrel live` runs, record the
    'speaker', then check the chain link by link: the engine received the file unchanged; what it
    produced is what `timbrel stream` makes of the same received audio (the device's lead-in
    silence decides where the file falls in the blocks, so the received audio, not the bare file,
    is the same input); and the speaker played exactly that."""
    root = fixtures / "rvc" / "e2e"
    source = tmp_path / "source.wav"
    io.save(source, io.load(root / "input_short.wav", sample_rate=RATE), subtype="FLOAT")
    played = io.load(source).mono
    captured, produced, recorded = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "speaker.raw"
    settings = ["--sample-rate", RATE, "--block-ms", BLOCK_MS, "--extra-ms", EXTRA_MS]
    live = subprocess.Popen(
        [sys.executable, "-m", "timbrel", "live", *map(str, model_arguments(root)), *map(str, settings),
         "--input-device", "pulse", "--output-device", "pulse", "--device-latency", "high",
         "--seconds", "9", "--record-input", str(captured), "--record-output", str(produced)],
        env=pulse, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    recorder = subprocess.Popen(
        ["parec", "-d", "timbrel_speaker.monitor", "--format=float32le", f"--rate={RATE}", "--channels=1",
         "--raw", str(recorded)],
        env=pulse,
    )  # fmt: skip
    log = []
    for line in live.stdout:  # play once the stream runs: its first status line
        log.append(line)
        if line.startswith("block "):
            break
    subprocess.run(["paplay", "-d", "timbrel_mic", str(source)], env=pulse, check=True)
    log += live.stdout.readlines()
    assert live.wait(timeout=120) == 0, "".join(log)
    time.sleep(0.5)  # let the recorder take the last output
    recorder.terminate()
    recorder.wait(timeout=10)
    report = "".join(log)
    latency_ms = BLOCK_MS + StreamSettings().crossfade_s * 1000 + 10
    assert f"latency: algorithmic {latency_ms:.0f} ms + device" in report
    assert "late blocks 0; device underflows 0, overflows 0" in report, report

    received = io.load(captured).mono
    # a new PulseAudio playback stream may lose its first moments while it starts: the rest must
    # arrive sample for sample
    rest = played[len(played) // 4 :]
    start = _alignment(received, rest)
    np.testing.assert_allclose(received[start : start + len(rest)], rest, rtol=0, atol=1e-6)

    rerun = tmp_path / "rerun.wav"
    result = run_cli("stream", captured, rerun, *model_arguments(root), *settings)
    assert result.returncode == 0, result.stderr
    given = io.load(produced).mono
    block = RATE * BLOCK_MS // 1000
    assert np.abs(given).max() > 1e-3
    # `stream` holds one block back (the block a device records first); live plays each at once
    np.testing.assert_allclose(io.load(rerun).mono[block : block + len(given)], given, rtol=0, atol=1e-5)

    heard = np.fromfile(recorded, dtype=np.float32)
    assert _share_heard_exactly(heard, given) > 0.8


def _share_heard_exactly(heard: np.ndarray, given: np.ndarray, piece: int = RATE // 50) -> float:
    """The share of the sounding 20 ms pieces of ``given`` that ``heard`` holds sample for sample,
    in order.

    A loaded machine makes the PulseAudio chain insert silence or single samples between
    fragments (seen: 1.5 s of underrun, then a sample here and there), so each piece is found on
    its own: at the places where ``heard`` holds the piece's largest sample, an exact search that
    a periodic voice cannot fool the way a cross-correlation peak can."""
    found, last = 0, -1
    pieces = [given[i : i + piece] for i in range(0, len(given) - piece + 1, piece)]
    sounding = [p for p in pieces if np.abs(p).max() > 1e-3]
    assert sounding, "the engine produced no sounding 20 ms piece"
    for p in sounding:
        anchor = int(np.argmax(np.abs(p)))
        starts = np.flatnonzero(np.abs(heard - p[anchor]) <= 1e-6) - anchor
        at = next(
            (int(s) for s in starts if s > last and np.all(np.abs(heard[s : s + piece] - p) <= 1e-6)), None
        )
        if at is not None:
            found, last = found + 1, at
    return found / len(sounding)
