"""Training steps of both families, feature extraction and CLI conversions on the GPU.

Training: the reference step fixtures in fp32 (float32 sums in another order than the CPU's: a
relative 1e-4 on each loss), and fp16 (with its GradScaler) and bf16 autocast within the relative
tolerances stated in tests/gpu/test_parity.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from tests.gpu.test_parity import RELATIVE_RMS, RVC_E2E_LSB
from tests.models.rift.test_training import tiny_items, tiny_model
from tests.models.rvc.test_training import LOSSES, _batch, _task, fixture  # noqa: F401  (fixture)
from tests.train.experiment import extracted_version, make_experiment
from timbrel import api
from timbrel.features.extract_rvc import RVCExtractConfig
from timbrel.models.rift.data import RIFTBatch, collate
from timbrel.models.rift.training import FlowDraws, RIFTTrainSettings, RIFTTrainTask
from timbrel.nn.step_context import StepContext
from timbrel.train.data import to_device
from timbrel.weights.rift import load_rift_checkpoint

pytestmark = pytest.mark.gpu

FP32_LOSS_RTOL = 1e-4


def _close(value: float, expected: float, precision: str) -> bool:
    tolerance = FP32_LOSS_RTOL if precision == "fp32" else RELATIVE_RMS[precision]
    return abs(value - expected) <= tolerance * abs(expected) + 1e-6


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_rvc_training_step(fixture, placement_for, precision):  # noqa: F811
    placement = placement_for(precision)
    context = StepContext(device=placement.device, precision=precision)
    assert (context.scaler is not None) == (precision == "fp16")
    data = fixture[0]
    case = "record_noise_with_optimizer_steps"
    task = _task(fixture, context)
    figures = task.step(to_device(_batch(data, case), placement.device), 0)
    expected = data[case]["losses"]
    for name in LOSSES:
        assert np.isfinite(figures[name]), name
        # The GAN losses of one step are differences of similar scores; the mel and KL terms
        # are the ones whose size a precision change moves in proportion.
        if name in ("loss_mel", "loss_kl", "loss_gen_all") or precision == "fp32":
            assert _close(figures[name], expected[name], precision), (name, figures[name], expected[name])
    if context.scaler is not None:
        assert np.isfinite(context.scaler.get_scale()) and context.scaler.get_scale() > 0
    for parameter in task.generator.parameters():
        assert bool(torch.isfinite(parameter).all())


def test_rift_objective(fixtures, device):
    folder = fixtures / "rift" / "dit_small"
    data = torch.load(folder / "train_loss.pt", weights_only=True)
    inputs = data["inputs"]
    task = RIFTTrainTask(
        load_rift_checkpoint(folder / "model-step=2.ckpt").model, context=StepContext(device)
    )
    batch = RIFTBatch(
        speaker=inputs["spk"],
        mel=data["mel"],
        rms=inputs["rms"],
        f0_hz=inputs["f0"],
        content=inputs["cvec"],
        frame_lengths=inputs["lens"],
    ).to(device)
    draws = FlowDraws(data["x0_noise"].to(device), data["t"].to(device), data["drop_speaker"].to(device))
    with torch.no_grad():
        loss, prediction = task.objective(batch, draws)
    torch.testing.assert_close(prediction.cpu(), data["pred"], atol=1e-4, rtol=1e-4)  # fixture README
    torch.testing.assert_close(loss.cpu(), data["loss"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_rift_training_steps(placement_for, precision):
    placement = placement_for(precision)
    batch = collate(tiny_items(4, 24)).to(placement.device)
    settings = RIFTTrainSettings(learning_rate=1e-3, max_grad_norm=0.0)  # no clipping with a GradScaler
    full = RIFTTrainTask(tiny_model(), settings, context=StepContext(placement.device, "fp32"))
    low_context = StepContext(placement.device, precision)
    low = RIFTTrainTask(tiny_model(), settings, context=low_context)
    for step in range(2):
        expected, figures = full.step(batch, step), low.step(batch, step)
        assert np.isfinite(figures["train/loss"])
        assert _close(figures["train/loss"], expected["train/loss"], precision), (step, figures, expected)
    if low_context.scaler is not None:
        assert low_context.scaler.get_scale() > 0


def test_rvc_extraction_equals_the_cpu(fixtures, device, tmp_path):
    hubert = fixtures / "rvc" / "e2e" / "hubert"
    on_cpu = make_experiment(fixtures, tmp_path / "cpu", seconds=12.0)
    on_device = shutil.copytree(on_cpu, tmp_path / "device" / "exp")
    version = extracted_version(on_cpu)
    features = "3_feature256" if version == "v1" else "3_feature768"
    for folder in (features, "2a_f0", "2b-f0nsf", ".timbrel"):
        shutil.rmtree(on_device / folder)
    outcomes = api.extract_rvc(on_device, RVCExtractConfig(version, "pm"), hubert=hubert, device=str(device))
    assert {o.status for o in outcomes} == {"done"}
    for path in sorted((on_cpu / features).glob("*.npy")):
        ours, theirs = np.load(on_device / features / path.name), np.load(path)
        # fixtures/rvc README: 1e-5 on features, relative to their size here
        assert np.abs(ours - theirs).max() <= 1e-5 * max(1.0, np.abs(theirs).max()), path.name
    for path in sorted((on_cpu / "2a_f0").glob("*.npy")):
        np.testing.assert_array_equal(np.load(on_device / "2a_f0" / path.name), np.load(path))


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "timbrel", *map(str, args)], capture_output=True, text=True)


def test_rvc_conversion_through_the_cli(fixtures, device, tmp_path):
    from tests.cli.test_convert import rvc_arguments

    root = fixtures / "rvc" / "e2e"
    case = json.loads((root / "settings.json").read_text())["cases"]["short"]
    target = tmp_path / "out.wav"
    result = _cli(
        "convert", root / case["input_file"], "-o", target, *rvc_arguments(root), "--device", device
    )
    assert result.returncode == 0, result.stderr
    ours, _ = soundfile.read(str(target), dtype="int16")
    expected, _ = soundfile.read(str(root / case["output_file"]), dtype="int16")
    assert np.abs(ours.astype(np.int32) - expected).max() <= RVC_E2E_LSB


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_rift_conversion_through_the_cli(fixtures, placement_for, precision, tmp_path):
    placement = placement_for(precision)
    folder = fixtures / "rift" / "e2e"
    pretrained = folder / "pretrained"
    target = tmp_path / "out.wav"
    result = _cli(
        "convert", folder / "input.wav", "-o", target, "--model", folder / "model-step=2.ckpt",
        "--contentvec", pretrained / "content-vec-best", "--rmvpe", pretrained / "rmvpe" / "model.pt",
        "--vocoder", pretrained / "nsf_hifigan_44.1k_hop512_128bin_2024.02", "--infer-steps", "4",
        "--batch-size", "4", "--device", placement.device, "--precision", precision,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours, rate = soundfile.read(str(target), dtype="float32")
    source = soundfile.info(str(folder / "input.wav"))
    assert rate == 44100 and abs(len(ours) - round(source.duration * 44100)) <= 1
    assert np.isfinite(ours).all() and np.sqrt(np.mean(ours**2)) > 1e-4
