"""RIFT through the real entry point: prepare, extract and convert with the e2e fixture's tiny models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile

from timbrel.audio import io
from timbrel.audio.synthesis import SINGERS, sing_recording


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True)


def test_prepare_extract_convert(fixtures, tmp_path):
    root = fixtures / "rift" / "e2e"
    pretrained = root / "pretrained"
    settings = json.loads((root / "settings.json").read_text())
    singers = tmp_path / "singers"
    for k, singer in enumerate(SINGERS):
        for j in range(2):
            io.save(
                singers / singer.name / f"take{j}.flac", sing_recording(singer, 2.5, 32000, seed=k * 10 + j)
            )
    data = tmp_path / "data"
    prepared = run_cli("prepare", "rift", singers, "-o", data, "--num-test", 1, "--workers", 1)
    assert prepared.returncode == 0, prepared.stderr
    models = ["--contentvec", pretrained / "content-vec-best", "--rmvpe", pretrained / "rmvpe" / "model.pt"]
    extracted = run_cli("extract", "rift", data, *models)
    assert extracted.returncode == 0, extracted.stderr
    for wav in data.glob("*/*.wav"):
        for kind in ("mel", "rms", "f0", "cvec"):
            assert wav.with_suffix(f".{kind}.pt").is_file()

    given = settings["settings"]
    target = tmp_path / "out.wav"
    converted = run_cli(
        "convert", root / "input.wav", "-o", target, "--model", root / "model-step=2.ckpt", *models,
        "--vocoder", pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02", "--speaker", settings["speaker"],
        "--key", given["key_shift"], "--infer-steps", given["infer_steps"], "--ds-cfg-strength",
        given["ds_cfg_strength"], "--spk-cfg-strength", given["spk_cfg_strength"], "--skip-cfg-strength",
        given["skip_cfg_strength"], "--cfg-skip-layers", given["cfg_skip_layers"], "--robust-f0",
        given["robust_f0"], "--batch-size", given["batch_size"],
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    ours, rate = soundfile.read(str(target))
    source, source_rate = soundfile.read(str(root / "input.wav"))
    assert (rate, len(ours)) == (source_rate, len(source))
    assert np.isfinite(ours).all() and np.abs(ours).max() > 0.01
