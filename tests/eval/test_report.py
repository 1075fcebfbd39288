from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

import pytest

from tests.conftest import require_module
from tests.eval.signals import vowel
from timbrel.audio import io
from timbrel.core.audio import Audio
from timbrel.eval.evaluate import EvalConfig, evaluate_folder
from timbrel.eval.report import write_report

require_module("matplotlib", "plots need the [eval] extra (matplotlib)")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, bytes]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            attributes = dict(attrs)
            header, _, data = attributes["src"].partition(",")
            assert header == "data:image/png;base64"
            self.images.append((attributes["alt"], base64.b64decode(data)))


@pytest.fixture
def report(tmp_path, pm_pitch):
    sources, converted = tmp_path / "sources", tmp_path / "converted"
    for index, f0_hz in enumerate((140.0, 180.0, 220.0)):
        io.save(sources / f"take{index}.wav", Audio.from_mono(vowel(2.0, 22050, f0_hz=f0_hz), 22050))
        converted_voice = vowel(2.0, 22050, f0_hz=f0_hz * 2 ** (index * 10 / 1200))
        io.save(converted / f"take{index}.wav", Audio.from_mono(converted_voice, 22050))
    io.save(converted / "silent.wav", Audio.from_mono(vowel(2.0, 22050) * 0, 22050))
    io.save(sources / "silent.wav", Audio.from_mono(vowel(2.0, 22050), 22050))
    config = EvalConfig(metrics=("f0", "mcd", "loudness"), source_is_reference=True)
    return evaluate_folder(converted, sources, config=config, pitch_extractor=pm_pitch)


def test_json_holds_every_number_and_null_for_undefined_ones(tmp_path, report):
    json_path, _ = write_report(report, tmp_path / "out", max_files_plotted=0)
    data = json.loads(json_path.read_text())
    assert data["format_version"] == 1
    assert data["config"]["metrics"] == ["f0", "mcd", "loudness"]
    assert data["best_metric"] == "mcd_db"
    names = [f["name"] for f in data["files"]]
    assert names == ["silent", "take0", "take1", "take2"]
    by_name = {f["name"]: f for f in data["files"]}
    assert by_name["silent"]["metrics"]["f0_rmse_cents"] is None
    assert by_name["silent"]["metrics"]["loudness_difference_lu"] is None
    assert by_name["take2"]["metrics"]["f0_rmse_cents"] == pytest.approx(20.0, abs=2.0)
    assert data["summary"]["f0_rmse_cents"] == pytest.approx(
        sum(by_name[f"take{i}"]["metrics"]["f0_rmse_cents"] for i in range(3)) / 3
    )
    assert set(data["seconds_per_metric"]) == {"f0", "mcd", "loudness"}


def test_html_embeds_readable_plots(tmp_path, report):
    _, html_path = write_report(report, tmp_path / "out", max_files_plotted=2)
    page = html_path.read_text()
    parser = _Images()
    parser.feed(page)
    alts = [alt for alt, _ in parser.images]
    assert alts == [
        "metric histograms",
        "f0 of silent",
        "spectrograms of silent",
        "f0 of take0",
        "spectrograms of take0",
    ]
    assert all(png.startswith(PNG_MAGIC) and len(png) > 5000 for _, png in parser.images)
    assert "Plots shown for the first 2 files" in page
    assert "F0 RMSE (cents)" in page and "lower is better" in page
