"""The real page in headless Chromium: `timbrel ui` serves a workspace, the browser drives the tabs.

Needs Debian's chromium (apt-get install -y chromium) and Playwright's Python package
(pip install playwright; its own browser download is not used).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests import parity
from tests.conftest import require, require_module
from tests.models.rvc.test_pipeline import e2e_float_tolerance, e2e_version
from tests.ui.conftest import MAX_UPLOAD_MB

require_module("gradio", "the web UI needs the [ui] extra (pip install gradio)")

from timbrel import api
from timbrel.ui.app import build_app, exposure_warning
from timbrel.ui.context import UIContext
from timbrel.ui.tabs.train import TRAINERS
from timbrel.ui.workspace import Workspace
from timbrel.weights.rvc import read_voice_model

try:
    from playwright import sync_api
except ImportError:
    sync_api = None
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
STEP_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if sync_api is None:
        require(False, "browser tests need Playwright's Python package (pip install playwright)")
    require(Path(CHROMIUM).exists(), "browser tests need Debian's chromium (apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    url, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(url)
    yield page
    page.close()


def test_every_tab_builds_over_the_api(tmp_path):
    app = build_app(UIContext(Workspace.create(tmp_path / "ws")))
    ids = {c.get("props", {}).get("elem_id") for c in app.config["components"]}
    for family in api.CONVERT_OPTIONS:
        assert f"convert-{family}-speaker" in ids
    # Both families train today (timbrel train rvc / rift): each tab has its start button and
    # none shows the "not available yet" note.
    assert [trainer.family for trainer in TRAINERS] == ["RVC", "RIFT"]
    for family in ("rvc", "rift"):
        assert f"train-{family}-start" in ids
        assert f"train-{family}-note" not in ids


def test_a_family_without_its_training_function_gets_a_note(tmp_path, monkeypatch):
    monkeypatch.delattr(api, "train_rift")
    app = build_app(UIContext(Workspace.create(tmp_path / "ws")))
    ids = {c.get("props", {}).get("elem_id") for c in app.config["components"]}
    assert "train-rift-note" in ids and "train-rift-start" not in ids
    assert "train-rvc-start" in ids


def test_exposure_is_warned_about():
    assert exposure_warning("127.0.0.1", share=False) is None
    assert exposure_warning("localhost", share=False) is None
    assert "other machines" in exposure_warning("0.0.0.0", share=False)
    assert "gradio.live" in exposure_warning("127.0.0.1", share=True)


def open_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title).click()


def set_text(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
    box.fill(value)
    box.press("Tab")


def choose(page, elem_id: str, value: str) -> None:
    """Pick ``value`` from a dropdown's list, as a user does."""
    page.locator(f"#{elem_id} input").first.click()
    page.get_by_role("option", name=value, exact=True).click()


def upload(page, elem_id: str, *paths: Path) -> None:
    page.locator(f"#{elem_id} input[type=file]").set_input_files([str(p) for p in paths])


