"""`timbrel convert` through the real entry point, on the RVC end-to-end fixture model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests import parity
from tests.conftest import fixture_file
from tests.models.rvc.test_pipeline import e2e_float_tolerance
from timbrel import api


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True)


def rvc_arguments(root: Path) -> list[str]:
    settings = json.loads((root / "settings.json").read_text())
    given, config = settings["settings"], settings["config"]
    # the reference's long-audio chunking as its config had it (the CPU values in the public set)
    chunking = {
        "pad_s": config["x_pad"], "query_s": config["x_query"],
        "center_s": config["x_center"], "max_s": config["x_max"],
    }  # fmt: skip
    return [
        "--model", root / settings["model_file"], "--index", root / settings["index_file"],
        "--hubert", root / "hubert", "--f0-method", given["f0_method"], "--key", given["f0_up_key"],
        "--index-rate", given["index_rate"], "--protect", given["protect"],
        "--rms-mix-rate", given["rms_mix_rate"], "--speaker", given["sid"],
        "--set", f"chunking={json.dumps(chunking)}",
    ]  # fmt: skip


@pytest.mark.parametrize("case_name", ["short", "long"])  # long: cut into chunks at quiet points
def test_convert_one_file_matches_reference(fixtures, tmp_path, case_name):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    case = settings["cases"][case_name]
    target = tmp_path / "out.wav"
    result = run_cli("convert", root / case["input_file"], "-o", target, *rvc_arguments(root))
    assert result.returncode == 0, result.stderr
    ours, rate = soundfile.read(str(target), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert rate == case["tgt_sr"]
    assert ours.shape == expected.shape
    # the CLI decodes and resamples the 40 kHz file itself, as the fixture's loader did
    voice = api.load(root / settings["model_file"], hubert=root / "hubert")
    parity.pcm_close(ours, expected, float_tolerance=e2e_float_tolerance(voice), what=case_name)


def test_convert_folder_skips_existing_and_reports_bad_files(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    inputs = tmp_path / "in"
    inputs.mkdir()
    source, rate = soundfile.read(str(fixture_file(root / "input_short.wav")))
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


def test_convert_auto_key_reads_the_model_sidecar_and_formant_shift(fixtures, tmp_path):
    import shutil

    from timbrel.weights.rvc import write_training_f0_stats

    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    model = tmp_path / "voice.pth"
    shutil.copy(root / settings["model_file"], model)
    arguments = [*rvc_arguments(root), "--model", model, "--auto-key", "--formant-shift", "2"]
    source = root / settings["cases"]["short"]["input_file"]
    refused = run_cli("convert", source, "-o", tmp_path / "refused.wav", *arguments)
    assert refused.returncode != 0
    assert "auto_key" in refused.stdout + refused.stderr
    f0_folder = tmp_path / "2b-f0nsf"
    f0_folder.mkdir()
    np.save(f0_folder / "0_1.wav.npy", np.full(50, 330.0, dtype=np.float32))
    write_training_f0_stats(model, f0_folder)
    result = run_cli("convert", source, "-o", tmp_path / "out.wav", *arguments)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.wav").is_file()


def test_hybrid_pitch_converts(fixtures, tmp_path):
    """`--f0-method hybrid` as the UI offers it, with no method list: RVC's hybrid[rmvpe+fcpe]
    (what it computes: tests/weights/test_pitch_models.py)."""
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    source, rate = soundfile.read(str(fixture_file(root / "input_short.wav")))
    clip = tmp_path / "clip.wav"
    soundfile.write(str(clip), source[: rate // 2], rate)
    arguments = rvc_arguments(root)
    arguments[arguments.index("--f0-method") + 1] = "hybrid"
    target = tmp_path / "hybrid.wav"
    rmvpe = fixtures / "rift" / "rmvpe_small" / "model.pt"
    result = run_cli("convert", clip, "-o", target, *arguments, "--rmvpe", rmvpe)
    assert result.returncode == 0, result.stderr
    converted, converted_rate = soundfile.read(str(target))
    assert converted_rate == settings["cases"]["short"]["tgt_sr"]
    assert len(converted) / converted_rate == pytest.approx(0.5, abs=0.05)  # whole 10 ms frames
    assert np.isfinite(converted).all() and np.abs(converted).max() > 0.01
