"""Parity of one RVC training iteration with the reference (fixtures rvc/train/train_step.pt).

The discriminator weights are not stored: the fixture README defines them by a formula
(tests/models/rvc/discriminator_weights.py builds them).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from tests import parity
from tests.models.rvc.discriminator_weights import discriminator_from, formula_state
from timbrel.features.spectrogram import TrainSpectrogramConfig
from timbrel.models.rvc.discriminator import DiscriminatorConfig
from timbrel.models.rvc.optim import RVCOptimConfig
from timbrel.models.rvc.synthesizer import Synthesizer
from timbrel.models.rvc.training import RVCTrainTask
from timbrel.nn.step_context import StepContext
from timbrel.weights.rvc import read_training_checkpoint, synthesizer_config_from_state

LOSSES = ("loss_disc", "loss_mel", "loss_kl", "loss_fm", "loss_gen", "loss_gen_all")
LISTS = ("losses_disc_r", "losses_disc_g", "losses_gen")


def reference_version(batch: dict) -> str:
    """RVC's version as the reference batch shows it: v1 feeds 256-dim HuBERT features, v2 768-dim."""
    return {256: "v1", 768: "v2"}[batch["phone"].shape[-1]]


@pytest.fixture(scope="module")
def fixture(fixtures):
    folder = fixtures / "rvc" / "train"
    data = torch.load(folder / "train_step.pt", weights_only=True)
    return (
        data,
        json.loads((folder / "summary.json").read_text()),
        formula_state(DiscriminatorConfig.for_version(reference_version(data["batch"]))),
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
    discriminator = discriminator_from(
        DiscriminatorConfig.for_version(reference_version(data["batch"])), d_state
    )
    return RVCTrainTask(generator, discriminator, spectrogram, context, config=optim)


def loss_rounding(fixture) -> float:
    """A loss is a float32 mean over the segment's samples of values a float32 network computed."""
    summary = fixture[1]
    return parity.float32_tolerance(1.0, summary["config"]["train"]["segment_size"])


def network_terms(task: RVCTrainTask) -> int:
    """The generator's longest chain of float32 products: its widest fan-in times its depth."""
    convs = [m for m in task.generator.modules() if isinstance(m, torch.nn.Conv1d | torch.nn.ConvTranspose1d)]
    return max(m.in_channels * m.kernel_size[0] for m in convs) * len(convs)


def gradients_with_rounding(states: dict, names: list[str], fixture) -> dict[str, tuple[torch.Tensor, float]]:
    """Per weight: its gradient (AdamW's exp_avg / (1 − β1) after one step) and that gradient's
    rounding, a float32 sum over the segment's samples. The summed terms are the layer's upstream
    gradients, so the scale is the largest gradient of the layer's weights (a bias whose gradient
    is analytically zero still sums terms as large as its weight's)."""
    summary = fixture[1]["config"]["train"]
    gradients = {names[i]: state["exp_avg"] / (1 - summary["betas"][0]) for i, state in states.items()}
    layer_scale: dict[str, float] = {}
    for name, g in gradients.items():
        layer = name.rsplit(".", 1)[0]
        layer_scale[layer] = max(layer_scale.get(layer, 0.0), g.abs().max().item())
    return {
        name: (g, parity.float32_tolerance(layer_scale[name.rsplit(".", 1)[0]], summary["segment_size"]))
        for name, g in gradients.items()
    }


def undecided_fraction(task: RVCTrainTask, fixture) -> float:
    """The share of discriminator weights whose gradient is zero to within its rounding."""
    names = [name for name, _ in task.discriminator.named_parameters()]
    gradients = gradients_with_rounding(task.optimizer_d.state_dict()["state"], names, fixture)
    undecided = sum(int((g.abs() <= r).sum()) for g, r in gradients.values())
    return undecided / sum(g.numel() for g, _ in gradients.values())


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
    rel = loss_rounding(fixture)
    for name in LOSSES:
        parity.relative_close(getattr(losses, name).item(), expected[name], rel=rel, what=name)
    for name in LISTS:
        parity.relative_close(
            torch.stack(getattr(losses, name)), torch.tensor(expected[name]), rel=rel, what=name
        )
    assert generated.out.ids_slice.tolist() == tensors["ids_slice"].tolist()
    terms = network_terms(task)
    parity.float32_close(generated.out.audio, tensors["y_hat"], terms=terms, what="y_hat")
    n_fft = fixture[1]["config"]["data"]["filter_length"]
    for name in ("y_hat_mel", "y_mel"):  # log of an n_fft-point float32 STFT: rounding relative to |mel|
        parity.float32_close(getattr(generated, name), tensors[name], terms=n_fft, what=name)
    torch.testing.assert_close(generated.wave_slice, tensors["wave_slice"], rtol=0, atol=0)  # a copy
    parity.float32_close(generated.out.z_p, tensors["z_p"], terms=terms, what="z_p")


def test_one_discriminator_and_one_generator_step(fixture, fixtures):
    data, summary, _ = fixture
    case = "record_noise_with_optimizer_steps"
    expected = data[case]["losses"]
    task = _task(fixture)
    figures = task.step(_batch(data, case), 0)
    rel = loss_rounding(fixture)
    # The generator's losses read the discriminator after its first AdamW step, which moves each
    # weight by lr·g/(|g| + eps): where g is zero to within its rounding, by ±lr as rounding
    # decides. Flipping such a weight takes back twice its share of the step's effect on a loss.
    undecided = undecided_fraction(task, fixture)
    before = data["record_noise"]["losses"]
    for name in LOSSES:
        step_effect = abs(expected[name] - before[name]) / abs(expected[name])
        parity.relative_close(figures[name], expected[name], rel=rel + 2 * undecided * step_effect, what=name)
    for name in LISTS:
        key = {"losses_disc_r": "loss_disc_r", "losses_disc_g": "loss_disc_g", "losses_gen": "loss_gen"}[name]
        got = torch.tensor([figures[f"{key}/{i}"] for i in range(len(expected[name]))])
        want, was = torch.tensor(expected[name]), torch.tensor(before[name])
        step_effect = ((want - was).abs() / want.abs()).max().item()
        parity.relative_close(got, want, rel=rel + 2 * undecided * step_effect, what=name)
    for name in ("grad_norm_d", "grad_norm_g"):
        parity.relative_close(figures[name], expected[name], rel=rel, what=name)

    after = data[case]["G_after_step_state_dict"]
    saved = read_training_checkpoint(fixtures / "rvc" / "train" / "G_1.pth")
    ours = task.generator.state_dict()
    names = [name for name, _ in task.generator.named_parameters()]
    gradients = gradients_with_rounding(saved.optimizer["state"], names, fixture)
    lr = summary["config"]["train"]["learning_rate"]
    for key, value in after.items():
        # AdamW's first step is lr·g/(|g| + eps): a gradient rounded by r moves it by up to
        # lr·2r/|g|, and by ±lr (2lr apart) where |g| <= r, as for the attention key biases, whose
        # gradient is analytically zero (softmax ignores a shift shared by every key).
        g, r = gradients[key]
        tolerance = lr * torch.clamp(2 * r / g.abs(), max=2.0) + parity.float32_tolerance(
            value.abs().max(), 1
        )
        parity.within(ours[key], value, tolerance, kind="AdamW step", scale=lr, what=key)
        torch.testing.assert_close(saved.model[key], value, rtol=0, atol=0)  # the same file, read
    # Gradients themselves, through AdamW's first moment (exp_avg = (1 - beta1) * grad).
    ours_state = task.optimizer_g.state_dict()["state"]
    beta1 = summary["config"]["train"]["betas"][0]
    for index, name in enumerate(names):
        g, r = gradients[name]
        got = ours_state[index]["exp_avg"] / (1 - beta1)
        parity.within(got, g, r, kind="float32 gradient", scale=r, what=f"gradient of {name}")
