"""The RVC stages one after another through the real entry point: prepare, extract, index, convert."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import soundfile

from tests.models.rvc.test_pipeline import e2e_piece_s, e2e_version
from timbrel.weights.rvc_index import read_index


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True)


def test_prepare_extract_index_convert(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    songs = tmp_path / "songs"
    songs.mkdir()
    shutil.copy(root / "train_input.wav", songs / "train_input.wav")
    logs = tmp_path / "logs"
    common = ["-e", "exp", "--logs-dir", logs]
    rate = soundfile.info(str(root / "train_input.wav")).samplerate  # the WebUI prepares at the model's rate
    prepared = run_cli(
        "prepare", "rvc", songs, *common,
        "--sample-rate", rate, "--piece-s", e2e_piece_s(settings), "--workers", 1,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    version = e2e_version(root)
    extracted = run_cli(
        "extract", "rvc", *common, "--hubert", root / "hubert", "--f0-method", "pm", "--version", version
    )
    assert extracted.returncode == 0, extracted.stderr
    for folder in ("2a_f0", "2b-f0nsf", f"3_feature{settings['index']['d']}"):
        assert sorted(p.name.split(".")[0] for p in (logs / "exp" / folder).iterdir()) == ["0_1"]
    indexed = run_cli("index", *common, "--version", version)
    assert indexed.returncode == 0, indexed.stderr
    built = next((logs / "exp").glob(f"added_IVF*_Flat_nprobe_1_exp_{version}.index"))
    reference = read_index(root / settings["index_file"])
    assert (read_index(built).n_vectors, read_index(built).n_lists) == (
        reference.n_vectors,
        reference.n_lists,
    )
    model = root / settings["model_file"]
    converted = run_cli(
        "convert", root / "input_short.wav", "-o", tmp_path / "out.wav", "--model", model,
        "--index", built, "--hubert", root / "hubert", "--f0-method", "pm",
        "--speaker", settings["settings"]["sid"],
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    audio, rate = soundfile.read(str(tmp_path / "out.wav"))
    assert rate == settings["cases"]["short"]["tgt_sr"]
    assert len(audio) == settings["cases"]["short"]["output_samples"]
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.01
