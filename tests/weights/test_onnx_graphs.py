"""ONNX graphs (extra [onnx]) against the torch networks they come from, in onnxruntime.

Tolerances are the fixture READMEs' for an independent float32 implementation on another conv
backend: 1e-4 absolute on waveforms (rvc/README), atol 1e-4 + rtol 1e-4 on DiT outputs
(rift/README). Lengths differ from the traced one so that the dynamic axes are exercised.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from timbrel.weights import onnx_graphs
from timbrel.weights.nsf_hifigan import load_nsf_hifigan
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rvc import load_voice_model

if not os.environ.get("CI"):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")

WAVEFORM_ATOL = 1e-4


def run_graph(path, inputs):
    session = onnx_graphs.open_session(path, ["CPUExecutionProvider"])
    (out,) = session.run(None, {name: value.numpy() for name, value in inputs.items()})
    return torch.from_numpy(out), onnx_graphs.read_metadata(session)


@pytest.mark.parametrize("name", ["v2_f0", "v1_nof0"])
def test_rvc_synthesizer_graph_matches_torch(fixtures, tmp_path, name):
    source = fixtures / "rvc" / "synth" / f"{name}.pth"
    expected = json.loads((fixtures / "rvc" / "synth" / "summary.json").read_text())[name]
    synthesizer = load_voice_model(source)
    graph = onnx_graphs.export_rvc_synthesizer(synthesizer, tmp_path / "g.onnx", source)
    for frames in (37, 150):
        inputs = onnx_graphs.rvc_example_inputs(
            synthesizer.config, frames, torch.Generator().manual_seed(frames)
        )
        assert list(inputs) == list(
            onnx_graphs.RVC_INPUTS if expected["f0"] else onnx_graphs.RVC_INPUTS_NO_F0
        )
        ours, metadata = run_graph(graph, inputs)
        reference = onnx_graphs.rvc_reference(synthesizer, inputs)
        upsample = 1
        for rate in expected["config"][12]:
            upsample *= rate
        assert ours.shape == reference.shape == (1, 1, frames * upsample)
        assert (ours - reference).abs().max().item() <= WAVEFORM_ATOL
    assert metadata["config"] == expected["config"] and metadata["version"] == expected["version"]


def test_rift_dit_graph_matches_torch(fixtures, tmp_path):
    ckpt = fixtures / "rift" / "dit_small" / "model-step=2.ckpt"
    rift = load_rift_checkpoint(ckpt)
    graph = onnx_graphs.export_rift_dit(rift.model, tmp_path / "dit.onnx", ckpt, rift.speakers)
    for frames in (30, 200):
        inputs = onnx_graphs.dit_example_inputs(rift.model, frames, torch.Generator().manual_seed(frames))
        ours, metadata = run_graph(graph, inputs)
        reference = onnx_graphs.dit_reference(rift.model, inputs)
        torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)
    single = {name: value[:1] for name, value in inputs.items()}  # batch 1 through the same graph
    ours, _ = run_graph(graph, single)
    torch.testing.assert_close(ours, onnx_graphs.dit_reference(rift.model, single), atol=1e-4, rtol=1e-4)
    assert metadata["speakers"] == rift.speakers


def test_nsf_hifigan_graph_matches_torch(fixtures, tmp_path):
    folder = fixtures / "rift" / "nsf_hifigan_small"
    vocoder = load_nsf_hifigan(folder)
    graph = onnx_graphs.export_nsf_hifigan(vocoder, tmp_path / "voc.onnx", folder)
    hop = json.loads((folder / "config.json").read_text())["hop_size"]
    for frames in (30, 120):
        inputs = onnx_graphs.vocoder_example_inputs(vocoder, frames, torch.Generator().manual_seed(frames))
        ours, metadata = run_graph(graph, inputs)
        reference = onnx_graphs.vocoder_reference(vocoder, inputs)
        assert ours.shape == reference.shape == (1, 1, frames * hop)
        assert (ours - reference).abs().max().item() <= WAVEFORM_ATOL
    assert metadata["hop_length"] == hop
