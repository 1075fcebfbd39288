"""`timbrel convert` through the real entry point, on the RVC end-to-end fixture model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True)


def rvc_arguments(root: Path) -> list[str]:
    settings = json.loads((root / "settings.json").read_text())
    given = settings["settings"]
    return [
        "--model", root / settings["model_file"], "--index", root / settings["index_file"],
        "--hubert", root / "hubert", "--f0-method", given["f0_method"], "--key", given["f0_up_key"],
        "--index-rate", given["index_rate"], "--protect", given["protect"],
        "--rms-mix-rate", given["rms_mix_rate"], "--speaker", given["sid"],
    ]  # fmt: skip


def test_convert_one_file_matches_reference(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    case = settings["cases"]["short"]
    target = tmp_path / "out.wav"
    result = run_cli("convert", root / case["input_file"], "-o", target, *rvc_arguments(root))
    assert result.returncode == 0, result.stderr
    ours, rate = soundfile.read(str(target), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert rate == case["tgt_sr"]
    assert ours.shape == expected.shape
    # the CLI decodes and resamples the 40 kHz file itself, as the fixture's loader did
    assert np.abs(ours.astype(np.int32) - expected).max() <= 4


def test_convert_folder_skips_existing_and_reports_bad_files(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    inputs = tmp_path / "in"
    inputs.mkdir()
    source, rate = soundfile.read(str(root / "input_short.wav"))
    soundfile.write(str(inputs / "a.wav"), source[: rate // 2], rate)
    soundfile.write(str(inputs / "b song.flac"), source[rate // 2 : rate], rate)
    (inputs / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "out"
    first = run_cli("convert", inputs, "-o", out, *rvc_arguments(root))
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.wav", "b song.wav"]
    assert "broken.wav" in first.stderr
    stamp = (out / "a.wav").stat().st_mtime_ns
    second = run_cli("convert", inputs / "*.wav", "-o", out, *rvc_arguments(root))
    assert "skipped" in second.stderr
    assert (out / "a.wav").stat().st_mtime_ns == stamp


def test_convert_refuses_unknown_option_and_model_type(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    bad_option = run_cli(
        "convert", root / "input_short.wav", "-o", tmp_path, *rvc_arguments(root), "--set", "nope=1"
    )
    assert bad_option.returncode != 0
    assert "nope" in bad_option.stderr
    bad_model = run_cli(
        "convert", root / "input_short.wav", "-o", tmp_path, "--model", root / "settings.json"
    )
    assert bad_model.returncode != 0
    assert "unknown model file type" in bad_model.stderr
