"""The Live tab in headless Chromium: a fake microphone plays a file into the page, the server's
realtime engine converts what arrives, and the converted chunks stream back to the page.

Needs Debian's chromium, Playwright's Python package and ffmpeg (gradio encodes a streaming audio
output with it).
"""

from __future__ import annotations

import itertools
import shutil
import time

import numpy as np
import pytest
import soundfile

from tests.conftest import require
from tests.infer.stand_ins import LocalContent, local_synthesizer
from tests.ui.test_app import CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, choose, open_tab, set_text
from timbrel import api
from timbrel.audio import io
from timbrel.audio.resample import resample
from timbrel.infer.live import ChunkStream
from timbrel.infer.streaming import StreamingConverter, StreamSettings
from timbrel.models.rvc.pipeline import RVCVoice
from timbrel.ui.tabs.live import STREAM_EVERY_S

try:
    from playwright import sync_api
except ImportError:
    sync_api = None

BROWSER_RATE = 48000  # Chromium's capture rate; the tab resamples it to the model's 32 kHz
STREAM_S = 4.0
SETTINGS = {"f0_method": "pm", "extra_s": 0.5}  # less context than the default 2.5 s: quicker blocks
SETTLE_S = 1.5  # no status change for this long: the last chunk has been converted


def test_chunks_at_another_rate_reach_the_engine_as_one_resampled_stream(tmp_path):
    """Chunks of uneven lengths at the browser's rate: the engine receives the one-shot resampling
    of the whole signal (less the resampler's delay, which it holds back), returns what the engine
    gives for that, records both, and times every block it converts."""
    voice = RVCVoice(local_synthesizer(use_f0=False), LocalContent(), None)
    settings = StreamSettings(block_s=0.1, extra_s=0.2)
    stream = ChunkStream(StreamingConverter(voice, settings), record_to=tmp_path)
    signal = (0.3 * np.random.default_rng(0).standard_normal(BROWSER_RATE)).astype(np.float32)
    cuts = [0, 1000, 4801, 12000, 30000, BROWSER_RATE]
    returned = np.concatenate([stream.push(signal[a:b], BROWSER_RATE) for a, b in itertools.pairwise(cuts)])
    geometry = stream.converter.geometry
    received, _ = soundfile.read(tmp_path / "input.wav", dtype="float32")
    recorded, _ = soundfile.read(tmp_path / "output.wav", dtype="float32")
    whole = resample(signal, BROWSER_RATE, geometry.sample_rate)
    assert 0 < len(whole) - len(received) < geometry.frame
    np.testing.assert_array_equal(received, whole[: len(received)])
    np.testing.assert_array_equal(recorded, returned)
    np.testing.assert_allclose(
        returned, StreamingConverter(voice, settings).push(received), rtol=0, atol=1e-6
    )
    assert stream.stats.blocks == len(received) // geometry.block
    with pytest.raises(ValueError, match="changed from 48000 Hz to 44100 Hz"):
        stream.push(signal[:100], 44100)


@pytest.fixture
def microphone_page(server, e2e, tmp_path):
    """A page whose microphone is Chromium's fake device playing the e2e input clip once."""
    if sync_api is None:
        require(False, "browser tests need Playwright's Python package (pip install playwright)")
    require(shutil.which(CHROMIUM), "browser tests need Debian's chromium (apt-get install -y chromium)")
    require(shutil.which("ffmpeg"), "gradio's streaming audio output needs ffmpeg (apt-get install ffmpeg)")
    root, _ = e2e
    capture = tmp_path / "microphone.wav"
    clip = io.load(root / "input_short.wav", sample_rate=BROWSER_RATE).mono
    soundfile.write(capture, clip, BROWSER_RATE, subtype="PCM_16")
    url, _ = server
    fake_microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={capture}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *fake_microphone]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.goto(url)
        yield page
        browser.close()


def settled_text(locator) -> str:
    """The locator's text once it has stopped changing."""
    text, since = locator.inner_text(), time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        time.sleep(0.25)
        now = locator.inner_text()
        if now != text:
            text, since = now, time.monotonic()
    return text


def test_the_microphone_streams_through_the_engine(microphone_page, server, e2e):
    page = microphone_page
    _, workspace = server
    root, settings = e2e
    open_tab(page, "Live")
    choose(page, "live-f0-method", SETTINGS["f0_method"])
    set_text(page, "live-extra-s", str(SETTINGS["extra_s"]))
    page.locator("#live-record input").check()
    page.locator("#live-microphone").get_by_role("button", name="Record").click()
    status = page.locator("#live-status")
    page.get_by_text("Blocks converted").wait_for(state="visible")
    player = page.locator("#live-output audio")
    page.wait_for_function("() => document.querySelector('#live-output audio')?.currentTime > 0")
    source = player.evaluate("player => player.src")
    time.sleep(STREAM_S)
    # the converted chunks play as one stream: gradio would restart the player for each run of an
    # event, and a chunk lasts STREAM_EVERY_S (a loaded machine converts slower, so wait for it)
    played = f"() => document.querySelector('#live-output audio').currentTime > {2 * STREAM_EVERY_S}"
    page.wait_for_function(played)
    assert player.evaluate("player => player.src") == source
    page.locator("#live-microphone").get_by_role("button", name="Stop").click()
    report = settled_text(status)
    blocks = int(report.split("Blocks converted: ")[1].split(";")[0])
    assert blocks > 0

    [recording] = sorted((workspace / "recordings").iterdir())
    received, rate = soundfile.read(recording / "input.wav", dtype="float32")
    returned, returned_rate = soundfile.read(recording / "output.wav", dtype="float32")
    voice = api.load(root / settings["model_file"], hubert=root / "hubert")
    assert rate == returned_rate == voice.sample_rate
    assert len(returned) == len(received)
    converter = api.streaming_converter(voice, api.stream_settings(SETTINGS))
    assert len(received) >= blocks * converter.geometry.block
    # the microphone's audio reached the engine, and what the page got back is the engine's output
    assert np.sqrt(np.mean(received**2)) > 0.01
    assert np.all(np.isfinite(returned))
    assert np.sqrt(np.mean(returned[converter.geometry.latency_samples :] ** 2)) > 0.01
    np.testing.assert_allclose(returned, converter.push(received), rtol=0, atol=1e-6)
