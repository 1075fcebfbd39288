"""The parity fixtures on the GPU: fp32 within each fixture's tolerance, fp16 and bf16 within the
tolerances stated here, against the same fixture outputs.

Lower precision is autocast (timbrel.core.device): float32 weights, 16-bit products. The stated
tolerances are relative RMS errors of a whole conversion's output: bf16 keeps 8 significant bits
(unit roundoff 2^-9 ≈ 0.2%), and a conversion passes through some tens of products and convolutions
in a row (HuBERT's 12 layers, the flow, the decoder; the DiT's blocks times the sampling steps), each
adding its rounding relative to its output: about 25 roundoffs, 5%, is allowed, twice that for bf16's
emulated accumulation on CPUs; fp16 keeps 11 bits, 8 times finer, so a quarter of bf16's bound.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
import torch

from tests.models.rift.test_dit import VARIANTS
from tests.models.rift.test_pipeline import options_from_settings
from tests.weights.test_hubert import assert_matches_reference
from timbrel import api
from timbrel.audio import io
from timbrel.models.rift.pipeline import RIFTNoise
from timbrel.models.rvc.pipeline import Chunking
from timbrel.weights.hubert import load_hubert
from timbrel.weights.rift import load_rift_checkpoint
from timbrel.weights.rift_voice import load_rift_voice

pytestmark = pytest.mark.gpu

RELATIVE_RMS = {"bf16": 0.1, "fp16": 0.025}  # derived in the module docstring
INT16_LSB = 1 / 32768
RVC_E2E_LSB = 4  # fixtures/rvc README: a few LSB with another conv/STFT backend


def relative_rms(ours: np.ndarray, expected: np.ndarray) -> float:
    return float(np.sqrt(np.mean((ours - expected) ** 2)) / np.sqrt(np.mean(expected**2)))


@pytest.fixture(scope="module")
def rvc_e2e(fixtures):
    root = fixtures / "rvc" / "e2e"
    return root, json.loads((root / "settings.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("case_name", ["short", "long"])
def test_rvc_conversion(rvc_e2e, placement_for, precision, case_name):
    root, settings = rvc_e2e
    placement = placement_for(precision)
    voice = api.load(
        root / settings["model_file"],
        index=root / settings["index_file"],
        hubert=root / "hubert",
        device=str(placement.device),
        precision=precision,
    )
    given, config = settings["settings"], settings["config"]
    options = api.convert_options(
        voice,
        {
            "f0_method": given["f0_method"],
            "key_shift_semitones": given["f0_up_key"],
            "index_rate": given["index_rate"],
            "protect": given["protect"],
            "rms_mix_rate": given["rms_mix_rate"],
            "speaker": given["sid"],
        },
    )
    # the fixture's chunking, not the device's choice, so that the cut points are the fixture's
    chunking = Chunking(config["x_pad"], config["x_query"], config["x_center"], config["x_max"])
    options = type(options)(**{**options.__dict__, "chunking": chunking})
    case = settings["cases"][case_name]
    audio = io.load(root / case["input_file"], sample_rate=16000).mono
    ours = voice.convert_16k(audio, options).astype(np.float64) * INT16_LSB
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    expected = expected.astype(np.float64) * INT16_LSB
    assert ours.shape == expected.shape
    if precision == "fp32":
        assert np.abs(ours - expected).max() <= RVC_E2E_LSB * INT16_LSB
        assert np.corrcoef(ours, expected)[0, 1] > 0.999
    else:
        assert relative_rms(ours, expected) <= RELATIVE_RMS[precision]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_rift_conversion(fixtures, placement_for, precision):
    folder = fixtures / "rift" / "e2e"
    info = json.loads((folder / "settings.json").read_text())
    reference = torch.load(folder / "intermediates.pt", weights_only=True)
    pretrained = folder / "pretrained"
    placement = placement_for(precision)
    voice = load_rift_voice(
        folder / "model-step=2.ckpt",
        pretrained / "content-vec-best",
        pretrained / "rmvpe" / "model.pt",
        pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02",
        device=placement.device,
    )
    options = options_from_settings(info["speaker"], info["settings"])
    options = type(options)(**{**options.__dict__, "precision": precision})
    noise = RIFTNoise(initial_noise=reference["initial_noise_in_call_order"], vocoder_source="zeros")
    output = voice.convert(io.load(folder / "input.wav"), options, noise)
    expected, rate = soundfile.read(folder / "output.wav", dtype="float32")
    assert output.sample_rate == rate and output.samples.shape == (1, len(expected))
    if precision == "fp32":
        np.testing.assert_allclose(output.samples[0], expected, rtol=0, atol=1e-4)  # fixture README
    else:
        assert relative_rms(output.samples[0].astype(np.float64), expected) <= RELATIVE_RMS[precision]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_dit_forward(fixtures, device, name):
    folder = fixtures / "rift" / "dit_small"
    model = load_rift_checkpoint(folder / "model-step=2.ckpt").model.to(device)
    data = torch.load(folder / "forward.pt", weights_only=True)
    inputs = {k: v.to(device) for k, v in data["inputs"].items()}
    variant = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in VARIANTS[name].items()}
    args = {"time": inputs["t"], "mask": inputs["mask"], **variant}
    with torch.no_grad():
        out = model(inputs["x_t"], inputs["spk"], inputs["f0"], inputs["rms"], inputs["cvec"], **args)
    torch.testing.assert_close(out.cpu(), data[name], atol=1e-4, rtol=1e-4)  # fixture README


class _OnDevice:
    """A HuBERT on the device behind the CPU interface assert_matches_reference calls."""

    def __init__(self, model, device):
        self.model, self.device = model.to(device), device

    def conv_features(self, samples):
        return self.model.conv_features(samples.to(self.device)).cpu()

    def hidden_states(self, samples):
        return [state.cpu() for state in self.model.hidden_states(samples.to(self.device))]

    def project(self, states):
        return self.model.project(states.to(self.device)).cpu()


def test_hubert_features(fixtures, device):
    folder = fixtures / "rvc" / "hubert"
    io_ = torch.load(folder / "hubert_io.pt", weights_only=True)
    assert_matches_reference(_OnDevice(load_hubert(folder / "hubert_tiny"), device), io_)
