"""`timbrel model export-onnx` and `timbrel convert --engine onnx` (extra [onnx])."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile

from tests.cli.test_convert import run_cli, rvc_arguments
from tests.cli.test_model_tools import malicious_pickle, run

if not os.environ.get("CI"):
    pytest.importorskip("onnxruntime")


def test_export_onnx_writes_each_graph_with_its_inputs(fixtures, tmp_path):
    import onnx

    result = run("model", "export-onnx", fixtures / "rvc" / "synth" / "v2_f0.pth", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    graph = onnx.load(str(tmp_path / "v2_f0.onnx"))
    assert [i.name for i in graph.graph.input] == ["phone", "phone_lengths", "pitch", "pitchf", "ds", "rnd"]
    assert [o.name for o in graph.graph.output] == ["audio"]
    ckpt = fixtures / "rift" / "dit_small" / "model-step=2.ckpt"
    vocoder = fixtures / "rift" / "nsf_hifigan_small"
    result = run("model", "export-onnx", ckpt, "-o", tmp_path, "--vocoder", vocoder)
    assert result.exit_code == 0, result.output
    assert [i.name for i in onnx.load(str(tmp_path / "model-step=2.dit.onnx")).graph.input] == [
        "x_t", "speaker", "f0_hz", "rms", "content", "time", "drop_speaker",
    ]  # fmt: skip
    assert [i.name for i in onnx.load(str(tmp_path / "nsf_hifigan.onnx")).graph.input] == ["mel", "f0_hz"]
    evil, marker = malicious_pickle(tmp_path)
    refused = run("model", "export-onnx", evil, "-o", tmp_path)
    assert refused.exit_code == 2 and "evil.pth" in refused.output and not marker.exists()


def test_convert_through_the_onnx_engine_matches_the_reference(fixtures, tmp_path):
    root = fixtures / "rvc" / "e2e"
    settings = json.loads((root / "settings.json").read_text())
    case = settings["cases"]["short"]
    target = tmp_path / "out.wav"
    result = run_cli(
        "convert", root / case["input_file"], "-o", target, *rvc_arguments(root), "--engine", "onnx"
    )
    assert result.returncode == 0, result.stderr
    ours, rate = soundfile.read(str(target), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert rate == case["tgt_sr"] and ours.shape == expected.shape
    assert np.abs(ours.astype(np.int32) - expected).max() <= 4  # the torch engine's tolerance (test_convert)
    refused = run_cli(
        "convert", root / case["input_file"], "-o", tmp_path, *rvc_arguments(root), "--engine", "tf"
    )
    assert refused.returncode != 0 and "engine 'tf'" in refused.stderr