def test_convert_a_clip_through_the_convert_tab(page, server, e2e):
    _, workspace = server
    root, settings = e2e
    given = settings["settings"]
    case = settings["cases"]["short"]
    open_tab(page, "Convert")
    choose(page, "convert-index", f"models/e2etiny/{settings['index_file']}")
    choose(page, "convert-rvc-f0-method", given["f0_method"])
    set_text(page, "convert-rvc-key-shift-semitones", str(given["f0_up_key"]))
    set_text(page, "convert-rvc-index-rate", str(given["index_rate"]))
    set_text(page, "convert-rvc-protect", str(given["protect"]))
    set_text(page, "convert-rvc-rms-mix-rate", str(given["rms_mix_rate"]))
    set_text(page, "convert-rvc-speaker", str(given["sid"]))
    upload(page, "convert-input", root / case["input_file"])
    page.locator("#convert-input audio, #convert-input .waveform-container").first.wait_for(state="attached")
    page.locator("#convert-run").click()
    page.locator("#convert-f0-plot img").wait_for(state="visible")
    page.locator("#convert-spectrogram-plot img").wait_for(state="visible")
    assert page.locator("#convert-f0-plot img").evaluate("img => img.naturalWidth") > 100
    assert "1 converted" in page.locator("#convert-status").inner_text()
    [converted] = sorted((workspace / "outputs").glob(f"*/{Path(case['input_file']).stem}.wav"))
    ours, rate = soundfile.read(str(converted), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert rate == case["tgt_sr"]
    assert len(ours) == case["output_samples"]
    # the page passed every setting through: the result is the reference's output
    voice = api.load(root / settings["model_file"], hubert=root / "hubert")
    parity.pcm_close(ours, expected, float_tolerance=e2e_float_tolerance(voice), what="converted on the page")
    # the player on the page serves the same audio
    served = page.request.get(page.locator("#convert-output a[download]").get_attribute("href"))
    assert served.ok
    played, played_rate = soundfile.read(io.BytesIO(served.body()), dtype="int16")
    assert played_rate == case["tgt_sr"] and np.array_equal(played, ours)


def test_convert_with_a_rift_model(page, server, rift_e2e, tmp_path):
    _, workspace = server
    root, settings = rift_e2e
    source, rate = soundfile.read(str(root / "input.wav"), dtype="int16")
    clip = tmp_path / "rift_clip.wav"
    soundfile.write(str(clip), source[: int(2.5 * rate)], rate)  # a short clip keeps the test quick
    model = next((workspace / "models" / "rift").glob("*.ckpt"))
    open_tab(page, "Convert")
    choose(page, "convert-model", f"models/rift/{model.name}")
    page.locator("#convert-index").wait_for(state="hidden")
    set_text(page, "convert-rift-speaker", settings["speaker"])
    set_text(page, "convert-rift-infer-steps", str(settings["settings"]["infer_steps"]))
    upload(page, "convert-input", clip)
    page.locator("#convert-input audio, #convert-input .waveform-container").first.wait_for(state="attached")
    page.locator("#convert-run").click()
    page.locator("#convert-f0-plot img").wait_for(state="visible")
    [converted] = sorted((workspace / "outputs").glob("*/rift_clip.wav"))
    ours, ours_rate = soundfile.read(str(converted))
    assert (ours_rate, len(ours)) == (rate, int(2.5 * rate))
    assert np.isfinite(ours).all()


def test_typed_paths_cannot_leave_the_workspace(page):
    open_tab(page, "Convert")
    page.get_by_label("a workspace folder").check()
    set_text(page, "convert-folder", "../")
    page.locator("#convert-run").click()
    page.get_by_text("is outside the workspace").first.wait_for(state="visible")


def test_uploads_over_the_limit_are_refused(page, server, tmp_path):
    url, _ = server
    big = tmp_path / "big.wav"
    soundfile.write(str(big), np.zeros(MAX_UPLOAD_MB * 2**20, dtype=np.int16), 16000)
    open_tab(page, "Convert")
    upload(page, "convert-input", big)
    page.get_by_text("exceed the maximum allowed size").first.wait_for(state="visible")
    direct = page.request.post(
        f"{url}gradio_api/upload",
        multipart={"files": {"name": big.name, "mimeType": "audio/wav", "buffer": big.read_bytes()}},
    )
    assert direct.status == 413


def test_prepare_a_dataset_through_the_dataset_tab(page, server, e2e):
    _, workspace = server
    root, _ = e2e
    open_tab(page, "Dataset")
    set_text(page, "dataset-name", "singer")
    set_text(page, "dataset-rvc-piece-s", "3.0")
    upload(page, "dataset-uploads", root / "train_input.wav")
    page.locator("#dataset-uploads").get_by_text("train_input").wait_for(state="visible")
    page.locator("#dataset-prepare-run").click()
    page.get_by_text("1 prepared").wait_for(state="visible")
    assert "train_input.wav" in page.locator("#dataset-check").inner_text()
    experiment = workspace / "experiments" / "singer"
    assert sorted(p.name for p in (experiment / "0_gt_wavs").glob("*.wav"))
    assert len(list((experiment / "1_16k_wavs").glob("*.wav"))) == len(
        list((experiment / "0_gt_wavs").glob("*.wav"))
    )


@pytest.mark.slow
def test_train_a_tiny_rvc_model_through_the_train_tab(page, server, e2e):
    """Prepare through the dataset tab, then one click in the train tab (extraction, training,
    index) on a tiny model; the trained voice model appears in the models tab."""
    _, workspace = server
    root, settings = e2e
    open_tab(page, "Dataset")
    set_text(page, "dataset-name", "tiny")
    choose(page, "dataset-rvc-sample-rate", "32000")
    set_text(page, "dataset-rvc-piece-s", "3.0")
    upload(page, "dataset-uploads", root / "train_input.wav", root / settings["cases"]["short"]["input_file"])
    page.locator("#dataset-uploads").get_by_text("input_short").wait_for(state="visible")
    page.locator("#dataset-prepare-run").click()
    page.get_by_text("2 prepared").wait_for(state="visible")
    open_tab(page, "Train")
    choose(page, "train-rvc-folder", "tiny")
    choose(page, "train-rvc-f0-method", "pm")
    choose(page, "train-rvc-model-size", "tiny")
    choose(page, "train-rvc-version", e2e_version(root))  # the version the fixture's HuBERT serves
    set_text(page, "train-rvc-sample-rate", "32000")
    set_text(page, "train-rvc-batch-size", "2")
    page.get_by_text("loop", exact=True).click()
    set_text(page, "train-rvc-loop-epochs", "2")
    page.locator("#train-rvc-start").click()
    page.get_by_text("Done in").wait_for(state="visible", timeout=180_000)
    trained = workspace / "experiments" / "tiny" / "weights" / "tiny.pth"
    assert read_voice_model(trained).config.sample_rate == 32000
    assert list((workspace / "experiments" / "tiny").glob("added_IVF*.index"))
    open_tab(page, "Models")
    # opening the tab refreshes the table: the earlier listing shows until the refresh is done
    page.locator("#models-table").get_by_text("experiments/tiny/weights/tiny.pth").wait_for(state="visible")
