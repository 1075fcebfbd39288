"""Parity of one RVC training iteration with the reference (fixtures rvc/train/train_step.pt).

The discriminator weights are not stored: the fixture README defines them by a formula
(tests/models/rvc/discriminator_weights.py builds them).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from tests.models.rvc.discriminator_weights import discriminator_from, formula_state
from timbrel.features.spectrogram import TrainSpectrogramConfig
from timbrel.models.rvc.discriminator import DiscriminatorConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.models.rvc.training import RVCOptimConfig, RVCTrainTask
from timbrel.nn.step_context import StepContext
from timbrel.weights.rvc import read_training_checkpoint, synthesizer_config_from_state

LOSSES = ("loss_disc", "loss_mel", "loss_kl", "loss_fm", "loss_gen", "loss_gen_all")
LISTS = ("losses_disc_r", "losses_disc_g", "losses_gen")


@pytest.fixture(scope="module")
def fixture(fixtures):
    folder = fixtures / "rvc" / "train"
    return (
        torch.load(folder / "train_step.pt", weights_only=True),
        json.loads((folder / "summary.json").read_text()),
        formula_state(DiscriminatorConfig.for_version("v2")),
    )


def _task(fixture, context: StepContext | None = None) -> RVCTrainTask:
    data, summary, d_state = fixture
    state = data["G_initial_state_dict"]
    c = summary["config"]
    config = replace(
        synthesizer_config_from_state(state),
        segment_frames=c["train"]["segment_size"] // c["data"]["hop_length"],
    )
    generator = Synthesizer(config)
    generator.load_state_dict(state, strict=True)
    d = c["data"]
    spectrogram = TrainSpectrogramConfig(
        sample_rate=d["sampling_rate"],
        n_fft=d["filter_length"],
        hop_length=d["hop_length"],
        win_length=d["win_length"],
        n_mels=d["n_mel_channels"],
        f_min_hz=d["mel_fmin"],
        f_max_hz=d["mel_fmax"],
    )
    t = c["train"]
    optim = RVCOptimConfig(
        learning_rate=t["learning_rate"],
        betas=tuple(t["betas"]),
        eps=t["eps"],
        lr_decay=t["lr_decay"],
        c_mel=t["c_mel"],
        c_kl=t["c_kl"],
    )
    discriminator = discriminator_from(DiscriminatorConfig.for_version("v2"), d_state)
    return RVCTrainTask(generator, discriminator, spectrogram, context, config=optim)


def _batch(data, case):
    batch = dict(data["batch"])
    if case != "zero_noise":
        draws = data[case]["tensors"]["draws"]
        batch.update(
            slice_rand=draws["slice_rand"],
            noise_posterior=draws["noise_posterior"],
            noise_nsf=draws["noise_nsf"][..., 0],
        )
    return batch


@pytest.mark.parametrize("case", ["zero_noise", "record_noise"])
def test_every_loss_without_an_optimizer_step(fixture, case):
    data = fixture[0]
    task = _task(fixture)
    expected, tensors = data[case]["losses"], data[case]["tensors"]
    with torch.no_grad():
        generated, losses = task.losses(_batch(data, case))
    for name in LOSSES:
        assert getattr(losses, name).item() == pytest.approx(expected[name], rel=2e-6, abs=1e-6), name
    for name in LISTS:
        got = torch.stack(getattr(losses, name))
        torch.testing.assert_close(got, torch.tensor(expected[name]), rtol=2e-5, atol=1e-7)
    assert generated.out.ids_slice.tolist() == tensors["ids_slice"].tolist()
    torch.testing.assert_close(generated.out.audio, tensors["y_hat"], rtol=0, atol=1e-5)
    torch.testing.assert_close(generated.y_hat_mel, tensors["y_hat_mel"], rtol=0, atol=1e-4)
    torch.testing.assert_close(generated.y_mel, tensors["y_mel"], rtol=0, atol=1e-4)
    torch.testing.assert_close(generated.wave_slice, tensors["wave_slice"], rtol=0, atol=0)
    # z_p reaches about 60 with the recorded noise; conv sums in another order (threads) move it ~2e-4.
    torch.testing.assert_close(generated.out.z_p, tensors["z_p"], rtol=1e-5, atol=1e-5)


def test_one_discriminator_and_one_generator_step(fixture, fixtures):
    data, summary, _ = fixture
    case = "record_noise_with_optimizer_steps"
    expected = data[case]["losses"]
    task = _task(fixture)
    figures = task.step(_batch(data, case), 0)
    for name in LOSSES:
        assert figures[name] == pytest.approx(expected[name], rel=2e-6, abs=1e-6), name
    for name in LISTS:
        key = {"losses_disc_r": "loss_disc_r", "losses_disc_g": "loss_disc_g", "losses_gen": "loss_gen"}[name]
        got = torch.tensor([figures[f"{key}/{i}"] for i in range(len(expected[name]))])
        torch.testing.assert_close(got, torch.tensor(expected[name]), rtol=2e-5, atol=1e-7)
    assert figures["grad_norm_d"] == pytest.approx(expected["grad_norm_d"], rel=1e-6)
    assert figures["grad_norm_g"] == pytest.approx(expected["grad_norm_g"], rel=1e-5)

    after = data[case]["G_after_step_state_dict"]
    saved = read_training_checkpoint(fixtures / "rvc" / "train" / "G_1.pth")
    ours = task.generator.state_dict()
    for key, value in after.items():
        # The key biases of attention get an analytically zero gradient (softmax ignores a shift
        # shared by every key), so their first AdamW step is ±lr by the sign of rounding noise.
        if key.endswith("conv_k.bias"):
            assert (ours[key] - value).abs().max() <= 2.1 * summary["config"]["train"]["learning_rate"]
            continue
        torch.testing.assert_close(ours[key], value, rtol=0, atol=5e-6, msg=key)
        torch.testing.assert_close(saved.model[key], value, rtol=0, atol=0)
    # Gradients themselves, through AdamW's first moment (exp_avg = (1 - beta1) * grad).
    state = task.optimizer_g.state_dict()["state"]
    theirs = saved.optimizer["state"]
    scale = max(v["exp_avg"].abs().max().item() for v in theirs.values())
    worst = max((state[i]["exp_avg"] - theirs[i]["exp_avg"]).abs().max().item() for i in theirs)
    assert worst <= 1e-5 * scale
